"""Who may say what on Kafka: the one table of principals and their ACLs (decision record 0001).

Every canonical topic has exactly one writer, a service. Institutions write only their own inbound topic, so the
broker's ACL on that topic's name proves who sent a record. The admin principal is a super user and needs no ACL.
tests/test_kafka_security.py compares this table with the decision record's markdown table and with the ACLs the
broker actually holds; any drift fails.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .catalogue import LearnerConsentGranted, LearnerConsentRevoked
from .topics import (
    ACHIEVEMENTS,
    CONSENTS,
    CREDENTIALS,
    DEAD_LETTER_TOPIC,
    INBOUND_CREDENTIALS,
    INSTITUTIONS,
    PROGRAMMES,
    PROGRESS,
    RECOGNITION_RULES,
    RECOGNITIONS,
    TOKENS,
)

ADMIN = "creditflow-admin"
SERVICES = ("issuer", "learner-record", "recognition", "stacking")
INBOUND_PREFIX = "creditflow.inbound."
# Every institution's inbound topic, not the legacy shared one (which the issuer drains by its name).
INBOUND_PATTERN = r"^creditflow\.inbound\.(?!credentials$)[^.]+$"
# An institution id that can name a principal and a topic: no dot (the pattern), nothing a topic name refuses.
KAFKA_INSTITUTION_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,200}$")


def service_principal(service: str) -> str:
    return f"svc-{service}"


def institution_principal(institution_id: str) -> str:
    return f"inst-{institution_id}"


def inbound_topic(institution_id: str) -> str:
    return INBOUND_PREFIX + institution_id


def institution_of_inbound(topic: str) -> str | None:
    """The institution whose inbound topic this is (None for any other topic, the legacy one included)."""
    return topic.removeprefix(INBOUND_PREFIX) if re.match(INBOUND_PATTERN, topic) else None


@dataclass(frozen=True, order=True)
class Grant:
    """One ALLOW ACL: `principal` may `operation` the `resource` named `name` (exactly, or every name it prefixes)."""

    principal: str
    operation: str  # READ or WRITE (each implies DESCRIBE)
    resource: str  # TOPIC or GROUP
    name: str
    pattern: str = "LITERAL"  # or PREFIXED


_ALL = tuple(service_principal(s) for s in SERVICES)
_ISSUER, _LEARNER_RECORD, _RECOGNITION, _STACKING = _ALL

# topic -> (writers, readers), as the decision record's table says. A name ending in "." is a prefix.
TOPIC_ACCESS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    INSTITUTIONS.name: ((_ISSUER,), (_LEARNER_RECORD, _RECOGNITION)),
    ACHIEVEMENTS.name: ((_ISSUER,), ()),
    PROGRAMMES.name: ((_STACKING,), (_RECOGNITION, _STACKING, _ISSUER)),
    RECOGNITION_RULES.name: ((_RECOGNITION,), (_RECOGNITION,)),
    CREDENTIALS.name: ((_ISSUER,), (_LEARNER_RECORD, _RECOGNITION, _STACKING)),
    RECOGNITIONS.name: ((_RECOGNITION,), (_LEARNER_RECORD, _STACKING, _RECOGNITION)),
    PROGRESS.name: ((_STACKING,), (_LEARNER_RECORD, _ISSUER, _STACKING)),
    CONSENTS.name: ((_LEARNER_RECORD,), (_LEARNER_RECORD, _STACKING)),
    INBOUND_PREFIX: ((), (_ISSUER, _RECOGNITION, _STACKING)),
    INBOUND_CREDENTIALS.name: ((), (_ISSUER,)),
    TOKENS.name: ((), _ALL),  # the token registry (0002): only the admin, a super user, writes it
    DEAD_LETTER_TOPIC: (_ALL, ()),
}


def _topic_grant(principal: str, operation: str, name: str) -> Grant:
    return Grant(principal, operation, "TOPIC", name, "PREFIXED" if name.endswith(".") else "LITERAL")


def grants_of_table(access: dict[str, tuple[tuple[str, ...], tuple[str, ...]]]) -> set[Grant]:
    return {_topic_grant(p, "WRITE", topic) for topic, (writers, _) in access.items() for p in writers} | {
        _topic_grant(p, "READ", topic) for topic, (_, readers) in access.items() for p in readers
    }


def service_grants() -> set[Grant]:
    """Every ACL of the service principals: the table's topics, and each service's consumer groups by prefix (its
    own groups and a test session's `creditflow.<service>.t<run>` groups)."""
    groups = {Grant(service_principal(s), "READ", "GROUP", f"creditflow.{s}", "PREFIXED") for s in SERVICES}
    return grants_of_table(TOPIC_ACCESS) | groups


def institution_grants(institution_id: str) -> set[Grant]:
    """An institution writes its inbound topic and nothing else; it may read that topic back in its own groups."""
    principal, topic = institution_principal(institution_id), inbound_topic(institution_id)
    return {
        Grant(principal, "WRITE", "TOPIC", topic),
        Grant(principal, "READ", "TOPIC", topic),
        Grant(principal, "READ", "GROUP", f"creditflow.{principal}", "PREFIXED"),
    }


def writer_of(topic: str) -> str:
    """The one service principal that writes a canonical topic."""
    [writer] = TOPIC_ACCESS[topic][0]
    return writer


def parse_record_table(markdown: str) -> dict[str, tuple[tuple[str, ...], tuple[str, ...]]]:
    """The `| topic | writer (WRITE) | readers (READ) |` table of a decision record, in TOPIC_ACCESS's shape.

    A topic cell is read up to its first space; a name with `<...>` (one topic per institution) stands for the prefix
    before it. Principals are the `svc-*` names in a cell, or "every service"; the admin (a super user), `inst-*`
    (granted per institution) and "nobody" need no table ACL."""
    rows = [line for line in markdown.splitlines() if line.startswith("| creditflow.")]
    access: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {}
    for row in rows:
        topic_cell, writers, readers = (cell.strip() for cell in row.strip().strip("|").split("|")[:3])
        topic = topic_cell.split()[0]
        if "<" in topic:
            topic = topic[: topic.index("<")]
        access[topic] = (_principals_in(writers), _principals_in(readers))
    return access


def _principals_in(cell: str) -> tuple[str, ...]:
    if "every service" in cell:
        return _ALL
    return tuple(dict.fromkeys(re.findall(r"\bsvc-[a-z-]*[a-z]", cell)))


def consent_refusal(event: LearnerConsentGranted | LearnerConsentRevoked) -> str | None:
    """Why a consent event is not believed, or None. Consent is recorded only over HTTP, by a registrar acting for
    the learner (docs/security.md), so a genuine one names that registrar as its actor and carries the evidence given;
    every consumer that acts on consent (learner-record, stacking) refuses one that does not, whoever wrote it."""
    actor = event.actor
    if actor is None:
        return "consent names no actor: consent is recorded by a registrar over HTTP, which names them"
    if actor.institution_id is None or "registrar" not in actor.roles:
        return f"consent actor {actor.person} is not a registrar of an institution"
    if not event.data.evidence:
        return "consent carries no evidence: data.evidence is required"
    return None
