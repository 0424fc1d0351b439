"""What the pages show, computed from the APIs' answers: pure functions, data in, data out, no I/O and no clock
(the time is passed in). The handlers call these and hand the result to a template."""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

DECISION_OUTCOMES = ("granted", "partial", "conditional", "denied")
# Findings with these values are the institution's policy checks; the others compare the five Lisbon elements.
POLICY_FINDINGS = ("passed", "failed")
_ENVELOPE_PREFIX = "data:application/vc+jwt,"


class NotAToken(ValueError):
    pass


def _b64_json(segment: str) -> Any:
    return json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))


def token_claims(token: str) -> dict[str, Any]:
    """What a creditflow token (docs/decisions/0002, a signed JWT) says about its holder, read WITHOUT checking the
    signature: for display only. Access is never decided here; every API call is authorised by the service."""
    parts = token.strip().split(".")
    if len(parts) != 3:
        raise NotAToken("token: not a creditflow token (a signed JWT from `creditflow token create`)")
    try:
        claims = _b64_json(parts[1])
    except (ValueError, binascii.Error) as exc:
        raise NotAToken("token: its claims cannot be read; paste the whole token") from exc
    if not isinstance(claims, dict) or claims.get("iss") != "creditflow":
        raise NotAToken("token: not issued by creditflow (iss)")
    return claims


def credential_document(credential: dict[str, Any] | str | None) -> dict[str, Any] | None:
    """The credential's JSON as issued, whatever its securing (docs/decisions/0003): a Data Integrity credential is
    the document itself; a VC-JOSE EnvelopedVerifiableCredential or an OB 3.0 JWT carries it in its JWS payload.
    Read for display; the services verify."""
    if credential is None:
        return None
    if isinstance(credential, dict) and credential.get("type") != "EnvelopedVerifiableCredential":
        return credential
    jws = credential if isinstance(credential, str) else str(credential.get("id", "")).removeprefix(_ENVELOPE_PREFIX)
    parts = jws.split(".")
    if len(parts) != 3:
        return None
    try:
        payload = _b64_json(parts[1])
    except (ValueError, binascii.Error):
        return None
    if isinstance(payload, dict) and isinstance(payload.get("vc"), dict):  # the OB 3.0 JWT form
        return payload["vc"]
    return payload if isinstance(payload, dict) else None


def parse_pasted_credential(text: str) -> dict[str, Any] | str:
    """A pasted or uploaded credential: a JSON object, or a compact JWS / JWT."""
    text = text.strip()
    if not text:
        raise ValueError("credential: paste a credential or choose a file")
    if text.startswith("{"):
        try:
            document = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"credential: not valid JSON ({exc.msg} at line {exc.lineno})") from exc
        return document
    if re.fullmatch(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+", text):
        return text
    raise ValueError("credential: neither a JSON credential nor a compact JWS")


@dataclass(frozen=True)
class AchievementView:
    entry: dict[str, Any]
    issuer_name: str
    status: str  # valid, revoked or expired
    size_band: dict[str, Any] | None
    valid_until: str | None


def achievement_view(entry: dict[str, Any], names: dict[str, str], now: datetime) -> AchievementView:
    document = credential_document(entry.get("credential")) or {}
    subject = document.get("credentialSubject") or {}
    eu = ((subject.get("achievement") or {}).get("euMicroCredential") or {}) if isinstance(subject, dict) else {}
    valid_until = document.get("validUntil")
    status = entry.get("status", "valid")
    if status == "valid" and valid_until and _instant(valid_until) <= now:
        status = "expired"
    return AchievementView(entry=entry, issuer_name=names.get(entry["institution_id"], entry["institution_id"]),
                           status=status, size_band=eu.get("sizeBand"), valid_until=valid_until)


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text)


# ------------------------------------------------------------------------------------------------ recognition


