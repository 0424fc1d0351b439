"""A world file for `creditflow apply`: institutions, achievements, programmes, recognition policies and
articulation agreements, in YAML or JSON, validated against the event contract before anything is sent.

Every problem names the file, the path inside it (`programmes[2].requirements[0].credits`) and the rule. The
contract's models ignore unknown fields (a newer producer must not break an older consumer), but in a file a person
wrote an unknown field is a typo that would silently drop what it meant to say, so it is refused here.
"""

from __future__ import annotations

import json
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from creditflow.events import (
    Achievement,
    ArticulationAgreementPublishedData,
    InstitutionRegisteredData,
    ProgrammePublishedData,
    RecognitionPolicyPublishedData,
)
from pydantic import BaseModel, ValidationError

# Section of the file -> the contract model of each of its items, in the order apply publishes them.
SECTIONS: dict[str, type[BaseModel]] = {
    "institutions": InstitutionRegisteredData,
    "achievements": Achievement,
    "programmes": ProgrammePublishedData,
    "policies": RecognitionPolicyPublishedData,
    "agreements": ArticulationAgreementPublishedData,
}
# The issuer makes and publishes an institution's keys and issuer id at registration: a file cannot state them.
SET_BY_THE_ISSUER = ("public_keys", "issuer_id")


class InvalidWorld(Exception):
    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class World:
    institutions: list[InstitutionRegisteredData]
    achievements: list[Achievement]
    programmes: list[ProgrammePublishedData]
    policies: list[RecognitionPolicyPublishedData]
    agreements: list[ArticulationAgreementPublishedData]


def path_of(location: tuple[str | int, ...]) -> str:
    """`("programmes", 2, "requirements", 0, "credits")` -> `programmes[2].requirements[0].credits`."""
    text = ""
    for part in location:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def read(path: Path) -> Any:
    """The file's content: JSON for .json, YAML otherwise (YAML is a superset of JSON)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidWorld([f"{path}: cannot read: {exc.strerror}"]) from None
    if path.suffix == ".json":
        try:
            return json.loads(text)
        except ValueError as exc:
            raise InvalidWorld([f"{path}: not valid JSON: {exc}"]) from None
    import yaml  # only apply and publish read YAML: kept off the start-up of every other command

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:  # its message gives the line and column
        raise InvalidWorld([f"{path}: not valid YAML: {exc}"]) from None


def validate(model: type[BaseModel], raw: Any, location: tuple[str | int, ...]) -> tuple[BaseModel | None,
                                                                                           list[tuple[tuple, str]]]:
    """The model of `raw`, or None, and every (location, rule) it breaks: the contract's rules and unknown fields."""
    unknown = [((*location, *where), "unknown field: the contract has no such field")
               for where in unknown_fields(model, raw)]
    try:
        item = model.model_validate(raw)
    except ValidationError as exc:
        return None, [((*location, *e["loc"]), e["msg"]) for e in exc.errors(include_url=False)] + unknown
    return item, unknown


def unknown_fields(model: type[BaseModel], raw: Any) -> list[tuple[str | int, ...]]:
    """Locations of keys in `raw` that `model` does not know, through nested models and lists of them."""
    if not isinstance(raw, dict):
        return []
    found: list[tuple[str | int, ...]] = []
    for key, value in raw.items():
        field = model.model_fields.get(key)
        if field is None:
            found.append((key,))
        elif (nested := _model_in(field.annotation)) is not None:
            if isinstance(value, dict):
                found += [(key, *inner) for inner in unknown_fields(nested, value)]
            elif isinstance(value, list):
                found += [(key, i, *inner) for i, item in enumerate(value) for inner in unknown_fields(nested, item)]
    return found


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The contract model a field holds (itself, optional, or a list of it), if any."""
    for candidate in (annotation, *typing.get_args(annotation)):
        if typing.get_origin(candidate) is list:
            candidate = typing.get_args(candidate)[0]
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None


def load(path: Path) -> World:
    """The world a file describes; raises InvalidWorld listing every problem, each named `file: path: rule`."""
    raw = read(path)
    problems: list[tuple[tuple, str]] = []
    if not isinstance(raw, dict):
        raise InvalidWorld([f"{path}: the file must be a mapping with any of the sections {', '.join(SECTIONS)}"])
    problems += [((key,), f"unknown section: the sections are {', '.join(SECTIONS)}")
                 for key in raw if key not in SECTIONS]
    parsed: dict[str, list[Any]] = {}  # section -> each item's model, None where it is invalid
    for section, model in SECTIONS.items():
        items = raw.get(section) or []
        if not isinstance(items, list):
            problems.append(((section,), "must be a list"))
            items = []
        parsed[section] = []
        for index, item in enumerate(items):
            if section == "institutions" and isinstance(item, dict):
                problems += [((section, index, key), "set by the issuer at registration, not by a file")
                             for key in SET_BY_THE_ISSUER if key in item]
            valid, broken = validate(model, item, (section, index))
            problems += broken
            parsed[section].append(valid)
    declared = {i.get("institution_id") for i in raw.get("institutions") or [] if isinstance(i, dict)}
    problems += _references(parsed, declared)
    if problems:
        raise InvalidWorld([f"{path}: {path_of(location)}: {rule}" for location, rule in problems])
    return World(**parsed)


def load_one(path: Path, model: type[BaseModel]) -> Any:
    """One contract document (an achievement, a programme, a policy, an agreement) from a YAML or JSON file."""
    valid, problems = validate(model, read(path), ())
    if problems:
        raise InvalidWorld([f"{path}: {path_of(location) or '(document)'}: {rule}" for location, rule in problems])
    return valid


def _references(parsed: dict[str, list[Any]], institutions: set[Any]) -> list[tuple[tuple, str]]:
    """Each fact belongs to an institution of the file (apply publishes it with that institution's voice), and each
    entity appears once."""
    problems: list[tuple[tuple, str]] = []
    for section in ("achievements", "programmes", "policies", "agreements"):
        for index, item in enumerate(parsed[section]):
            if item is not None and item.institution_id not in institutions:
                problems.append(((section, index, "institution_id"),
                                 f"{item.institution_id} is not one of this file's institutions"))
    keys = {"institutions": ("institution_id",), "achievements": ("institution_id", "achievement_id"),
            "programmes": ("programme_id", "version"), "policies": ("institution_id", "version"),
            "agreements": ("agreement_id",)}
    for section, fields in keys.items():
        seen: dict[tuple, int] = {}
        for index, item in enumerate(parsed[section]):
            if item is None:
                continue
            key = tuple(getattr(item, f) for f in fields)
            if key in seen:
                problems.append(((section, index), f"duplicate of {section}[{seen[key]}] (same {', '.join(fields)})"))
            seen.setdefault(key, index)
    return problems
