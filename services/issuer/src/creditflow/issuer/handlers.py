"""Kafka handlers of the issuer: credentials that institutions signed and published themselves.

Each is verified against the keys registered to the claimed issuer and forwarded to the learner topic, or
dead-lettered with the reason; so nothing unverified is ever projected.
"""

from __future__ import annotations

from creditflow.credentials.verify import KeyResolver, check_proof
from creditflow.events import CredentialAwarded, Event
from creditflow.events.topics import INBOUND_CREDENTIALS
from creditflow.runtime.kafka import Delivery, Handler, Rejected, publish
from faststream.kafka import KafkaBroker

from .domain import direct_publication_problems

TOPICS = (INBOUND_CREDENTIALS.name,)


def on_direct_publication(broker: KafkaBroker, resolve_key: KeyResolver) -> Handler:
    async def handle(event: Event, delivery: Delivery) -> None:
        if not isinstance(event, CredentialAwarded):
            raise Rejected(f"{event.event_type} is not accepted on {delivery.topic}; only signed CredentialAwarded")
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
        await publish(broker, event)

    return handle
