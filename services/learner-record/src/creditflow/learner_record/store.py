"""Learner records in MongoDB, in two collections: each credential of a learner as a document of its own
(`<records>_credentials`, `_id` = credential_id, indexed by learner_id), and one document per learner (`_id` =
learner_id) for everything else (recognitions, progress, qualifications, consents).

An award therefore writes one small document, never the learner's whole record: the cost of an event does not grow
with how many credentials the learner holds. Awards and revocations only ever touch the entry of their own
credential (and its pending revocation), so the pure fold runs unchanged on the part of the record a batch touches.

A replay builds fresh collections; while it catches up the live consumer writes to both (the fold is idempotent
and commutative, so two writers cannot lose or double anything), then the active pointer switches.
"""

from __future__ import annotations

import asyncio
import os
from collections import defaultdict
from collections.abc import Awaitable, Callable
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, load_pem_private_key
from pymongo.asynchronous.database import AsyncDatabase

from creditflow.credentials.verify import KeyResolver, RegisteredKey, registered_keys
from creditflow.events import (
    CredentialAwarded,
    CredentialRevoked,
    Event,
    InstitutionRegistered,
    InstitutionRegisteredData,
    LearnerEvent,
)
from creditflow.runtime.kafka import Delivery
from creditflow.runtime.mongo import REVISION, WRITER, Document, find_by_ids, fold_batch

from . import domain

DEFAULT_COLLECTION = "learner_records"
REJUDGE_BATCH = 200
POINTER = "records"
HIDDEN = {"_id": 0, REVISION: 0, WRITER: 0}
# The sections a learner's own document keeps; achievements and pending revocations live in credential documents.
PER_CREDENTIAL = ("achievements", "pending_revocations")


def credentials_of(records: str) -> str:
    """The collection of the credential documents that go with the learner documents of `records`."""
    return f"{records}_credentials"


class RecordStore:
    def __init__(self, db: AsyncDatabase) -> None:
        self.db = db
        self.meta = db["meta"]
        self._indexed: set[str] = set()

    async def collections(self) -> tuple[str, str | None]:
        """(active, next): where records are read from, and the collection a replay is building, if any."""
        pointer = await self.meta.find_one({"_id": POINTER}) or {}
        return pointer.get("active", DEFAULT_COLLECTION), pointer.get("next")

    async def _credentials(self, records: str):
        """The credential collection of `records`, with its learner_id index (what a registrar's read uses)."""
        name = credentials_of(records)
        if name not in self._indexed:
            await self.db[name].create_index("learner_id")
            self._indexed.add(name)
        return self.db[name]

    async def apply_batch(self, events: list[tuple[Event, Delivery]], verdicts: dict[str, domain.Verdict],
                          targets: list[str] | None = None) -> int:
        """Fold a batch into the documents it touches, one bulk write per collection; `verdicts` (by event_id) say
        which awards' credentials verified. Returns the number of documents written."""
        by_credential: dict[str, list[Event]] = defaultdict(list)
        by_learner: dict[str, list[Event]] = defaultdict(list)
        for event, _ in events:
            if isinstance(event, CredentialAwarded | CredentialRevoked):
                by_credential[event.data.credential_id].append(event)
            elif isinstance(event, LearnerEvent):
                by_learner[event.learner_id].append(event)
        if not by_credential and not by_learner:
            return 0
        if targets is None:
            active, upcoming = await self.collections()
            targets = [active, *([upcoming] if upcoming else [])]
        credential_folds = {credential_id: _credential_folder(credential_id, credential_events, verdicts)
                            for credential_id, credential_events in by_credential.items()}
        learner_folds = {learner_id: _learner_folder(learner_id, learner_events)
                         for learner_id, learner_events in by_learner.items()}
        written = 0
        for name in targets:
            if credential_folds:
                written += await fold_batch(await self._credentials(name), credential_folds)
            if learner_folds:
                written += await fold_batch(self.db[name], learner_folds)
        return written

    async def rejudge(self, institution_id: str,
                      judge: Callable[[domain.Record], Awaitable[dict[str, tuple[Any, domain.Verdict]]]]) -> int:
        """Judge again the credentials of `institution_id` shown unverified (`judge` gives the verdicts of a record,
        here the record restricted to one credential), in every collection being written; returns the credential
        documents changed. A scan (no index serves these fields), made only when an institution's registration
        changes, in the registry's consumer."""
        active, upcoming = await self.collections()
        changed = 0
        for name in [active, *([upcoming] if upcoming else [])]:
            credentials = await self._credentials(name)
            query = {"achievement.institution_id": institution_id, "achievement.verification": "unverified"}
            ids = [d["_id"] async for d in credentials.find(query, {"_id": 1})]
            for start in range(0, len(ids), REJUDGE_BATCH):
                found = await find_by_ids(credentials, ids[start:start + REJUDGE_BATCH])
                verdicts = {credential_id: await judge(_credential_record(document))
                            for credential_id, document in found.items()}
                changed += await fold_batch(credentials, {
                    credential_id: partial(_rejudged, found_verdicts)
                    for credential_id, found_verdicts in verdicts.items() if found_verdicts})
        return changed

    async def get(self, learner_id: str) -> domain.Record | None:
        """The learner's whole record (`domain.LearnerRecord`), served as stored: the fold validated every entry when
        it wrote it. Two indexed reads at once: the learner's document by _id, its credentials by learner_id."""
        active = (await self.collections())[0]
        credentials = await self._credentials(active)
        own, held = await asyncio.gather(
            self.db[active].find_one({"_id": learner_id}, HIDDEN),
            credentials.find({"learner_id": learner_id}, {REVISION: 0, WRITER: 0}).to_list())
        if own is None and not held:
            return None
        record = {**_empty(learner_id), **(own or {})}
        record["achievements"] = sorted((c["achievement"] for c in held if c["achievement"]),
                                        key=lambda a: a["credential_id"])
        record["pending_revocations"] = {c["_id"]: c["pending_revocation"]
                                         for c in held if c["pending_revocation"]}
        return record

    async def visible(self, learner_id: str, institution_id: str, now: datetime) -> tuple[domain.Record, bool] | None:
        """The only way the API reads a record: what `institution_id` may see of it, or None."""
        record = await self.get(learner_id)
        return domain.view(record, institution_id, now) if record else None


