"""The integrators' registry commands: `institution`, `achievement`, `revoke` (the issuer's HTTP API, with a token),
`programme`, `policy`, `agreement`, `enrol` (contract events on the institution's inbound topic), and the `list`
of each registry, read from its canonical topic as the Kafka admin. How each is published: creditflow.cli.publish.
"""

from __future__ import annotations

import json
import os
import sys
from datetime import date
from pathlib import Path
from typing import Any

import httpx
from creditflow.events import AchievementPublished, LearnerEnrolled, LearnerEnrolledData, type_of
from creditflow.events.permissions import inbound_topic
from creditflow.events.topics import ACHIEVEMENTS, PROGRAMMES, RECOGNITION_RULES
from creditflow.runtime.settings import service_url

from . import publish
from .apply import label
from .output import table
from .world import SECTIONS, InvalidWorld, load_one

# section -> the canonical topic its accepted facts are on, and the columns `list` shows
LISTED = {
    "achievements": (ACHIEVEMENTS.name, ("INSTITUTION/ACHIEVEMENT", "TITLE", "CREDITS")),
    "programmes": (PROGRAMMES.name, ("PROGRAMME", "INSTITUTION", "TITLE", "CREDITS")),
    "policies": (RECOGNITION_RULES.name, ("POLICY", "EFFECTIVE FROM", "AUTOMATIC DECISIONS")),
    "agreements": (RECOGNITION_RULES.name, ("AGREEMENT", "RECEIVING", "FROM", "INTO MODULE", "CREDITS")),
}


def _fail(message: str) -> int:
    print(f"creditflow: {message}", file=sys.stderr)
    return 1


def _credits(value: Any) -> str:
    return f"{value.value:g} {value.framework}" if value is not None else "-"


def _columns(section: str, item: Any) -> tuple[str, ...]:
    if section == "achievements":
        return (label(section, item), item.title, _credits(item.credits))
    if section == "programmes":
        return (label(section, item), item.institution_id, item.title, _credits(item.total_credits))
    if section == "policies":
        return (label(section, item), str(item.effective_from), "yes" if item.automatic_decisions else "no")
    return (item.agreement_id, item.institution_id, f"{item.source_institution_id}/{item.source_achievement_id}",
            f"{item.programme_id}/{item.module_id}", _credits(item.credits))


def listing(section: str, institution_id: str | None) -> int:
    """The latest of each fact of the section on its canonical topic: what the owning service accepted."""
    topic, header = LISTED[section]
    wanted = type_of(publish.INBOUND.get(section, AchievementPublished))
    latest: dict[str, Any] = {}
    for event in publish.read_events([topic], os.environ):
        if event.event_type == wanted and institution_id in (None, event.data.institution_id):  # type: ignore[attr-defined]
            latest[label(section, event.data)] = event.data  # type: ignore[attr-defined]
    table(header, [_columns(section, item) for _, item in sorted(latest.items())])
    return 0


def publish_file(section: str, path: Path) -> int:
    """A programme, policy or agreement from a file, on its institution's inbound topic."""
    try:
        data = load_one(path, SECTIONS[section])
    except InvalidWorld as exc:
        return _fail("\n".join(exc.problems) + "\nnothing was published")
    event = publish.inbound_event(publish.INBOUND[section], data)
    publish.send_inbound([event], os.environ)
    print(f"published {label(section, data)} on {inbound_topic(data.institution_id)} as event {event.event_id}; "
          "the owning service checks it and republishes it, or dead-letters it with the reason "
          "(`creditflow topics tail creditflow.dead-letter`)")
    return 0


def enrol(learner_id: str, programme_id: str, institution_id: str, started_on: date) -> int:
    data = LearnerEnrolledData(programme_id=programme_id, institution_id=institution_id, started_on=started_on)
    event = publish.inbound_event(LearnerEnrolled, data, learner_id)
    publish.send_inbound([event], os.environ)
    print(f"enrolled {learner_id} in {programme_id} (from {started_on}) on {inbound_topic(institution_id)} as event "
          f"{event.event_id}")
    return 0


# ------------------------------------------------------------------------------------------------ the issuer's API


def _issuer(token: str | None = None) -> httpx.Client:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.Client(base_url=service_url("issuer", os.environ), headers=headers, timeout=60)


def _answer(response: httpx.Response, ok: tuple[int, ...]) -> int:
    if response.status_code not in ok:
        return _fail(publish.http_error(response))
    print(json.dumps(response.json(), indent=2))
    return 0


def register_institution(body: dict[str, Any], token: str) -> int:
    with _issuer(token) as issuer:
        return _answer(issuer.post("/institutions", json=body), (201,))


def show_institution(institution_id: str) -> int:
    """The issuer's public profile of the institution: its name and verification keys."""
    with _issuer() as issuer:
        return _answer(issuer.get(f"/institutions/{institution_id}"), (200,))


def publish_achievement(path: Path, token: str) -> int:
    try:
        achievement = load_one(path, SECTIONS["achievements"])
    except InvalidWorld as exc:
        return _fail("\n".join(exc.problems) + "\nnothing was published")
    with _issuer(token) as issuer:
        return _answer(issuer.post("/achievements", json=achievement.model_dump(mode="json")), (201,))


def revoke(credential_id: str, reason: str, token: str) -> int:
    with _issuer(token) as issuer:
        return _answer(issuer.post(f"/credentials/{credential_id}/revoke", json={"reason": reason}), (200,))
