"""learner-record's own checks of what it projects, made before the fold (which takes their outcome as data).

Every credential: the shared verification function with the keys as registered, and the credential's subject is the
learner the event names. Revocation is not read from status lists here: it arrives as CredentialRevoked events.

Every consent: recorded by a registrar over HTTP (POST /learners/{learner_id}/consents), so it names that registrar
as its actor and carries the evidence they were given. Only learner-record may write the consent topic (0001); a
consent without them was not made by its route, and is dead-lettered rather than shown (defence in depth)."""

from __future__ import annotations

import asyncio
from datetime import datetime

from creditflow.credentials.subjects import learner_id_of, learner_subject_id
from creditflow.credentials.verify import KeyResolver, verify
from creditflow.events import CredentialAwarded, Event, LearnerConsentGranted, LearnerConsentRevoked
from creditflow.events.permissions import consent_refusal
from creditflow.runtime.kafka import Delivery

from .domain import Verdict


async def check_award(event: CredentialAwarded, resolve_key: KeyResolver, now: datetime) -> Verdict:
    return await check_credential(event.data.credential, event.data.institution_id, event.learner_id, resolve_key, now)


async def check_credential(credential: dict | str | None, institution_id: str, learner_id: str,
                           resolve_key: KeyResolver, now: datetime) -> Verdict:
    """The verdict on a credential awarded by `institution_id` to `learner_id`."""
    if credential is None:
        return Verdict(False, ("the award carries no signed credential",))
    result = await verify(credential, resolve_key, None, now)
    if not result.valid:
        return Verdict(False, tuple(result.reasons) or (f"verification answered {result.status}",))
    reasons = []
    if result.key is not None and result.key.institution_id != institution_id:
        reasons.append(f"credential is signed for {result.key.institution_id}, "
                       f"not for the awarding institution {institution_id}")
    subject = (result.credential or {}).get("credentialSubject")
    subject_id = subject.get("id") if isinstance(subject, dict) else None
    if not isinstance(subject_id, str) or learner_id_of(subject_id) != learner_id:
        reasons.append(f"credentialSubject.id {subject_id!r} is not the event's learner "
                       f"{learner_subject_id(learner_id)}")
    return Verdict(not reasons, tuple(reasons))


async def unverified_verdicts(record: dict, institution_id: str, resolve_key: KeyResolver,
                              now: datetime) -> dict[str, tuple[dict | str, Verdict]]:
    """The verdict now on each credential of `institution_id` that the record shows unverified, by credential_id,
    with the credential judged (a later award may replace it before the verdict is written)."""
    return {a["credential_id"]: (a["credential"], await check_credential(
                a["credential"], institution_id, record["learner_id"], resolve_key, now))
            for a in record["achievements"]
            if a["institution_id"] == institution_id and a["verification"] == "unverified" and a["credential"]}


async def verdicts(events: list[Event], resolve_key: KeyResolver, now: datetime) -> dict[str, Verdict]:
    """The verdict on each award of a batch, by event_id."""
    return {str(e.event_id): await check_award(e, resolve_key, now) for e in events if isinstance(e, CredentialAwarded)}


def screened(events: list[tuple[Event, Delivery]]) -> tuple[list[tuple[Event, Delivery]], list[tuple[Delivery, str]]]:
    """(events to fold, (delivery, reason) of those refused)."""
    accepted, refused = [], []
    for event, delivery in events:
        reason = consent_refusal(event) if isinstance(event, LearnerConsentGranted | LearnerConsentRevoked) else None
        if reason is None:
            accepted.append((event, delivery))
        else:
            refused.append((delivery, reason))
    return accepted, refused


async def verdicts_off_loop(events: list[Event], resolve_key: KeyResolver, now: datetime) -> dict[str, Verdict]:
    """`verdicts` in a worker thread. A proof costs milliseconds of CPU (canonicalisation): checked on the event loop,
    a batch of 500 would sit between every step of every registrar request. Keys are still resolved on this loop
    (whose database client they use)."""
    loop = asyncio.get_running_loop()

    async def resolve_on_loop(reference: str):
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(resolve_key(reference), loop))

    return await asyncio.to_thread(asyncio.run, verdicts(events, resolve_on_loop, now))
