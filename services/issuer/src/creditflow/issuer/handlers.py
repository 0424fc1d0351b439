"""Kafka handlers of the issuer.

Credentials that institutions signed and published themselves, on their own inbound topic (or the legacy shared
one, which nobody may write any more and the issuer drains), are verified against the keys registered to the
claimed issuer and forwarded to the learner topic, or dead-lettered with the reason; so nothing unverified is ever
projected. On an inbound topic the credential must also be the topic's institution's. Qualifications that stacking reports complete are awarded when the programme, as
published, awards automatically and every credential they are built from checks out; revoked when stacking reports
them broken.
"""

from __future__ import annotations

from creditflow.credentials.verify import KeyResolver, check_proof
from creditflow.events import (
    CredentialAwarded,
    Event,
    ProgrammePublished,
    QualificationCompleted,
    QualificationInvalidated,
)
from creditflow.events.permissions import INBOUND_PATTERN
from creditflow.events.topics import INBOUND_CREDENTIALS, PROGRAMMES, PROGRESS
from creditflow.runtime.kafka import Delivery, Handler, Rejected, on_inbound, publish
from creditflow.runtime.logging import get_logger
from faststream.kafka import KafkaBroker

from .awarding import Awarder, AwardRequest
from . import domain
from .domain import AwardRefused, Basis, direct_publication_problems
from .store import IssuerStore

TOPICS = (INBOUND_CREDENTIALS.name,)
INBOUND = INBOUND_PATTERN
QUALIFICATION_TOPICS = (PROGRESS.name,)
PROGRAMME_TOPICS = (PROGRAMMES.name,)
log = get_logger("creditflow.issuer")


def verifier(resolve_key: KeyResolver):
    """Refuses (Rejected) an award whose credential is missing, forged, or signed for another institution."""

    async def verify(event: CredentialAwarded) -> None:
        if event.data.credential is None:
            raise Rejected("data.credential is missing: a directly published award must carry its signed credential")
        proof = await check_proof(event.data.credential, resolve_key)
        if not proof.valid:
            raise Rejected("credential refused: " + "; ".join(proof.reasons))
        if proof.key is None or proof.key.institution_id != event.data.institution_id:
            raise Rejected(f"credential is signed for {proof.key and proof.key.institution_id}, "
                           f"not for the awarding institution {event.data.institution_id}")
        problems = direct_publication_problems(event, proof.credential or {})
        if problems:
            raise Rejected("credential refused: " + "; ".join(problems))

    return verify


def on_direct_publication(broker: KafkaBroker, resolve_key: KeyResolver) -> Handler:
    """The legacy shared inbound topic: any signed award, verified, then forwarded."""
    verify = verifier(resolve_key)

    async def handle(event: Event, delivery: Delivery) -> None:
        if not isinstance(event, CredentialAwarded):
            raise Rejected(f"{event.event_type} is not accepted on {delivery.topic}; only signed CredentialAwarded")
        await verify(event)
        await publish(broker, event)

    return handle


def on_inbound_award(broker: KafkaBroker, resolve_key: KeyResolver) -> Handler:
    """An institution's own inbound topic: its awards, verified, then forwarded; other event types are not ours."""
    return on_inbound(broker, (CredentialAwarded,), verifier(resolve_key))


def on_programme(awarder: Awarder) -> Handler:
    """Programmes as published, so a reported completion can be checked against the programme itself; then the
    completions that arrived before this programme version are checked again (the topics are read independently, so
    stacking's completion may overtake its own programme)."""
    store = awarder.store

    async def handle(event: Event, delivery: Delivery) -> None:
        if not isinstance(event, ProgrammePublished):
            return
        await store.record_programme(event.data)
        for completion in await store.waiting_for(event.data):
            try:
                await award_completion(awarder, completion)
            except Rejected as exc:  # its letter is on the dead-letter topic already, with the first reason
                log.warning("completion refused again once its programme was published", reason=exc.reason,
                            completion_event_id=str(completion.event_id))
            await store.done_waiting(completion)

    return handle


class ProgrammeNotPublished(Rejected):
    """The completion's programme version is not (yet) published: kept, and checked again when it is."""


async def qualification_problems(store: IssuerStore, event: QualificationCompleted) -> list[str]:
    """What the issuer holds about a completion (its programme, its credentials), judged by the domain; raises
    ProgrammeNotPublished when the programme version is not known."""
    data = event.data
    programme = await store.programme(data.institution_id, data.programme_id, data.programme_version)
    if programme is None:
        raise ProgrammeNotPublished(f"qualification {data.programme_id} is not awarded: " + "; ".join(
            domain.qualification_problems(event, None, [])) + "; the issuer checks it again if that version is published")
    basis = []
    for credential_id in data.credential_ids:
        found = await store.award(credential_id)
        award = found[0] if found else None
        basis.append(Basis(credential_id, award, revoked=bool(found and found[1]["revocation"]),
                           issuer_registered=bool(award and await store.registration(award.data.institution_id))))
    return domain.qualification_problems(event, programme, basis)


async def award_completion(awarder: Awarder, event: QualificationCompleted) -> None:
    """Award the qualification an automatic completion asks for, once checked; raises Rejected naming why not."""
    data = event.data
    problems = await qualification_problems(awarder.store, event)
    if problems:
        raise Rejected(f"qualification {data.programme_id} is not awarded: " + "; ".join(problems))
    # One credential per completion event, however often it is delivered or checked again.
    request = AwardRequest(request_id=f"qualification:{event.event_id}", learner_id=event.learner_id,
                           achievement_id=data.achievement_id)
    try:
        result = await awarder.award(data.institution_id, request, event.correlation_id,
                                     built_from=data.credential_ids)
    except AwardRefused as exc:
        raise Rejected(f"qualification {data.programme_id} cannot be awarded: {exc}") from exc
    await awarder.store.remember_qualification(data.institution_id, data.programme_id, event.learner_id,
                                               result.credential_id)


def on_qualification(awarder: Awarder) -> Handler:
    store = awarder.store

    async def handle(event: Event, delivery: Delivery) -> None:
        if isinstance(event, QualificationCompleted):
            data = event.data
            if data.award_mode != "automatic" or data.achievement_id is None:
                return  # a registrar confirms it and awards through the API
            try:
                await award_completion(awarder, event)
            except ProgrammeNotPublished:
                await store.wait_for_programme(event)
                # The programme may have been recorded between the check and the keeping: then nothing would
                # check it again, so check once more now (an award is made once per completion either way).
                if await store.programme(data.institution_id, data.programme_id, data.programme_version) is None:
                    raise
                await award_completion(awarder, event)
                await store.done_waiting(event)
        elif isinstance(event, QualificationInvalidated):
            data = event.data
            credential_id = await store.qualification(data.institution_id, data.programme_id, event.learner_id)
            found = await store.award(credential_id) if credential_id else None
            if found is not None and found[1]["revocation"] is None:
                await awarder.revoke(found[0], found[1], data.reason, event.correlation_id)

    return handle
