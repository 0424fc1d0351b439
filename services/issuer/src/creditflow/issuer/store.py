"""The issuer's MongoDB state. One document per institution, achievement, award and status list, each read and
written by _id, each carrying its own pending events (creditflow.runtime.outbox)."""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any

from creditflow.credentials import status_list
from creditflow.credentials.verify import KeyResolver, RegisteredKey, registered_keys
from creditflow.events import (
    Achievement,
    CredentialAwarded,
    Event,
    InstitutionRegisteredData,
    ProgrammePublishedData,
    QualificationCompleted,
    decode,
    encode,
)
from creditflow.runtime.outbox import OUTBOX, entries, pending_fields
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

MAX_ALLOCATION_ATTEMPTS = 50


class Conflict(Exception):
    pass


class IssuerStore:
    def __init__(self, db: AsyncDatabase) -> None:
        self.institutions = db["institutions"]
        self.achievements = db["achievements"]
        self.awards = db["awards"]
        self.status_entries = db["status_entries"]
        # (institution, programme, learner) -> the qualification credential awarded on completion
        self.qualifications = db["qualifications"]
        # Programmes as stacking published them, one document per (institution, programme, version).
        self.programmes = db["programmes"]
        # Automatic completions that arrived before their programme version, by event_id, until it is published.
        self.waiting = db["completions_waiting"]

    # ------------------------------------------------------------------ institutions

    async def register(self, data: InstitutionRegisteredData, event: Event, now: datetime) -> None:
        document = {"_id": data.institution_id, "data": data.model_dump(mode="json"), OUTBOX: entries([event], now)}
        try:
            await self.institutions.insert_one(document)
        except DuplicateKeyError as exc:
            raise Conflict(f"institution {data.institution_id} is already registered") from exc

    async def update_registration(self, data: InstitutionRegisteredData, event: Event, now: datetime) -> None:
        await self.institutions.update_one(
            {"_id": data.institution_id}, {"$set": {"data": data.model_dump(mode="json"), **pending_fields([event], now)}}
        )

    async def registration(self, institution_id: str) -> InstitutionRegisteredData | None:
        document = await self.institutions.find_one({"_id": institution_id}, {"data": 1})
        return InstitutionRegisteredData.model_validate(document["data"]) if document else None

    def key_resolver(self, issuer_prefix: str) -> KeyResolver:
        """Resolve a JWS kid (`<issuer_prefix><institution_id>#<key_id>`) to the key registered under it."""

        async def resolve(kid: str) -> RegisteredKey | None:
            issuer, _, _ = kid.partition("#")
            if not issuer.startswith(issuer_prefix):
                return None
            registration = await self.registration(issuer.removeprefix(issuer_prefix))
            return next((k for k in registered_keys(registration) if k.kid == kid), None) if registration else None

        return resolve

    # ------------------------------------------------------------------ achievements

    @staticmethod
    def achievement_key(institution_id: str, achievement_id: str) -> str:
        return f"{institution_id}\x1f{achievement_id}"

    async def publish_achievement(self, achievement: Achievement, event: Event, now: datetime) -> None:
        key = self.achievement_key(achievement.institution_id, achievement.achievement_id)
        await self.achievements.update_one(
            {"_id": key},
            {"$set": {"achievement": achievement.model_dump(mode="json"), **pending_fields([event], now)}},
            upsert=True,
        )

    async def achievement(self, institution_id: str, achievement_id: str) -> Achievement | None:
        document = await self.achievements.find_one({"_id": self.achievement_key(institution_id, achievement_id)})
        return Achievement.model_validate(document["achievement"]) if document else None

    # ------------------------------------------------------------------ status lists
    # One document per allocated index, claimed by inserting it (a unique _id): concurrent awards never contend for
    # one bitstring document, and a revocation is one update of its own entry.

    async def allocate_status_index(self, institution_id: str, rng: secrets.SystemRandom) -> int:
        """A random free index in the institution's status list (herd privacy)."""
        for _ in range(MAX_ALLOCATION_ATTEMPTS):
            index = rng.randrange(status_list.MIN_ENTRIES)
            try:
                await self.status_entries.insert_one(
                    {"_id": f"{institution_id}#{index}", "institution_id": institution_id, "index": index,
                     "revoked": False})
                return index
            except DuplicateKeyError:
                continue
        raise Conflict(f"could not allocate a status list index for {institution_id}")

    async def set_revoked(self, institution_id: str, index: int) -> None:
        await self.status_entries.update_one({"_id": f"{institution_id}#{index}"}, {"$set": {"revoked": True}})

    async def revoked_bits(self, institution_id: str) -> bytes:
        bits = status_list.empty()
        # A scan of the institution's entries (no index on institution_id); served with max-age 60 for that reason.
        async for entry in self.status_entries.find({"institution_id": institution_id, "revoked": True}, {"index": 1}):
            bits = status_list.set_bit(bits, entry["index"])
        return bits

    # ------------------------------------------------------------------ awards

    async def save_award(self, event: CredentialAwarded, status_index: int, request_id: str, now: datetime) -> bool:
        """Store the award with its event pending; False when this credential (this request) already exists."""
        document = {
            "_id": event.data.credential_id,
            "institution_id": event.data.institution_id,
            "request_id": request_id,
            "status_index": status_index,
            "award": encode(event).decode(),
            "revocation": None,
            OUTBOX: entries([event], now),
        }
        try:
            await self.awards.insert_one(document)
            return True
        except DuplicateKeyError:
            return False

    async def award(self, credential_id: str) -> tuple[CredentialAwarded, dict[str, Any]] | None:
        document = await self.awards.find_one({"_id": credential_id})
        if document is None:
            return None
        event = decode(document["award"].encode())
        assert isinstance(event, CredentialAwarded)
        return event, document

    async def record_revocation(self, credential_id: str, event: Event, reason: str, now: datetime) -> bool:
        """Mark the award revoked with its event pending, once: False when it was already revoked."""
        result = await self.awards.update_one(
            {"_id": credential_id, "revocation": None},
            {"$set": {"revocation": {"reason": reason, "at": now}, **pending_fields([event], now)}},
        )
        return result.modified_count == 1

    # ------------------------------------------------------------------ qualifications

    async def record_programme(self, programme: ProgrammePublishedData) -> None:
        """Keep a published programme version; the registry topic is keyed by programme, so a redelivery writes the
        same document again."""
        key = f"{programme.institution_id}\x1f{programme.programme_id}\x1f{programme.version}"
        await self.programmes.replace_one({"_id": key}, {"programme": programme.model_dump(mode="json")}, upsert=True)

    async def programme(self, institution_id: str, programme_id: str, version: int) -> ProgrammePublishedData | None:
        document = await self.programmes.find_one({"_id": f"{institution_id}\x1f{programme_id}\x1f{version}"})
        return ProgrammePublishedData.model_validate(document["programme"]) if document else None

    async def wait_for_programme(self, event: QualificationCompleted) -> None:
        """Keep a completion whose programme version is not published yet (a redelivery keeps it once)."""
        data = event.data
        await self.waiting.replace_one({"_id": str(event.event_id)}, {
            "programme": f"{data.institution_id}\x1f{data.programme_id}\x1f{data.programme_version}",
            "event": encode(event).decode()}, upsert=True)

    async def waiting_for(self, programme: ProgrammePublishedData) -> list[QualificationCompleted]:
        """The completions kept for this programme version. A scan of a collection that holds only completions that
        came early (or forged ones, which are dead-lettered as well), made once per programme publication."""
        key = f"{programme.institution_id}\x1f{programme.programme_id}\x1f{programme.version}"
        return [decode(d["event"].encode()) async for d in self.waiting.find({"programme": key})]  # type: ignore[misc]

    async def done_waiting(self, event: QualificationCompleted) -> None:
        await self.waiting.delete_one({"_id": str(event.event_id)})

    async def remember_qualification(self, institution_id: str, programme_id: str, learner_id: str,
                                     credential_id: str) -> None:
        await self.qualifications.replace_one({"_id": f"{institution_id}\x1f{programme_id}\x1f{learner_id}"},
                                              {"credential_id": credential_id}, upsert=True)

    async def qualification(self, institution_id: str, programme_id: str, learner_id: str) -> str | None:
        document = await self.qualifications.find_one({"_id": f"{institution_id}\x1f{programme_id}\x1f{learner_id}"})
        return document["credential_id"] if document else None
