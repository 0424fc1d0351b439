"""Stacking's MongoDB state: programme versions (and which programmes each achievement can count toward), and one
document per learner holding what stacking knows of them and the events it still has to publish."""

from __future__ import annotations

from datetime import datetime

from creditflow.events import Event, ProgrammePublishedData
from creditflow.runtime.mongo import find_by_ids, fold_batch
from creditflow.runtime.outbox import OUTBOX, entries, flush
from faststream.kafka import KafkaBroker
from pymongo.asynchronous.database import AsyncDatabase

from .facts import LearnerFacts, reach

Programmes = dict[str, list[ProgrammePublishedData]]
REACH = "reach"  # derived from the facts, so that a new programme finds the learners it may concern
GENERATION = "generation"  # how many programme versions were stored, by any instance


class StackingStore:
    def __init__(self, db: AsyncDatabase) -> None:
        self.programmes = db["programmes"]
        self.learners = db["learners"]

    async def put_programme(self, data: ProgrammePublishedData) -> None:
        await self.programmes.update_one(
            {"_id": f"programme:{data.programme_id}"},
            {"$set": {"institution_id": data.institution_id, f"versions.{data.version}": data.model_dump(mode="json")}},
            upsert=True)
        # An index by hand (FerretDB has only _id): achievement_id -> programmes it can count toward.
        for option in {o for r in data.requirements for o in r.options}:
            await self.programmes.update_one({"_id": f"option:{option}"},
                                             {"$addToSet": {"programme_ids": data.programme_id}}, upsert=True)
        # Counted after the version and its options are readable: a learner event that read the count before this
        # and finds it changed after its write measures again, against what is stored now.
        await self.programmes.update_one({"_id": GENERATION}, {"$inc": {"count": 1}}, upsert=True)

    async def programme_generation(self) -> int:
        document = await self.programmes.find_one({"_id": GENERATION})
        return document["count"] if document else 0

    async def versions(self, programme_ids: set[str]) -> Programmes:
        found = await find_by_ids(self.programmes, [f"programme:{p}" for p in sorted(programme_ids)])
        return {doc_id.removeprefix("programme:"): [ProgrammePublishedData.model_validate(v)
                                                    for v in d.get("versions", {}).values()]
                for doc_id, d in found.items()}

    async def programmes_with_options(self, options: set[str]) -> set[str]:
        found = await find_by_ids(self.programmes, [f"option:{o}" for o in sorted(options)])
        return {p for d in found.values() for p in d.get("programme_ids", [])}

    async def programmes_of(self, institution_id: str) -> list[str]:
        cursor = self.programmes.find({"institution_id": institution_id}, {"_id": 1})
        return sorted([d["_id"].removeprefix("programme:") async for d in cursor])

    async def learners_reaching(self, programme_id: str, options: set[str]) -> list[str]:
        """Learners a programme may concern: those tracking it, enrolled in it or declaring credits toward it, and
        those holding an achievement it accepts. A collection scan on FerretDB; run on programme publication only."""
        keys = [f"programme:{programme_id}", *(f"achievement:{o}" for o in sorted(options))]
        return sorted([d["_id"] async for d in self.learners.find({REACH: {"$in": keys}}, {"_id": 1})])

    async def facts(self, learner_id: str) -> LearnerFacts | None:
        document = await self.learners.find_one({"_id": learner_id}, {"facts": 1})
        return LearnerFacts.model_validate(document["facts"]) if document else None

    async def update(self, learner_id: str, step, now: datetime) -> list[Event]:
        """Apply `step(facts) -> (facts, events)` in one single-document write with the events queued in it."""
        return (await self.update_many([learner_id], step, now))[learner_id]

    async def update_many(self, learner_ids: list[str], step, now: datetime) -> dict[str, list[Event]]:
        """`update` for many learners in one bulk write (a read per learner); the events queued for each."""
        produced: dict[str, list[Event]] = {}

        def fold_for(learner_id: str):
            def fold(document: dict | None) -> dict:
                before = LearnerFacts.model_validate(document["facts"]) if document else LearnerFacts(
                    learner_id=learner_id)
                after, produced[learner_id] = step(before)
                if not produced[learner_id] and after == before:
                    return document or {}
                return {"facts": after.model_dump(mode="json"), REACH: reach(after),
                        OUTBOX: {**(document or {}).get(OUTBOX, {}), **entries(produced[learner_id], now)}}

            return fold

        await fold_batch(self.learners, {learner_id: fold_for(learner_id) for learner_id in learner_ids})
        return produced

    async def publish(self, learner_id: str, broker: KafkaBroker) -> int:
        return await flush(self.learners, learner_id, broker)
