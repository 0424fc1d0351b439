"""`creditflow apply -f world.yaml`: publish the institutions, achievements, programmes, recognition policies and
articulation agreements a file describes, as the operator.

1. The file is validated against the contract (creditflow.cli.world); on any problem nothing is sent.
2. What the network already says is read first, as the Kafka admin: the registry topics and the inbound topics of
   the file's institutions. A fact whose content is already there is left alone, so applying the same file twice
   publishes nothing the second time; a changed fact (a new programme version, an edited achievement) is published.
3. Institutions are registered and achievements published through the issuer's HTTP API (it makes the institution's
   signing keys), with short-lived tokens the command signs and records in the token registry like any other;
   programmes, policies and agreements go to each institution's inbound topic (creditflow.cli.publish), with ids
   derived from their content, which the consumers deduplicate on should a record be sent twice.

An institution's registration cannot be changed by a file (the issuer has no such route): a registered institution
whose file entry differs is reported, not republished.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from creditflow.events import AchievementPublished, InstitutionRegistered, type_of
from creditflow.events.permissions import inbound_topic
from creditflow.events.topics import ACHIEVEMENTS, INSTITUTIONS, PROGRAMMES, RECOGNITION_RULES

from . import publish
from .world import SECTIONS, InvalidWorld, World, load

TOKEN_LIFETIME = timedelta(minutes=15)  # long enough for one apply; recorded, so listed and revocable meanwhile
REGISTRATION_FIELDS = ("name", "country", "credit_frameworks", "quality_assurance")


@dataclass
class Plan:
    register: list[Any] = field(default_factory=list)
    achievements: list[Any] = field(default_factory=list)
    inbound: list[Any] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)  # what each item of the file comes to, in the file's order
    unchanged: int = 0
    differing: int = 0

    @property
    def publishing(self) -> int:
        return len(self.register) + len(self.achievements) + len(self.inbound)


def label(section: str, item: Any) -> str:
    if section == "institutions":
        return item.institution_id
    if section == "achievements":
        return f"{item.institution_id}/{item.achievement_id}"
    if section == "programmes":
        return f"{item.programme_id} v{item.version}"
    if section == "policies":
        return f"{item.institution_id} policy v{item.version}"
    return item.agreement_id


def plan(world: World, env: Mapping[str, str]) -> Plan:
    """What to publish: every item of the world the network does not already state as the file does."""
    institutions = {i.institution_id for i in world.institutions}
    topics = [INSTITUTIONS.name, ACHIEVEMENTS.name, PROGRAMMES.name, RECOGNITION_RULES.name,
              *(inbound_topic(i) for i in institutions)]
    events = publish.read_events(topics, env)
    registered = {e.data.institution_id: e.data for e in events if isinstance(e, InstitutionRegistered)}
    stated = {(e.event_type, e.data.model_dump_json()) for e in events if hasattr(e, "data")}
    result = Plan()
    for section in SECTIONS:
        for index, item in enumerate(getattr(world, section)):
            where = f"{section}[{index}] {label(section, item)}"
            if section == "institutions":
                known = registered.get(item.institution_id)
                if known is None:
                    result.register.append(item)
                    result.lines.append(f"publish    {where}")
                    continue
                differs = [f for f in REGISTRATION_FIELDS if getattr(known, f) != getattr(item, f)]
                if differs:
                    result.differing += 1
                    result.lines.append(f"differs    {where}: registered with another {', '.join(differs)}; a "
                                        "registration is not changed by apply")
                else:
                    result.unchanged += 1
                    result.lines.append(f"unchanged  {where}")
                continue
            event_class = AchievementPublished if section == "achievements" else publish.INBOUND[section]
            if (type_of(event_class), item.model_dump_json()) in stated:
                result.unchanged += 1
                result.lines.append(f"unchanged  {where}")
            else:
                (result.achievements if section == "achievements" else result.inbound).append(
                    item if section == "achievements" else publish.inbound_event(event_class, item))
                result.lines.append(f"publish    {where}")
    return result


def execute(todo: Plan, env: Mapping[str, str], by: str) -> list[str]:
    """Publish the plan; returns the problems of what the issuer refused (the rest is published)."""
    import httpx

    from creditflow.runtime.settings import service_url

    from .tokens import issue

    problems: list[str] = []
    with httpx.Client(base_url=service_url("issuer", env), timeout=60) as issuer:
        if todo.register:
            operator, _ = issue(None, "creditflow-apply", None, ["operator"], TOKEN_LIFETIME, by)
            for institution in todo.register:
                body = institution.model_dump(mode="json", include={"institution_id", *REGISTRATION_FIELDS})
                answer = issuer.post("/institutions", json=body, headers={"Authorization": f"Bearer {operator}"})
                if answer.status_code not in (201, 409):  # 409: registered meanwhile, by someone else
                    problems.append(f"institution {institution.institution_id}: {publish.http_error(answer)}")
        tokens: dict[str, str] = {}
        for achievement in todo.achievements:
            institution_id = achievement.institution_id
            if institution_id not in tokens:
                tokens[institution_id], _ = issue(institution_id, "creditflow-apply", None, ["issuer-integration"],
                                                  TOKEN_LIFETIME, by)
            answer = issuer.post("/achievements", json=achievement.model_dump(mode="json"),
                                 headers={"Authorization": f"Bearer {tokens[institution_id]}"})
            if answer.status_code != 201:
                problems.append(f"achievement {label('achievements', achievement)}: {publish.http_error(answer)}")
    if todo.inbound:
        publish.send_inbound(todo.inbound, env)
    return problems


def apply(path: Path, env: Mapping[str, str], by: str, dry_run: bool) -> int:
    try:
        world = load(path)
    except InvalidWorld as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        print(f"{path}: {len(exc.problems)} problem(s); nothing was published", file=sys.stderr)
        return 2
    todo = plan(world, env)
    for line in todo.lines:
        print(line)
    if dry_run:
        print(f"dry run: {todo.publishing} to publish, {todo.unchanged} unchanged, {todo.differing} differing")
        return 0
    problems = execute(todo, env, by) if todo.publishing else []
    for problem in problems:
        print(f"refused: {problem}", file=sys.stderr)
    print(f"{todo.publishing - len(problems)} published, {todo.unchanged} unchanged, {todo.differing} differing, "
          f"{len(problems)} refused")
    return 1 if problems or todo.differing else 0
