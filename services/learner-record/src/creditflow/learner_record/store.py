"""Learner records in MongoDB: one document per learner (`_id` = learner_id), in the active records collection.

A replay builds a fresh collection; while it catches up the live consumer writes to both (the fold is idempotent
and commutative, so two writers cannot lose or double anything), then the active pointer switches.
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Awaitable, Callable
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, load_pem_private_key
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from creditflow.credentials.verify import KeyResolver, RegisteredKey, registered_keys
from creditflow.events import Event, InstitutionRegistered, InstitutionRegisteredData, LearnerEvent
from creditflow.runtime.kafka import Delivery
from creditflow.runtime.mongo import REVISION, WRITER, Document, find_by_ids, fold_batch

from . import domain

DEFAULT_COLLECTION = "learner_records"
REJUDGE_BATCH = 200
POINTER = "records"


class RecordStore:
    def __init__(self, db: AsyncDatabase) -> None:
        self.db = db
        self.meta = db["meta"]

    async def collections(self) -> tuple[str, str | None]:
        """(active, next): where records are read from, and the collection a replay is building, if any."""
        pointer = await self.meta.find_one({"_id": POINTER}) or {}
        return pointer.get("active", DEFAULT_COLLECTION), pointer.get("next")

    async def active(self) -> AsyncCollection:
        return self.db[(await self.collections())[0]]

    async def apply_batch(self, events: list[tuple[Event, Delivery]], verdicts: dict[str, domain.Verdict],
                          targets: list[str] | None = None) -> int:
        """Fold a batch into the records it touches, one bulk write per target collection; `verdicts` (by
        event_id) say which awards' credentials verified."""
        by_learner: dict[str, list[Event]] = defaultdict(list)
        for event, _ in events:
            if isinstance(event, LearnerEvent):
                by_learner[event.learner_id].append(event)
        if not by_learner:
            return 0
        if targets is None:
            active, upcoming = await self.collections()
            targets = [active, *([upcoming] if upcoming else [])]
        folds = {learner_id: _folder(learner_id, learner_events, verdicts)
                 for learner_id, learner_events in by_learner.items()}
        return sum([await fold_batch(self.db[name], folds) for name in targets])

    async def rejudge(self, institution_id: str,
                      judge: Callable[[domain.Record], Awaitable[dict[str, tuple[Any, domain.Verdict]]]]) -> int:
        """Judge again the credentials of `institution_id` that records show unverified (`judge` gives the verdicts
        of one record), in every collection being written; returns the records changed. A scan (no index serves
        these fields), made only when an institution's registration changes, in the registry's consumer."""
        active, upcoming = await self.collections()
        changed = 0
        for collection in [self.db[active], *([self.db[upcoming]] if upcoming else [])]:
            query = {"achievements.institution_id": institution_id, "achievements.verification": "unverified"}
            learners = [d["_id"] async for d in collection.find(query, {"_id": 1})]
            for start in range(0, len(learners), REJUDGE_BATCH):
                found = await find_by_ids(collection, learners[start:start + REJUDGE_BATCH])
                verdicts = {learner_id: await judge(document) for learner_id, document in found.items()}
                changed += await fold_batch(collection, {
                    learner_id: partial(_rejudged, learner_id, found_verdicts)
                    for learner_id, found_verdicts in verdicts.items() if found_verdicts})
        return changed

    async def get(self, learner_id: str) -> domain.Record | None:
        # Served as stored: the fold validated every entry when it wrote it.
        return await (await self.active()).find_one({"_id": learner_id}, {"_id": 0, REVISION: 0, WRITER: 0})

    async def visible(self, learner_id: str, institution_id: str, now: datetime) -> tuple[domain.Record, bool] | None:
        """The only way the API reads a record: what `institution_id` may see of it, or None."""
        record = await self.get(learner_id)
        return domain.view(record, institution_id, now) if record else None


def _rejudged(learner_id: str, verdicts: dict[str, tuple[Any, domain.Verdict]], current: Document | None) -> Document:
    return domain.reverified(current or domain.empty(learner_id), verdicts)


def _folder(learner_id: str, events: list[Event], verdicts: dict[str, domain.Verdict]):
    def fold(current: Document | None) -> Document:
        record = current or domain.empty(learner_id)
        for event in events:
            record = domain.fold(event, record, verdicts.get(str(event.event_id)))
        return record

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
