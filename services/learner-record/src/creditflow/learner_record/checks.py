"""learner-record's own checks of what it projects, made before the fold (which takes their outcome as data).

Every credential: the shared verification function with the keys as registered, and the credential's subject is the
learner the event names. Revocation is not read from status lists here: it arrives as CredentialRevoked events.

Every consent: recorded by a registrar over HTTP (POST /learners/{learner_id}/consents), so it names that registrar
as its actor and carries the evidence they were given. Only learner-record may write the consent topic (0001); a
consent without them was not made by its route, and is dead-lettered rather than shown (defence in depth)."""

from __future__ import annotations

from datetime import datetime

from creditflow.credentials.subjects import learner_id_of, learner_subject_id
from creditflow.credentials.verify import KeyResolver, verify
from creditflow.events import CredentialAwarded, Event, LearnerConsentGranted, LearnerConsentRevoked
from creditflow.runtime.kafka import Delivery

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


def consent_refusal(event: LearnerConsentGranted | LearnerConsentRevoked) -> str | None:
    """Why a consent event is not believed, or None."""
    actor = event.actor
    if actor is None:
        return "consent names no actor: consent is recorded by a registrar over HTTP, which names them"
    if actor.institution_id is None or "registrar" not in actor.roles:
        return f"consent actor {actor.person} is not a registrar of an institution"
    if not event.data.evidence:
        return "consent carries no evidence: data.evidence is required"
    return None


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
