"""How the command line states an institution's registry facts and enrolments.

Where a service has an HTTP API for a fact (the issuer: institutions, achievements, revocations) the command calls
it with a token. Everything else (programmes, recognition policies, articulation agreements, enrolments) is a
contract event on the institution's own inbound topic, `creditflow.inbound.<institution_id>` (decision 0001): the
owning service checks that the record speaks for that topic's institution and republishes it, same event_id, on its
canonical topic. The record is written with the institution's own Kafka login when CREDITFLOW_KAFKA_USERNAME is its
principal (`inst-<institution_id>`), otherwise with the Kafka admin's (the operator acting for the institution).

Event ids are derived from the event's type and content: publishing the same fact again carries the same event_id,
which every consumer deduplicates on, and `creditflow apply` recognises it as already stated.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

from creditflow.events import (
    ArticulationAgreementPublished,
    Event,
    ProgrammePublished,
    RecognitionPolicyPublished,
    UndecodableEvent,
    decode,
    topic_of,
    type_of,
)
from creditflow.events.permissions import inbound_topic, institution_principal
from creditflow.runtime.settings import KafkaLogin, admin_login
from pydantic import BaseModel

CLIENT_ID = "creditflow-cli"
# Fixed: the same fact must get the same id on every machine and every run.
_NAMESPACE = uuid.UUID("3f1c2d8e-4a5b-4c6d-9e7f-0a1b2c3d4e5f")

# The inbound events each contract data model travels in (who routes them: decision 0001's table).
INBOUND: dict[str, type[Event]] = {
    "programmes": ProgrammePublished,  # stacking
    "policies": RecognitionPolicyPublished,  # recognition
    "agreements": ArticulationAgreementPublished,  # recognition
}


def fact_id(event_type: str, data: BaseModel, learner_id: str | None = None) -> uuid.UUID:
    """The event id of a fact: its type, learner and content, so the same fact always has the same id."""
    return uuid.uuid5(_NAMESPACE, f"{event_type}\x1f{learner_id or ''}\x1f{data.model_dump_json()}")


def inbound_event(event_class: type[Event], data: Any, learner_id: str | None = None) -> Event:
    """The institution's statement of `data`, as it publishes it on its inbound topic (producer: itself)."""
    extra = {"learner_id": learner_id} if learner_id else {}
    return event_class(event_id=fact_id(type_of(event_class), data, learner_id), producer=data.institution_id,
                       data=data, **extra)


def login_for(institution_id: str, env: Mapping[str, str]) -> KafkaLogin:
    """The institution's own Kafka login when the settings hold it, else the admin's (the operator)."""
    principal = institution_principal(institution_id)
    if env.get("CREDITFLOW_KAFKA_USERNAME") == principal:
        return KafkaLogin.from_env(env, principal)
    return admin_login(env)


def send_inbound(events: list[Event], env: Mapping[str, str]) -> int:
    """Publish events on their institutions' inbound topics (the admin creates a topic that does not exist yet, as
    `creditflow kafka-principal create` would). Returns how many were written."""
    from creditflow.runtime import topic_io

    written = 0
    by_institution: dict[str, list[Event]] = {}
    for event in events:
        by_institution.setdefault(event.data.institution_id, []).append(event)  # type: ignore[attr-defined]
    for institution_id, stated in by_institution.items():
        login = login_for(institution_id, env)
        if login.username != institution_principal(institution_id):
            from creditflow.runtime.principals import KafkaAdmin

            KafkaAdmin(login).create_topic(inbound_topic(institution_id))
        records = [(inbound_topic(institution_id), topic_of(e).key_of(e), e) for e in stated]
        written += asyncio.run(topic_io.produce(login, records, CLIENT_ID))
    return written


def read_events(topics: Iterable[str], env: Mapping[str, str]) -> list[Event]:
    """Every decodable event on the topics (those that exist), read as the admin."""
    from creditflow.runtime import topic_io

    records = asyncio.run(topic_io.read_all(admin_login(env), sorted(set(topics)), CLIENT_ID))
    events = []
    for record in records:
        try:
            events.append(decode(record.value))
        except UndecodableEvent:
            continue  # what no consumer could read states nothing; the dead-letter topic has it
    return events


def http_error(response: Any) -> str:
    """A refused request's reason: the problem+json detail and each field's rule, or the body."""
    try:
        body = response.json()
    except ValueError:
        return f"HTTP {response.status_code}: {response.text[:500]}"
    rules = [f"{e.get('field')}: {e.get('rule')}" for e in body.get("errors", []) if isinstance(e, dict)]
    detail = body.get("detail", body)
    return f"HTTP {response.status_code}: {detail}" + ("".join(f"\n  {r}" for r in rules) if rules else "")