_EMPTY = domain.empty("")


def _empty(learner_id: str) -> domain.Record:
    return {**_EMPTY, "learner_id": learner_id}


def _credential_record(document: Document) -> domain.Record:
    """The record restricted to one credential document: what the fold reads or changes of it."""
    record = _empty(document["learner_id"])
    record["achievements"] = [document["achievement"]] if document["achievement"] else []
    return record


def _rejudged(verdicts: dict[str, tuple[Any, domain.Verdict]], current: Document) -> Document:
    judged = domain.reverified(_credential_record(current), verdicts)["achievements"]
    return {**current, "achievement": next(iter(judged), None)}


def _credential_folder(credential_id: str, events: list[Event], verdicts: dict[str, domain.Verdict]):
    """The fold of one credential's document: the record restricted to that credential's entry and pending
    revocation, which is all an award or a revocation reads or changes."""
    learner_id = events[0].learner_id

    def fold(current: Document | None) -> Document:
        record = _empty(learner_id)
        if current is not None:
            record["achievements"] = [current["achievement"]] if current["achievement"] else []
            if current["pending_revocation"]:
                record["pending_revocations"] = {credential_id: current["pending_revocation"]}
        for event in events:
            record = domain.fold(event, record, verdicts.get(str(event.event_id)))
        return {"learner_id": learner_id, "achievement": next(iter(record["achievements"]), None),
                "pending_revocation": record["pending_revocations"].get(credential_id)}

    return fold


def _learner_folder(learner_id: str, events: list[Event]):
    def fold(current: Document | None) -> Document:
        record = {**_empty(learner_id), **(current or {})}
        for event in events:
            record = domain.fold(event, record)
        return {k: v for k, v in record.items() if k not in PER_CREDENTIAL}

    return fold


class InstitutionDirectory:
    """Institutions as registered: names for display, and their public keys for verifying credentials."""

    def __init__(self, db: AsyncDatabase) -> None:
        self.institutions = db["institutions"]

    async def apply(self, event: InstitutionRegistered) -> None:
        """Keep the latest registration: a redelivered older one changes nothing. The registry topic is keyed by
        institution_id, so one consumer writes each document."""
        current = await self.institutions.find_one({"_id": event.data.institution_id}, {"occurred_at": 1})
        if current is not None and current["occurred_at"] >= event.occurred_at:
            return
        await self.institutions.replace_one(
            {"_id": event.data.institution_id},
            {"registration": event.data.model_dump(mode="json"), "occurred_at": event.occurred_at},
            upsert=True,
        )

    def key_resolver(self) -> KeyResolver:
        """A key reference (`<issuer_id>#<key_id>`) to the key the latest registration of that issuer declares, with
        its validity window, so a credential is judged by the key as registered when it was signed. Each issuer's
        registration is read once for the resolver's life: make one per batch, so a batch costs one read per issuer,
        not one per credential, and the next batch sees a newer registration."""
        registrations: dict[str, InstitutionRegisteredData | None] = {}

        async def resolve(reference: str) -> RegisteredKey | None:
            issuer_id, _, _ = reference.partition("#")
            if issuer_id not in registrations:
                found = await self.institutions.find_one({"registration.issuer_id": issuer_id}, {"registration": 1})
                registrations[issuer_id] = (
                    None if found is None else InstitutionRegisteredData.model_validate(found["registration"]))
            registration = registrations[issuer_id]
            if registration is None:
                return None
            return next((k for k in registered_keys(registration) if k.kid == reference), None)

        return resolve

    async def names(self, institution_ids: set[str]) -> dict[str, str]:
        found = await find_by_ids(self.institutions, sorted(institution_ids))
        return {institution_id: d["registration"]["name"] for institution_id, d in found.items()}


def platform_key(path: Path) -> Ed25519PrivateKey:
    """The platform's signing key for CLR exports: created on first use, readable by the service's user only."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        pem = Ed25519PrivateKey.generate().private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
        try:
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another process created it first
        else:
            with os.fdopen(descriptor, "wb") as handle:
                handle.write(pem)
    key = load_pem_private_key(path.read_bytes(), password=None)
    assert isinstance(key, Ed25519PrivateKey)
    return key
