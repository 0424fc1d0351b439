"""learner-record's own check of every credential it projects, made before the fold (which takes the verdict as
data): the shared verification function with the keys as registered, and the credential's subject is the learner
the event names. Revocation is not read from status lists here: it arrives as CredentialRevoked events."""

from __future__ import annotations

import asyncio
from datetime import datetime

from creditflow.credentials.subjects import learner_id_of, learner_subject_id
from creditflow.credentials.verify import KeyResolver, verify
from creditflow.events import CredentialAwarded, Event

from .domain import Verdict


async def check_award(event: CredentialAwarded, resolve_key: KeyResolver, now: datetime) -> Verdict:
    if event.data.credential is None:
        return Verdict(False, ("the award carries no signed credential",))
    result = await verify(event.data.credential, resolve_key, None, now)
    if not result.valid:
        return Verdict(False, tuple(result.reasons) or (f"verification answered {result.status}",))
    reasons = []
    if result.key is not None and result.key.institution_id != event.data.institution_id:
        reasons.append(f"credential is signed for {result.key.institution_id}, "
                       f"not for the awarding institution {event.data.institution_id}")
    subject = (result.credential or {}).get("credentialSubject")
    subject_id = subject.get("id") if isinstance(subject, dict) else None
    if not isinstance(subject_id, str) or learner_id_of(subject_id) != event.learner_id:
        reasons.append(f"credentialSubject.id {subject_id!r} is not the event's learner "
                       f"{learner_subject_id(event.learner_id)}")
    return Verdict(not reasons, tuple(reasons))


async def verdicts(events: list[Event], resolve_key: KeyResolver, now: datetime) -> dict[str, Verdict]:
    """The verdict on each award of a batch, by event_id."""
    return {str(e.event_id): await check_award(e, resolve_key, now) for e in events if isinstance(e, CredentialAwarded)}


async def verdicts_off_loop(events: list[Event], resolve_key: KeyResolver, now: datetime) -> dict[str, Verdict]:
    """`verdicts` in a worker thread. A proof costs milliseconds of CPU (canonicalisation): checked on the event loop,
    a batch of 500 would sit between every step of every registrar request. Keys are still resolved on this loop
    (whose database client they use)."""
    loop = asyncio.get_running_loop()

    async def resolve_on_loop(reference: str):
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(resolve_key(reference), loop))

    return await asyncio.to_thread(asyncio.run, verdicts(events, resolve_on_loop, now))
