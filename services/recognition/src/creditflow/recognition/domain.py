"""Recognition decisions as a pure function: `decide(case, policy, agreements, precedents, now) -> Decision`.

It follows the Lisbon Recognition Convention (docs/recognition.md): recognise unless a substantial difference is
shown, the burden of proof on the receiving institution. For each target module, in this order:

1. authenticity: a forged or revoked credential is refused with that reason; an unknown status is referred;
2. an articulation agreement in force covers the case: automatic recognition, the agreement cited;
3. a precedent (an earlier decision at this institution on the same achievement for the same module, on the same
   facts) is followed and cited, so the same facts give the same outcome;
4. otherwise the five elements, each with a finding, its evidence and its rule: level, workload, quality, profile,
   learning outcomes;
5. then the institution's policy: recency, minimum grade, participation-only credentials, minimum level, and the
   programme's remaining transfer allowance;
6. each recognised module states its grade as recognised: the credential's grade converted by the policy's
   grading table, or `pass` when the policy recognises without grades (a grade the table cannot convert is
   referred, so a registrar states it).

Nothing here does I/O or reads a clock.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Literal

from creditflow.academic import RECOGNISED_WITHOUT_GRADE, convert, grade_meets
from creditflow.events import (
    Achievement,
    ArticulationAgreementPublishedData,
    AssessmentType,
    CreditFramework,
    CreditValue,
    EctsConversion,
    ElementFinding,
    Module,
    ProgrammePublishedData,
    QualityAssurance,
    RecognisedCredit,
    RecognitionPolicyPublishedData,
)

from . import outcomes

Verdict = Literal["granted", "partial", "conditional", "denied", "referred"]
Authenticity = Literal["valid", "revoked", "invalid", "unknown"]
# How far below the policy's overlap threshold a coverage is "low confidence" (a registrar decides) rather than a
# substantial difference (refused).
REFERRAL_BAND = 0.2
# Severity when one module has several reasons: the most severe verdict wins.
_SEVERITY: dict[Verdict, int] = {"denied": 0, "referred": 1, "conditional": 2, "partial": 3, "granted": 4}


@dataclass(frozen=True)
class Offered:
    """A credential offered for recognition, with what the handler could establish about it."""

    credential_id: str
    institution_id: str
    achievement: Achievement
    awarded_at: datetime
    grade: str | None = None
    ects: tuple[EctsConversion, ...] = ()
    authenticity: Authenticity = "valid"
    authenticity_reasons: tuple[str, ...] = ()
    issuer_quality: tuple[QualityAssurance, ...] = ()


@dataclass(frozen=True)
class Case:
    case_id: str
    learner_id: str
    institution_id: str
    programme: ProgrammePublishedData
    module_ids: tuple[str, ...]
    credentials: tuple[Offered, ...]
    # Credits (in the programme's framework) already recognised for this learner in this programme by other cases.
    recognised_before: float = 0.0


@dataclass(frozen=True)
class Precedent:
    """A module-level outcome decided earlier at the receiving institution, on facts with this fingerprint."""

    decision_id: str
    module_id: str
    source_institution_id: str
    achievement_id: str
    fingerprint: str
    verdict: Verdict
    share: float  # recognised credits as a share of the module's credits
    basis: Literal["equivalence", "elective"]
    decided_by: str


@dataclass(frozen=True)
class ModuleResult:
    module_id: str
    verdict: Verdict
    credits: float  # in the module's framework
    framework: CreditFramework
    credential_ids: tuple[str, ...]
    findings: tuple[ElementFinding, ...]
    reasons: tuple[str, ...] = ()
    conditions: tuple[str, ...] = ()
    basis: Literal["equivalence", "elective"] = "equivalence"
    agreement_id: str | None = None
    precedent_id: str | None = None
    # Set when one credential was assessed for the module, so a registrar's decision on it may serve as a precedent.
    fingerprint: str | None = None
    source_institution_id: str | None = None
    achievement_id: str | None = None
    grade: str | None = None  # the grade as recognised

    @property
    def recognised(self) -> RecognisedCredit | None:
        if self.verdict not in ("granted", "partial") or self.credits <= 0:
            return None
        return RecognisedCredit(module_id=self.module_id, credits=CreditValue(value=self.credits,
                                framework=self.framework), credential_ids=list(self.credential_ids), basis=self.basis,
                                grade=self.grade)


@dataclass(frozen=True)
class Decision:
    outcome: Verdict
    modules: tuple[ModuleResult, ...]
    reasons: tuple[str, ...]
    conditions: tuple[str, ...] = ()
    policy_version: int | None = None
    proposed: Verdict | None = None  # what the analysis proposed when the policy sends every case to a registrar

    @property
    def recognised(self) -> list[RecognisedCredit]:
        return [r for m in self.modules if (r := m.recognised) is not None]

    @property
    def findings(self) -> list[ElementFinding]:
        return [f for m in self.modules for f in m.findings]

    @property
    def agreement_ids(self) -> list[str]:
        return sorted({m.agreement_id for m in self.modules if m.agreement_id})

    @property
    def precedent_ids(self) -> list[str]:
        return sorted({m.precedent_id for m in self.modules if m.precedent_id})

    @property
    def credential_ids(self) -> list[str]:
        return sorted({c for m in self.modules for c in m.credential_ids})


# ------------------------------------------------------------------------------------------------ helpers


def _finding(element: str, finding: str, evidence: str, rule: str, module: Module, offered: list[Offered]):
    return ElementFinding(element=element, finding=finding, evidence=evidence, rule=rule, module_id=module.module_id,
                          credential_ids=[o.credential_id for o in offered])


def _years_between(earlier: date, later: date) -> float:
    return (later - earlier).days / 365.25


def in_force(agreement: ArticulationAgreementPublishedData, today: date) -> bool:
    return agreement.effective_from <= today and (agreement.effective_until is None or today <= agreement.effective_until)


def ects_of(offered: Offered, method: str) -> tuple[float, str] | None:
    """The credential's ECTS figure by the policy's conversion method, falling back to the other one (named)."""
    preferred = ("identity", "convention") if method == "convention" else ("hours",)
    for wanted in (preferred, ("identity", "convention", "hours")):
        for conversion in offered.ects:
            if conversion.method in wanted:
                fallback = "" if wanted is preferred else f" (no {method} figure; used {conversion.method})"
                return conversion.ects, conversion.rule + fallback
    if offered.achievement.credits is not None:
        return convert(offered.achievement.credits, CreditFramework.ECTS)
    return None


def fingerprint(achievement: Achievement, module: Module, policy_version: int | None) -> str:
    """The facts an academic judgement rests on: the achievement as awarded, the module, the policy version."""
    facts = {"achievement": achievement.model_dump(mode="json"), "module": module.model_dump(mode="json"),
             "policy_version": policy_version}
    return hashlib.sha256(json.dumps(facts, sort_keys=True).encode()).hexdigest()[:32]


def _qa_accepted(offered: Offered, policy: RecognitionPolicyPublishedData) -> QualityAssurance | None:
    moment = offered.awarded_at.date()
    for qa in offered.issuer_quality:
        current = qa.valid_from <= moment and (qa.valid_until is None or moment <= qa.valid_until)
        if current and (not policy.accepted_qa_bodies or qa.body in policy.accepted_qa_bodies):
            return qa
    return None


# ------------------------------------------------------------------------------------------------ the five elements


@dataclass
class _Assessment:
    """The verdicts an assessment of one module collects; the most severe one decides."""

    findings: list[ElementFinding] = field(default_factory=list)
    verdicts: list[tuple[Verdict, str]] = field(default_factory=list)
    conditions: list[str] = field(default_factory=list)
    share: float = 1.0  # share of the module's credits recognised
    basis: Literal["equivalence", "elective"] = "equivalence"
    grade: str | None = None  # the grade as recognised

    def add(self, finding: ElementFinding, verdict: Verdict | None = None, reason: str | None = None) -> None:
        self.findings.append(finding)
        if verdict is not None:
            self.verdicts.append((verdict, reason or finding.evidence))

    @property
    def verdict(self) -> Verdict:
        return min((v for v, _ in self.verdicts), key=_SEVERITY.__getitem__, default="granted")

    def reasons(self) -> list[str]:
        return [reason for verdict, reason in self.verdicts if verdict == self.verdict]


def _level(a: _Assessment, module: Module, offered: list[Offered], policy: RecognitionPolicyPublishedData) -> None:
    levels = [o.achievement.level.eqf for o in offered if o.achievement.level and o.achievement.level.eqf]
    target = module.level.eqf if module.level else None
    rule = "EQF levels compared; the lowest offered level counts"
    if len(levels) < len(offered) or target is None:
        a.add(_finding("level", "not-assessed", "an EQF level is missing on one side; no difference can be shown",
                       rule, module, offered))
        return
    lowest = min(levels)
    minimum = policy.min_level.eqf if policy.min_level else None
    if minimum is not None and lowest < minimum:
        a.add(_finding("level", "substantial-difference",
                       f"EQF {lowest} is below the policy's minimum EQF {minimum}", "policy min_level", module,
                       offered), "denied")
    elif lowest < target:
        evidence = f"EQF {lowest} offered, module at EQF {target}"
        if policy.level_difference == "partial":
            a.basis = "elective"
            a.add(_finding("level", "substantial-difference", evidence + "; credits recognised as electives, "
                           "not as the module", "policy level_difference: partial", module, offered), "partial")
        else:
            a.add(_finding("level", "substantial-difference", evidence, "policy level_difference: denied", module,
                           offered), "denied")
    else:
        a.add(_finding("level", "comparable", f"EQF {lowest} offered, module at EQF {target}", rule, module, offered))


def _workload(a: _Assessment, module: Module, offered: list[Offered], policy: RecognitionPolicyPublishedData) -> None:
    target, target_rule = convert(module.credits, CreditFramework.ECTS)
    figures = [ects_of(o, policy.conversion) for o in offered]
    if any(f is None for f in figures) or target <= 0:
        a.add(_finding("workload", "not-assessed", "a credential states neither credits nor workload",
                       "policy conversion: " + policy.conversion, module, offered), "referred")
        return
    total = round(sum(f[0] for f in figures if f), 2)
    rules = "; ".join(sorted({f[1] for f in figures if f}))
    evidence = f"{total:g} ECTS offered ({rules}) for a module of {target:g} ECTS ({target_rule})"
    if total >= target:
        a.add(_finding("workload", "comparable", evidence, "converted credits at least the module's", module, offered))
    else:
        a.share = min(a.share, total / target)
        a.add(_finding("workload", "substantial-difference", evidence + f": {total / target:.0%} of the module",
                       "partial recognition of the credits offered", module, offered), "partial")


def _quality(a: _Assessment, module: Module, offered: list[Offered], policy: RecognitionPolicyPublishedData) -> None:
    accepted = ", ".join(policy.accepted_qa_bodies) or "any quality-assurance body"
    unverified = [o for o in offered if _qa_accepted(o, policy) is None]
    if not unverified:
        bodies = sorted({qa.body for o in offered if (qa := _qa_accepted(o, policy))})
        a.add(_finding("quality", "comparable", "quality assured by " + ", ".join(bodies),
                       f"accepted: {accepted}", module, offered))
        return
    names = ", ".join(o.institution_id for o in unverified)
    a.add(_finding("quality", "not-assessed", f"no current quality assurance accepted by the policy for {names}",
                   f"accepted: {accepted}; unverifiable quality is a reason for review, not for refusal", module,
                   offered), "referred")


def _profile_and_outcomes(a: _Assessment, module: Module, offered: list[Offered],
                          policy: RecognitionPolicyPublishedData) -> None:
    matches = outcomes.best_matches(module.learning_outcomes,
                                    [(o.credential_id, lo) for o in offered for lo in o.achievement.learning_outcomes])
    share = outcomes.coverage(matches)
    threshold = policy.outcome_overlap_threshold
    fields = sorted({o.achievement.field_of_study[:2] for o in offered if o.achievement.field_of_study})
    target_field = module.field_of_study[:2] if module.field_of_study else None
    outcome_rule = (f"coverage at least {threshold:.0%} (outcome covered from score {outcomes.MATCH_THRESHOLD}; "
                    f"alignment codes, else text similarity)")
    if not module.learning_outcomes:
        a.add(_finding("learning outcomes", "comparable", "the module publishes no learning outcomes, so no "
                       "difference in outcomes can be shown", outcome_rule, module, offered))
    else:
        evidence = f"{share:.0%} of the module's outcomes covered: " + "; ".join(m.explain() for m in matches)
        if share >= threshold:
            a.add(_finding("learning outcomes", "comparable", evidence, outcome_rule, module, offered))
        elif share >= threshold - REFERRAL_BAND:
            a.add(_finding("learning outcomes", "not-assessed", evidence + " (low confidence)", outcome_rule, module,
                           offered), "referred", f"outcome match is low-confidence ({share:.0%}); a registrar decides")
        else:
            a.add(_finding("learning outcomes", "substantial-difference", evidence, outcome_rule, module, offered),
                  "denied")
    profile_rule = "ISCED-F broad field compared; decisive only with the outcomes"
    if target_field is None or not fields:
        a.add(_finding("profile", "not-assessed", "a field of study is missing on one side", profile_rule, module,
                       offered))
    elif target_field in fields:
        a.add(_finding("profile", "comparable", f"same broad field {target_field}", profile_rule, module, offered))
    elif share >= threshold:
        a.add(_finding("profile", "comparable", f"fields {', '.join(fields)} and {target_field} differ, but the "
                       "learning outcomes are covered, so the difference is not substantial", profile_rule, module,
                       offered))
    else:
        a.add(_finding("profile", "substantial-difference", f"fields {', '.join(fields)} and {target_field} differ "
                       "and the outcomes are not covered", profile_rule, module, offered))


def grade_as_recognised(grades: list[tuple[str, str | None]], policy: RecognitionPolicyPublishedData
                        ) -> tuple[str | None, str]:
    """The grade a module recognised on these (credential_id, grade) pairs carries at the receiving institution, and
    how it was reached: each grade converted by the policy's grading table, the lowest when they differ; `pass` when
    the policy has no table. None, with the reason, when the table cannot convert them (a registrar states it)."""
    if not policy.grading_table:
        return RECOGNISED_WITHOUT_GRADE, "the policy recognises without grades (no grading_table)"
    table = {source.strip().lower(): local for source, local in policy.grading_table.items()}
    converted = []
    for credential_id, grade in grades:
        if grade is None:
            return None, f"{credential_id} states no grade for the policy's grading_table to convert"
        if grade.strip().lower() not in table:
            return None, f"grade {grade!r} of {credential_id} is not in the policy's grading_table"
        converted.append((grade, table[grade.strip().lower()]))
    # The lowest converted grade: the one every other meets.
    lowest = next((local for _, local in converted
                   if all(grade_meets(other, local) for _, other in converted)), None)
    if lowest is None:
        return None, "the converted grades " + ", ".join(sorted({c for _, c in converted})) + " cannot be ordered"
    return lowest, "; ".join(f"{source} -> {local}" for source, local in converted) + " by the policy's grading_table"


def _recognised_grade(a: _Assessment, module: Module, offered: list[Offered],
                      policy: RecognitionPolicyPublishedData) -> None:
    grade, how = grade_as_recognised([(o.credential_id, o.grade) for o in offered], policy)
    rule = "the grade as recognised: the policy's grading_table, or pass without one"
    if grade is None:
        a.add(_finding("grade as recognised", "not-assessed", how, rule, module, offered), "referred",
              f"{how}; a registrar states the grade as recognised")
    else:
        a.grade = grade
        a.add(_finding("grade as recognised", "passed", f"{grade}: {how}", rule, module, offered))


def _policy_checks(a: _Assessment, module: Module, offered: list[Offered], policy: RecognitionPolicyPublishedData,
                   now: datetime) -> None:
    if policy.recency_years is not None:
        old = [o for o in offered if _years_between(o.awarded_at.date(), now.date()) > policy.recency_years]
        finding = "failed" if old else "passed"
        evidence = (", ".join(f"{o.credential_id} awarded {o.awarded_at.date()}" for o in old) + " too old"
                    if old else "every credential awarded within the limit")
        a.add(_finding("recency", finding, evidence, f"policy recency_years: {policy.recency_years}", module, offered),
              "denied" if old else None)
    if policy.min_grade is not None:
        for o in offered:
            meets = grade_meets(o.grade, policy.min_grade)
            rule = f"policy min_grade: {policy.min_grade}"
            if meets is None:
                a.add(_finding("grade", "not-assessed", f"grade {o.grade!r} cannot be compared with {policy.min_grade}",
                               rule, module, [o]), "referred")
            else:
                a.add(_finding("grade", "passed" if meets else "failed", f"grade {o.grade}", rule, module, [o]),
                      None if meets else "denied")
    participation = [o for o in offered if o.achievement.assessment_type == AssessmentType.PARTICIPATION_ONLY]
    if participation:
        condition = f"pass the assessment of module {module.module_id} ({module.title})"
        a.add(_finding("assessment", "failed", ", ".join(o.credential_id for o in participation) +
                       " certify participation only, not assessed learning", "assessed learning required", module,
                       offered), "conditional", "participation is not assessed learning")
        a.conditions.append(condition)
    _recognised_grade(a, module, offered, policy)


# ------------------------------------------------------------------------------------------------ per module


def _authentic(offered: list[Offered], module: Module) -> tuple[list[Offered], _Assessment]:
    a = _Assessment()
    kept = []
    for o in offered:
        why = "; ".join(o.authenticity_reasons)
        if o.authenticity == "valid":
            a.add(_finding("authenticity", "passed", "signature valid, not revoked, issuer registered",
                           "authenticity first", module, [o]))
            kept.append(o)
        elif o.authenticity == "unknown":
            a.add(_finding("authenticity", "not-assessed", f"status unknown: {why}", "an unknown status is referred",
                           module, [o]), "referred", f"{o.credential_id}: status could not be checked ({why})")
            kept.append(o)
        else:
            a.add(_finding("authenticity", "failed", f"{o.authenticity}: {why}", "authenticity first", module, [o]),
                  "denied", f"{o.credential_id} is {o.authenticity}: {why}")
    return kept, a


def _module_result(module: Module, a: _Assessment, offered: list[Offered], **extra: object) -> ModuleResult:
    verdict = a.verdict
    share = 0.0 if verdict in ("denied", "referred", "conditional") else a.share
    return ModuleResult(
        module_id=module.module_id, verdict=verdict, credits=round(module.credits.value * share, 1),
        framework=module.credits.framework, credential_ids=tuple(o.credential_id for o in offered),
        findings=tuple(a.findings), reasons=tuple(a.reasons()) if verdict != "granted" else (),
        conditions=tuple(a.conditions) if verdict == "conditional" else (), basis=a.basis, grade=a.grade, **extra,
    )


def _assess(module: Module, offered: list[Offered], case: Case, policy: RecognitionPolicyPublishedData,
            agreements: list[ArticulationAgreementPublishedData], precedents: list[Precedent],
            now: datetime) -> ModuleResult:
    if not offered:
        a = _Assessment()
        a.add(ElementFinding(element="learning outcomes", finding="substantial-difference", module_id=module.module_id,
                             evidence="no offered credential covers this module", rule="a module needs evidence"),
              "denied")
        return _module_result(module, a, [])
    kept, a = _authentic(offered, module)
    if not kept or a.verdict == "denied":
        return _module_result(module, a, offered)
    agreement = next((ag for ag in agreements
                      if in_force(ag, now.date()) and ag.programme_id == case.programme.programme_id
                      and ag.module_id == module.module_id
                      and any(o.institution_id == ag.source_institution_id
                              and o.achievement.achievement_id == ag.source_achievement_id for o in kept)), None)
    if agreement is not None:
        until = agreement.effective_until or "open-ended"
        a.add(_finding("articulation agreement", "passed",
                       f"agreement {agreement.agreement_id} ({agreement.source_institution_id} "
                       f"{agreement.source_achievement_id} -> {module.module_id}, {agreement.credits.value:g} "
                       f"{agreement.credits.framework.value}) in force {agreement.effective_from} to {until}",
                       "automatic recognition under an agreement in force", module, kept))
        _policy_checks(a, module, kept, policy, now)
        result = _module_result(module, a, kept, agreement_id=agreement.agreement_id)
        credits = agreement.credits.value if result.verdict == "granted" else result.credits
        return replace(result, credits=credits, framework=agreement.credits.framework
                       if result.verdict == "granted" else result.framework)
    single = kept[0] if len(kept) == 1 else None
    print_ = fingerprint(single.achievement, module, policy.version) if single else None
    source = {"fingerprint": print_, "source_institution_id": single.institution_id,
              "achievement_id": single.achievement.achievement_id} if single else {}
    precedent = next((p for p in precedents if print_ is not None and p.fingerprint == print_
                      and p.module_id == module.module_id), None)
    if precedent is not None:
        a.add(_finding("precedent", "passed", f"decision {precedent.decision_id} by {precedent.decided_by} on the same "
                       f"achievement for this module: {precedent.verdict}", "the same facts give the same outcome",
                       module, kept), precedent.verdict if precedent.verdict != "granted" else None,
              f"as decided in precedent {precedent.decision_id}")
        a.share, a.basis = precedent.share, precedent.basis
        _policy_checks(a, module, kept, policy, now)
        return _module_result(module, a, kept, precedent_id=precedent.decision_id, **source)
    _level(a, module, kept, policy)
    _workload(a, module, kept, policy)
    _quality(a, module, kept, policy)
    _profile_and_outcomes(a, module, kept, policy)
    _policy_checks(a, module, kept, policy, now)
    return _module_result(module, a, kept, **source)


# ------------------------------------------------------------------------------------------------ the decision


def _fit(offered: Offered, module: Module) -> float:
    matches = outcomes.best_matches(module.learning_outcomes,
                                    [(offered.credential_id, lo) for lo in offered.achievement.learning_outcomes])
    return sum(m.score for m in matches)


def _assign(modules: list[Module], offered: list[Offered]) -> dict[str, list[Offered]]:
    """Each credential counts toward one module only: the one whose outcomes it covers best (ties: request order).
    One module takes every credential."""
    assigned: dict[str, list[Offered]] = {m.module_id: [] for m in modules}
    for o in offered:
        best = max(modules, key=lambda module, o=o: _fit(o, module))  # max keeps the first of equals
        assigned[best.module_id].append(o)
    return assigned


def _apply_allowance(results: list[ModuleResult], case: Case, policy: RecognitionPolicyPublishedData) -> list[ModuleResult]:
    shares = [s for s in (policy.max_recognised_share, case.programme.max_recognised_share) if s is not None]
    if not shares:
        return results
    share = min(shares)
    total = case.programme.total_credits
    allowance = round(total.value * share, 2)
    remaining = max(0.0, allowance - case.recognised_before)
    rule = f"at most {share:.0%} of {total.value:g} {total.framework.value} credits may come from recognition"
    adjusted = []
    for r in results:
        if r.recognised is None:
            adjusted.append(r)
            continue
        credits, _ = convert(CreditValue(value=r.credits, framework=r.framework), total.framework)
        module = next(m for m in case.programme.modules if m.module_id == r.module_id)
        evidence = (f"{case.recognised_before:g} already recognised, {remaining:g} of {allowance:g} left, "
                    f"{credits:g} asked")
        if credits <= remaining:
            remaining -= credits
            finding = _finding("transfer allowance", "passed", evidence, rule, module, [])
            adjusted.append(replace(r, findings=(*r.findings, finding)))
        elif remaining > 0:
            factor = remaining / credits
            finding = _finding("transfer allowance", "failed", evidence + f"; {remaining:g} recognised", rule,
                               module, [])
            adjusted.append(replace(r, verdict="partial", credits=round(r.credits * factor, 1),
                                    findings=(*r.findings, finding),
                                    reasons=(*r.reasons, "transfer allowance reached"), fingerprint=None))
            remaining = 0.0
        else:
            finding = _finding("transfer allowance", "failed", evidence, rule, module, [])
            adjusted.append(replace(r, verdict="denied", credits=0.0, findings=(*r.findings, finding),
                                    reasons=(*r.reasons, "transfer allowance exhausted"), fingerprint=None))
    return adjusted


def _outcome(results: list[ModuleResult]) -> Verdict:
    verdicts = {r.verdict for r in results}
    if "referred" in verdicts:
        return "referred"
    if verdicts == {"granted"}:
        return "granted"
    if any(r.recognised for r in results):
        return "partial"
    return "conditional" if "conditional" in verdicts else "denied"


def decide(case: Case, policy: RecognitionPolicyPublishedData, agreements: list[ArticulationAgreementPublishedData],
           precedents: list[Precedent], now: datetime) -> Decision:
    """The decision on a complete file, with its full trace (findings per module and element, reasons)."""
    modules = [m for m in case.programme.modules if m.module_id in case.module_ids]
    assigned = _assign(modules, list(case.credentials))
    results = [_assess(m, assigned[m.module_id], case, policy, agreements, precedents, now) for m in modules]
    results = _apply_allowance(results, case, policy)
    outcome = _outcome(results)
    reasons = [f"{r.module_id}: {r.verdict}" + (f" ({'; '.join(r.reasons)})" if r.reasons else "") for r in results]
    conditions = tuple(c for r in results for c in r.conditions)
    if outcome != "referred" and not policy.automatic_decisions:
        return Decision("referred", tuple(results), (f"policy {policy.version} requires a registrar to decide every "
                        f"case; proposed outcome: {outcome}", *reasons), conditions, policy.version, proposed=outcome)
    return Decision(outcome, tuple(results), tuple(reasons), conditions, policy.version)


# ------------------------------------------------------------------------------------------------ outside credentials


def achievement_from_credential(credential: dict, institution_id: str) -> Achievement:
    """The achievement an Open Badges 3.0 credential describes, with the EU elements creditflow carries in
    `achievement.euMicroCredential` (docs/credentials.md). Raises ValueError naming what cannot be read."""
    subject = credential.get("credentialSubject") or {}
    ob = subject.get("achievement") if isinstance(subject, dict) else None
    if not isinstance(ob, dict) or not ob.get("name"):
        raise ValueError("credentialSubject.achievement.name is missing")
    eu = ob.get("euMicroCredential") or {}
    credits = eu.get("credits") or ({"value": ob["creditsAvailable"], "framework": "ects"}
                                    if ob.get("creditsAvailable") else None)
    fields = {
        "achievement_id": str(ob.get("id") or credential.get("id")).rstrip("/").rsplit("/", 1)[-1],
        "institution_id": institution_id,
        "title": ob["name"],
        "achievement_type": ob.get("achievementType", "MicroCredential"),
        "learning_outcomes": eu.get("learningOutcomes") or [],
        "workload_hours": eu.get("workloadHours"),
        "credits": credits,
        "level": eu.get("level"),
        "field_of_study": ob.get("fieldOfStudy"),
        "assessment_type": eu.get("assessmentType"),
        "participation_form": eu.get("participationForm"),
        "quality_assurance_type": eu.get("qualityAssuranceType"),
    }
    try:
        return Achievement.model_validate(fields)
    except ValueError as exc:
        raise ValueError(f"credentialSubject.achievement: {exc}") from exc
