"""Stacking as pure functions: which of a learner's credits count toward a programme, where, and why others do not.

`allocate(programme, items, now)` assigns each eligible item (a credential held, or credits recognised by a
recognition decision) to at most one requirement, so **no credit counts twice**. Among all assignments it picks the
one that satisfies the most requirements, then counts the most credits, then (for determinism) the first in item-id
order; the same items in any order give the same allocation. Caps on micro-credentials and recognised credits
are applied to whole items, required components first.

Nothing here does I/O or reads a clock.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Literal

from creditflow.academic import RECOGNISED_WITHOUT_GRADE, convert, grade_meets
from creditflow.events import (
    CreditAllocation,
    CreditValue,
    Exclusion,
    ProgrammePublishedData,
    Requirement,
    StackingProgressUpdatedData,
)

FREE = "free-credits"  # counted toward the programme's total, not toward a requirement
# Beyond this many combinations of contested items the search falls back to a greedy assignment (still
# deterministic); a learner rarely holds more than a handful of credentials eligible for several requirements.
MAX_COMBINATIONS = 50_000
MICRO_TYPES = {"microcredential", "micro-credential", "badge", "nanodegree"}


@dataclass(frozen=True)
class Item:
    """Something that may count toward a programme."""

    item_id: str  # a credential_id, or `recognition:<decision_id>:<module_id>`
    source: Literal["credential", "recognition"]
    options: frozenset[str]  # achievement_id (credential) or module_id (recognised as equivalent) it can satisfy
    credits: CreditValue | None
    awarded_at: datetime
    eqf: int | None = None
    grade: str | None = None
    micro_credential: bool = False
    credential_ids: tuple[str, ...] = ()  # for a recognition: the credentials it was granted on
    part_of: frozenset[str] = frozenset()  # programme_ids the achievement declares it stacks into
    revoked: str | None = None  # the reason, when revoked or invalidated

    @property
    def basis_ids(self) -> tuple[str, ...]:
        return self.credential_ids if self.source == "recognition" else (self.item_id,)


def is_micro(achievement_type: str, size_band: str | None) -> bool:
    return achievement_type.lower() in MICRO_TYPES or size_band in ("nano", "micro")


@dataclass(frozen=True)
class Progress:
    programme: ProgrammePublishedData
    allocations: tuple[CreditAllocation, ...]
    not_counted: tuple[Exclusion, ...]
    satisfied: tuple[str, ...]
    missing: tuple[str, ...]
    credits_counted: float
    complete: bool
    explanation: tuple[str, ...] = field(default=())

    @property
    def credential_ids(self) -> list[str]:
        return sorted({a.credential_id for a in self.allocations})

    def data(self) -> StackingProgressUpdatedData:
        return StackingProgressUpdatedData(
            programme_id=self.programme.programme_id, institution_id=self.programme.institution_id,
            programme_version=self.programme.version, credits_counted=self.credits_counted,
            credits_required=self.programme.total_credits.value, satisfied_requirements=list(self.satisfied),
            missing_requirements=list(self.missing), allocations=list(self.allocations),
            not_counted=list(self.not_counted), complete=self.complete)


# ------------------------------------------------------------------------------------------------ programme rules


def programme_problems(programme: ProgrammePublishedData) -> list[str]:
    """Why a programme can never be completed, field by field (empty when it can)."""
    problems = []
    total = programme.total_credits.value
    ids = [r.requirement_id for r in programme.requirements]
    if len(set(ids)) != len(ids):
        problems.append("requirements.requirement_id: requirement ids must be unique")
    required_credits = sum(r.min_credits or 0 for r in programme.requirements)
    if required_credits > total:
        problems.append(f"requirements.min_credits: the requirements ask for {required_credits:g} credits, more than "
                        f"total_credits {total:g}")
    for index, r in enumerate(programme.requirements):
        if r.min_items is not None and r.min_items > len(set(r.options)):
            problems.append(f"requirements[{index}].min_items: {r.min_items} items from {len(set(r.options))} options")
    modules = {m.module_id for m in programme.modules}
    if programme.max_micro_credential_share == 0:
        for index, r in enumerate(programme.requirements):
            if r.kind == "required" and not set(r.options) & modules:
                problems.append(f"requirements[{index}]: required component {r.requirement_id} can only be met by "
                                "achievements (micro-credentials), and max_micro_credential_share is 0")
    if programme.achievement_id is None and programme.award_mode == "automatic":
        problems.append("achievement_id: automatic award needs the qualification's achievement_id")
    return problems


def version_for(versions: list[ProgrammePublishedData], started_on: date | None) -> ProgrammePublishedData | None:
    """The version that applies to a learner who started on `started_on`: the latest effective by then (a new
    version applies to those who start after its effective date); the earliest when the learner started before
    any; the latest when the start is not known."""
    ordered = sorted(versions, key=lambda v: v.version)
    if not ordered:
        return None
    if started_on is None:
        return ordered[-1]
    effective = [v for v in ordered if v.effective_from <= started_on]
    return effective[-1] if effective else ordered[0]


# ------------------------------------------------------------------------------------------------ eligibility


def _credits(item: Item, programme: ProgrammePublishedData) -> tuple[float, str] | None:
    if item.credits is None:
        return None
    return convert(item.credits, programme.total_credits.framework)


def _years(earlier: date, later: date) -> float:
    return (later - earlier).days / 365.25


def exclusion_reason(item: Item, programme: ProgrammePublishedData, now: datetime) -> str | None:
    if item.revoked:
        return f"no longer valid: {item.revoked}"
    if item.credits is None:
        return "states no credits"
    if programme.recency_years is not None and _years(item.awarded_at.date(), now.date()) > programme.recency_years:
        return f"too old: awarded {item.awarded_at.date()}, the programme accepts the last {programme.recency_years} years"
    minimum = programme.min_level.eqf if programme.min_level else None
    if minimum is not None and item.eqf is not None and item.eqf < minimum:
        return f"level too low: EQF {item.eqf}, the programme requires EQF {minimum}"
    return grade_reason(item, programme)


def grade_reason(item: Item, programme: ProgrammePublishedData) -> str | None:
    """Why the item's grade does not meet the programme's minimum, or None when it does. A recognised module carries
    its grade as recognised; `pass` (recognised without grades) meets the minimum unless the programme requires
    recognised credit to carry a grade."""
    if programme.min_grade is None:
        return None
    ungraded = item.source == "recognition" and (item.grade or "").strip().lower() == RECOGNISED_WITHOUT_GRADE
    if ungraded:
        return (f"recognised without a grade ({RECOGNISED_WITHOUT_GRADE}), and the programme requires recognised "
                f"credit to carry a grade of at least {programme.min_grade}"
                if programme.recognised_grade_required else None)
    meets = grade_meets(item.grade, programme.min_grade)
    if meets is False:
        return f"grade {item.grade} below the minimum {programme.min_grade}"
    if meets is None and item.source == "recognition" and item.grade is None:
        return (f"the recognition decision states no grade as recognised (decided before grades were recorded), so "
                f"it cannot be compared with the minimum {programme.min_grade}; a new decision on the case states one")
    if meets is None:
        return f"grade {item.grade!r} cannot be compared with the minimum {programme.min_grade}; a registrar decides"
    return None


def _relevant(item: Item, programme: ProgrammePublishedData) -> bool:
    options = {o for r in programme.requirements for o in r.options}
    return bool(item.options & options) or programme.programme_id in item.part_of or item.source == "recognition"


# ------------------------------------------------------------------------------------------------ allocation


@dataclass(frozen=True)
class _Outcome:
    allocations: tuple[CreditAllocation, ...]
    capped: tuple[Exclusion, ...]
    satisfied: tuple[str, ...]
    credits: float


def _requirement_met(requirement: Requirement, items: list[tuple[Item, float]]) -> bool:
    covered = {o for item, _ in items for o in item.options & set(requirement.options)}
    if requirement.kind == "required" and requirement.min_items is None and requirement.min_credits is None:
        return covered >= set(requirement.options)
    if requirement.min_items is not None and len(items) < requirement.min_items:
        return False
    if requirement.min_credits is not None and sum(c for _, c in items) + 1e-9 < requirement.min_credits:
        return False
    return bool(items)


def _evaluate(programme: ProgrammePublishedData, assignment: dict[str, str], items: dict[str, Item],
              credits: dict[str, float]) -> _Outcome:
    order = {r.requirement_id: i for i, r in enumerate(programme.requirements)}
    total = programme.total_credits.value
    kept: list[str] = []
    capped: list[Exclusion] = []
    used = {"micro": 0.0, "recognised": 0.0}
    caps = {"micro": programme.max_micro_credential_share, "recognised": programme.max_recognised_share}
    # Required components first, then electives, then free credits: a cap never crowds out a required component.
    priority = sorted(assignment, key=lambda i: (order.get(assignment[i], len(order)), i))
    for item_id in priority:
        item = items[item_id]
        kinds = [k for k, applies in (("micro", item.micro_credential), ("recognised", item.source == "recognition"))
                 if applies and caps[k] is not None]
        over = [k for k in kinds if used[k] + credits[item_id] > caps[k] * total + 1e-9]
        if over:
            kind = over[0]
            capped.append(Exclusion(credential_id=item_id, reason=f"cap reached: at most {caps[kind]:.0%} of "
                                    f"{total:g} credits may come from {kind.replace('micro', 'micro-credentials')}"))
            continue
        for k in kinds:
            used[k] += credits[item_id]
        kept.append(item_id)
    by_requirement: dict[str, list[tuple[Item, float]]] = {}
    for item_id in kept:
        by_requirement.setdefault(assignment[item_id], []).append((items[item_id], credits[item_id]))
    satisfied = tuple(r.requirement_id for r in programme.requirements
                      if _requirement_met(r, by_requirement.get(r.requirement_id, [])))
    allocations = tuple(
        CreditAllocation(credential_id=i, requirement_id=assignment[i], credits=credits[i], source=items[i].source,
                         micro_credential=items[i].micro_credential) for i in sorted(kept))
    return _Outcome(allocations, tuple(sorted(capped, key=lambda e: e.credential_id)), satisfied,
                    round(sum(credits[i] for i in kept), 2))


def _candidates(item: Item, programme: ProgrammePublishedData) -> list[str]:
    return [r.requirement_id for r in programme.requirements if item.options & set(r.options)] or [FREE]


def allocate(programme: ProgrammePublishedData, items: list[Item], now: datetime) -> Progress:
    """The learner's progress toward `programme` from `items`, explained."""
    excluded: list[Exclusion] = []
    eligible: dict[str, Item] = {}
    credits: dict[str, float] = {}
    # A credential recognised into this programme counts through its recognition, not a second time on its own.
    # Several recognitions may cite it: the reason names one of them, the same one whatever the order of the items.
    recognised_from = {c: i.item_id for i in sorted(items, key=lambda i: i.item_id)
                       if i.source == "recognition" and not i.revoked for c in i.credential_ids}
    for item in sorted(items, key=lambda i: i.item_id):
        if not _relevant(item, programme):
            continue
        if item.source == "credential" and item.item_id in recognised_from:
            excluded.append(Exclusion(credential_id=item.item_id,
                                      reason=f"already used: counted through {recognised_from[item.item_id]}"))
            continue
        reason = exclusion_reason(item, programme, now)
        if reason:
            excluded.append(Exclusion(credential_id=item.item_id, reason=reason))
            continue
        eligible[item.item_id] = item
        credits[item.item_id] = _credits(item, programme)[0]  # type: ignore[index]
    ids = sorted(eligible)
    choices = [_candidates(eligible[i], programme) for i in ids]
    combinations = 1
    for c in choices:
        combinations *= len(c)
    if combinations <= MAX_COMBINATIONS:
        assignments = (dict(zip(ids, pick, strict=True)) for pick in itertools.product(*choices))
    else:
        assignments = iter([_greedy(programme, ids, choices, eligible, credits)])
    # itertools.product enumerates in a fixed order (one empty assignment when nothing is eligible), and max keeps
    # the first of equals, so the choice is deterministic.
    best = max((_evaluate(programme, assignment, eligible, credits) for assignment in assignments),
               key=lambda outcome: (len(outcome.satisfied), outcome.credits))
    missing = tuple(r.requirement_id for r in programme.requirements if r.requirement_id not in best.satisfied)
    complete = not missing and best.credits + 1e-9 >= programme.total_credits.value
    return Progress(programme=programme, allocations=best.allocations,
                    not_counted=tuple(sorted((*excluded, *best.capped), key=lambda e: e.credential_id)),
                    satisfied=best.satisfied, missing=missing, credits_counted=best.credits, complete=complete,
                    explanation=explain(programme, best.allocations, (*excluded, *best.capped)))


