"""Learner records in MongoDB: one document per learner, `_id` = learner_id."""

from __future__ import annotations

from pymongo.asynchronous.database import AsyncDatabase

from creditflow.events import Event
from creditflow.runtime.kafka import Delivery
from creditflow.runtime.mongo import APPLIED, REVISION, Document, apply_once

from . import domain

COLLECTION = "learner_records"


class RecordStore:
    def __init__(self, db: AsyncDatabase) -> None:
        self._records = db[COLLECTION]

    async def apply(self, learner_id: str, event: Event, delivery: Delivery) -> bool:
        def fold(current: Document | None) -> Document:
            record = _load(current) if current else domain.empty(learner_id)
            return domain.apply(event, record).model_dump(mode="json")

        return await apply_once(self._records, learner_id, delivery, fold)

    async def get(self, learner_id: str) -> domain.LearnerRecord | None:
        document = await self._records.find_one({"_id": learner_id})
        return _load(document) if document else None


def _load(document: Document) -> domain.LearnerRecord:
    fields = {k: v for k, v in document.items() if k not in ("_id", APPLIED, REVISION)}
    return domain.LearnerRecord.model_validate(fields)