@dataclass(frozen=True)
class ModuleFindings:
    module_id: str
    title: str
    credits: dict[str, Any] | None
    elements: list[dict[str, Any]]


def module_findings(decision: dict[str, Any], modules: dict[str, dict[str, Any]],
                    module_ids: list[str]) -> tuple[list[ModuleFindings], list[dict[str, Any]]]:
    """A decision's findings: the five-element comparison per target module, and the policy checks."""
    findings = decision.get("findings", [])
    policy = [f for f in findings if f["finding"] in POLICY_FINDINGS]
    per_module = []
    for module_id in module_ids:
        module = modules.get(module_id, {})
        per_module.append(ModuleFindings(
            module_id=module_id, title=module.get("title", module_id), credits=module.get("credits"),
            elements=[f for f in findings if f["finding"] not in POLICY_FINDINGS and f.get("module_id") in (
                module_id, None)]))
    return per_module, policy


def decision_request(form: dict[str, Any], module_ids: list[str], registrar: str) -> tuple[dict[str, Any], list[str]]:
    """The recognition API's decision body from the form, and the module of each `recognised[i]` (so the API's
    errors, which name `recognised[i]`, land next to that module's fields)."""
    recognised, order = [], []
    for module_id in module_ids:
        if not form.get(f"recognise:{module_id}"):
            continue
        item: dict[str, Any] = {"module_id": module_id, "basis": form.get(f"basis:{module_id}") or "equivalence"}
        credits = str(form.get(f"credits:{module_id}") or "").strip()
        if credits:
            try:
                item["credits"] = float(credits)
            except ValueError:
                item["credits"] = credits  # sent as typed: the API names the field and the rule
        recognised.append(item)
        order.append(module_id)
    body = {"registrar": registrar, "outcome": form.get("outcome") or "", "recognised": recognised,
            "reasons": _lines(form.get("reasons")), "conditions": _lines(form.get("conditions"))}
    return body, order


def _lines(text: Any) -> list[str]:
    """A textarea's non-empty lines: one reason (or condition) a line."""
    return [line.strip() for line in str(text or "").splitlines() if line.strip()]


_INDEXED = re.compile(r"^recognised(?:\[|\.)(\d+)\]?\.?(\w+)?")


def field_errors(problem: dict[str, Any], order: list[str]) -> dict[str, list[str]]:
    """An API's problem body as messages per form field: `errors[].field` when the API lists them (request
    validation), else the field its `detail` starts with ("recognised[0].credits: ..."). What names no field of the
    form goes under "form"."""
    named = [(e.get("field", ""), e.get("rule", "")) for e in problem.get("errors", []) if isinstance(e, dict)]
    if not named:
        detail = str(problem.get("detail") or problem.get("title") or "refused")
        head, sep, rest = detail.partition(": ")
        named = [(head, rest)] if sep and re.fullmatch(r"[\w.\[\]-]+", head) else [("", detail)]
    errors: dict[str, list[str]] = {}
    for name, rule in named:
        indexed = _INDEXED.match(name)
        if indexed and int(indexed.group(1)) < len(order):
            module_id = order[int(indexed.group(1))]
            key = f"{indexed.group(2) or 'recognise'}:{module_id}"
            key = key if key.split(":")[0] in ("credits", "basis") else f"recognise:{module_id}"
        else:
            key = name.split(".")[0].split("[")[0]
            key = key if key in ("outcome", "reasons", "conditions", "recognised") else "form"
        # Next to its field the rule says enough; a message for the whole form names the field too.
        errors.setdefault(key, []).append(f"{name}: {rule}" if name and key == "form" else rule)
    return errors


# ------------------------------------------------------------------------------------------------ stacking


@dataclass(frozen=True)
class RequirementView:
    requirement_id: str
    kind: str
    rule: str
    satisfied: bool
    counted: list[dict[str, Any]]


@dataclass(frozen=True)
class CapView:
    what: str
    limit: float
    used: float