def _greedy(programme, ids, choices, eligible, credits) -> dict[str, str]:
    """Each item to its first candidate requirement not yet satisfied by the items before it, else its first."""
    assignment: dict[str, str] = {}
    for item_id, candidates in zip(ids, choices, strict=True):
        satisfied = _evaluate(programme, assignment, eligible, credits).satisfied
        assignment[item_id] = next((c for c in candidates if c not in satisfied), candidates[0])
    return assignment


def explain(programme: ProgrammePublishedData, allocations, exclusions) -> tuple[str, ...]:
    lines = [f"{a.credential_id} counts {a.credits:g} {programme.total_credits.framework.value} credits toward "
             f"{a.requirement_id}" for a in allocations]
    lines += [f"{e.credential_id} does not count: {e.reason}" for e in exclusions]
    return tuple(lines)


# ------------------------------------------------------------------------------------------------ what changed


def lost(completed_with: list[str], progress: Progress) -> list[str]:
    """Items a completed qualification was built from that no longer count."""
    return sorted(set(completed_with) - {a.credential_id for a in progress.allocations})


def hypothetical(items: list[Item], extra: list[Item]) -> list[Item]:
    """The learner's items with hypothetical ones added (replacing any with the same id)."""
    ids = {i.item_id for i in extra}
    return [i for i in items if i.item_id not in ids] + list(extra)


def closeness(progress: Progress) -> float:
    """How close a learner is to completing: the share of requirements and of credits met, averaged."""
    requirements = len(progress.satisfied) + len(progress.missing)
    share_requirements = len(progress.satisfied) / requirements if requirements else 1.0
    share_credits = min(1.0, progress.credits_counted / progress.programme.total_credits.value)
    return round((share_requirements + share_credits) / 2, 3)
