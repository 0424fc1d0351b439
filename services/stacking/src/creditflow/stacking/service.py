"""Stacking's use cases: fold a learner event into what stacking knows, recompute progress toward the programmes it
touches, write, publish only what changed; and answer what-if questions without writing anything."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from creditflow.events import CredentialAwarded, Event, LearnerEnrolled, ProgrammePublished
from creditflow.runtime.logging import get_logger
from faststream.kafka import KafkaBroker

from . import domain, facts
from .store import Programmes, StackingStore

Clock = Callable[[], datetime]
# Learners recomputed per bulk write when a programme is published (one progress log line each).
REFRESH_BATCH = 200
log = get_logger("creditflow.stacking")


def utc_now() -> datetime:
    return datetime.now(UTC)


class Stacking:
    def __init__(self, store: StackingStore, broker: KafkaBroker, clock: Clock = utc_now) -> None:
        self.store, self.broker, self.clock = store, broker, clock

    async def programmes_for(self, known: facts.LearnerFacts, achievement_ids: set[str] | None = None) -> Programmes:
        """Versions of the programmes the learner's facts reach: declared ones, those already tracked, and those
        whose requirements name one of `achievement_ids` (default: every achievement the learner holds)."""
        options = facts.achievement_ids(known) if achievement_ids is None else achievement_ids
        ids = facts.relevant_programmes(known) | await self.store.programmes_with_options(options)
        return await self.store.versions(ids)

    async def learner_event(self, event: Event) -> list[Event]:
        learner_id = event.learner_id
        assert learner_id is not None
        # Programmes an earlier credential counts toward are tracked already; only a new award can reach others.
        new: set[str] | None = (
            {event.data.achievement.achievement_id} if isinstance(event, CredentialAwarded) else set())
        events: list[Event] = []
        while True:
            # The database counts programme versions stored by any instance, so a learner event measured while one
            # was being published (here or on another instance) knows to measure again.
            generation = await self.store.programme_generation()
            before = await self.store.facts(learner_id) or facts.LearnerFacts(learner_id=learner_id)
            programmes = await self.programmes_for(facts.apply(before, event), new)

            def step(current: facts.LearnerFacts, programmes: Programmes = programmes):
                return facts.progress_events(facts.apply(current, event), programmes, self.clock())

            events += await self.store.update(learner_id, step, self.clock())
            if await self.store.programme_generation() == generation:
                break
            # A programme was published meanwhile: its refresh may have missed this learner, or been overwritten by
            # progress measured against the versions read before it. Measure again against everything held.
            new = None
        await self.store.publish(learner_id, self.broker)
        return events

    async def enrolment_problem(self, event: LearnerEnrolled) -> str | None:
        """Why an enrolment cannot be kept, if it cannot. An enrolment in a programme not published yet is kept:
        the programme may simply arrive later on its own topic, and it is applied to the learner then."""
        data = event.data
        versions = (await self.store.versions({data.programme_id})).get(data.programme_id)
        if not versions:
            log.warning("enrolment in a programme not published (yet); applied when it is",
                        programme_id=data.programme_id, institution_id=data.institution_id)
            return None
        if versions[0].institution_id != data.institution_id:
            return (f"data.institution_id: programme {data.programme_id} belongs to {versions[0].institution_id}, "
                    f"not {data.institution_id}")
        return None

    async def programme_published(self, event: ProgrammePublished) -> list[str]:
        """Store a programme version and bring the learners it concerns up to date; the reasons it can never be
        completed, if any (then nothing is stored)."""
        problems = domain.programme_problems(event.data)
        if not problems:
            await self.store.put_programme(event.data)
            await self.refresh(event.data.programme_id)
        return problems

    async def refresh(self, programme_id: str) -> int:
        """Recompute every learner the programme may concern, publishing what changed (a learner who already holds
        enough for a new programme completes it now, not at their next event). Returns how many changed."""
        programmes = await self.store.versions({programme_id})
        options = {o for v in programmes.get(programme_id, []) for r in v.requirements for o in r.options}
        learners = await self.store.learners_reaching(programme_id, options)

        def step(current: facts.LearnerFacts):
            return facts.progress_events(current, programmes, self.clock())

        changed = 0
        for start in range(0, len(learners), REFRESH_BATCH):
            produced = await self.store.update_many(learners[start:start + REFRESH_BATCH], step, self.clock())
            for learner_id in sorted(learner_id for learner_id, events in produced.items() if events):
                await self.store.publish(learner_id, self.broker)
                changed += 1
            log.info("programme refresh", programme_id=programme_id, learners_done=min(start + REFRESH_BATCH,
                     len(learners)), learners=len(learners), changed=changed)
        return changed