@dataclass(frozen=True)
class ProgressPage:
    programme: dict[str, Any]
    progress: dict[str, Any]
    requirements: list[RequirementView]
    free: list[dict[str, Any]]
    not_counted: list[dict[str, Any]]
    caps: list[CapView]
    explanation: list[str] = field(default_factory=list)


def _requirement_rule(requirement: dict[str, Any], names: dict[str, str]) -> str:
    options = ", ".join(names.get(o, o) for o in requirement["options"])
    if requirement["kind"] == "required":
        return f"required: {options}"
    needs = [f"{requirement['min_items']} of" if requirement.get("min_items") else "any of",
             options, f"(at least {requirement['min_credits']:g} credits)" if requirement.get("min_credits") else ""]
    return "elective: " + " ".join(n for n in needs if n)


def progress_page(view: dict[str, Any], programme: dict[str, Any]) -> ProgressPage:
    """Which credential counts toward which requirement, what does not count and why, the caps and what is
    missing, from stacking's progress (or what-if) answer and the programme it measures against."""
    progress = view["progress"]
    names = {m["module_id"]: m["title"] for m in programme.get("modules", [])}
    allocations = progress.get("allocations", [])
    requirements = [RequirementView(
        requirement_id=r["requirement_id"], kind=r["kind"], rule=_requirement_rule(r, names),
        satisfied=r["requirement_id"] in progress.get("satisfied_requirements", []),
        counted=[a for a in allocations if a["requirement_id"] == r["requirement_id"]])
        for r in programme.get("requirements", [])]
    known = {r.requirement_id for r in requirements}
    total = programme["total_credits"]["value"] or 1
    caps = [CapView(what, limit, round(sum(a["credits"] for a in allocations if applies(a)) / total, 3))
            for what, limit, applies in (
                ("micro-credentials", programme.get("max_micro_credential_share"), lambda a: a["micro_credential"]),
                ("recognised credits", programme.get("max_recognised_share"), lambda a: a["source"] == "recognition"))
            if limit is not None]
    return ProgressPage(programme=programme, progress=progress, requirements=requirements,
                        free=[a for a in allocations if a["requirement_id"] not in known],
                        not_counted=progress.get("not_counted", []), caps=caps,
                        explanation=list(view.get("explanation", [])))


def latest_versions(programmes: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Each programme's newest version, from stacking's list of every version."""
    latest: dict[str, dict[str, Any]] = {}
    for p in programmes:
        if p["programme_id"] not in latest or p["version"] > latest[p["programme_id"]]["version"]:
            latest[p["programme_id"]] = p
    return latest


def what_if_request(form: dict[str, Any]) -> dict[str, Any]:
    """Stacking's what-if body for one hypothetical credential from the form; values as typed, so the API's
    errors name the field and the rule."""
    credential: dict[str, Any] = {
        "credential_id": "hypothetical",
        "achievement_id": str(form.get("achievement_id") or "").strip(),
        "credits": {"value": _number(form.get("credits")), "framework": form.get("framework") or "ects"},
        "micro_credential": bool(form.get("micro_credential")),
    }
    if str(form.get("eqf") or "").strip():
        credential["eqf"] = _number(form.get("eqf"))
    return {"credentials": [credential]}


def what_if_errors(problem: dict[str, Any]) -> dict[str, list[str]]:
    """Stacking's refusal of a what-if, per field of the form: `credentials.0.credits.value` is the credits field
    (named by its last part, as the form's fields are)."""
    errors: dict[str, list[str]] = {}
    for error in problem.get("errors", []):
        errors.setdefault(str(error.get("field", "form")).split(".")[-1], []).append(str(error.get("rule")))
    return errors or {"form": [str(problem.get("detail") or problem.get("title") or "refused")]}


def _number(value: Any) -> Any:
    text = str(value or "").strip()
    try:
        return float(text) if "." in text else int(text)
    except ValueError:
        return text
