"""Award rules, as pure functions: EU standard elements, credit consistency, size bands, ECTS conversion.

Every figure and classification names the rule that produced it, because conversion between credit systems is
policy, not arithmetic (domain brief, section 3).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from creditflow.academic import CONVENTIONS, ECTS_HOURS
from creditflow.events import Achievement, CreditFramework, EctsConversion, SizeBandCheck, SizeClassification

# ----------------------------------------------------------------------------------------- EU 2022 Annex I


@dataclass(frozen=True)
class Institution:
    institution_id: str
    name: str
    country: str


@dataclass(frozen=True)
class Problem:
    field: str
    rule: str

    def __str__(self) -> str:
        return f"{self.field}: {self.rule}"


def _annex_i_problems(checks: list[tuple[str, str, bool]]) -> list[Problem]:
    return [Problem(field, f"missing EU standard element {element} (2022 Recommendation, Annex I)")
            for field, element, present in checks if not present]


def _achievement_elements(achievement: Achievement) -> list[tuple[str, str, bool]]:
    """The Annex I elements an achievement itself carries: (field of the award, element, present)."""
    return [
        ("achievement.title", "2 title of the micro-credential", bool(achievement.title)),
        ("achievement.learning_outcomes", "6 learning outcomes", bool(achievement.learning_outcomes)),
        (
            "achievement.workload_hours",
            "7 notional workload needed to achieve the learning outcomes",
            achievement.workload_hours is not None or achievement.credits is not None,
        ),
        (
            "achievement.level",
            "8 level (EQF or national) of the learning experience",
            achievement.level is not None
            and (achievement.level.eqf is not None or achievement.level.national_level is not None),
        ),
        ("achievement.assessment_type", "9 type of assessment", achievement.assessment_type is not None),
        ("achievement.participation_form", "10 form of participation", achievement.participation_form is not None),
        (
            "achievement.quality_assurance_type",
            "11 type of quality assurance used to underpin the micro-credential",
            bool(achievement.quality_assurance_type),
        ),
    ]


def missing_annex_i_elements(
    learner_id: str | None, institution: Institution | None, achievement: Achievement, awarded_at: datetime | None
) -> list[Problem]:
    """Each mandatory element of Annex I of Council Recommendation 2022/C 243/02 that the award lacks."""
    award = [
        ("learner_id", "1 identification of the learner", bool(learner_id)),
        ("institution.country", "3 country/region of the issuer", bool(institution and institution.country)),
        ("institution.name", "4 awarding body", bool(institution and institution.name)),
        ("awarded_at", "5 date of issuing", awarded_at is not None),
    ]
    # In the Annex's order, element numbers first in each description.
    return _annex_i_problems(sorted(award + _achievement_elements(achievement), key=lambda c: int(c[1].split()[0])))


def achievement_problems(achievement: Achievement) -> list[Problem]:
    """What would refuse every award of this achievement, named as in an award's refusal (without the
    `achievement.` prefix: the achievement is the body): missing Annex I elements and inconsistent credits."""
    problems = _annex_i_problems(_achievement_elements(achievement))
    inconsistency = credit_inconsistency(achievement)
    problems += [inconsistency] if inconsistency else []
    return [Problem(p.field.removeprefix("achievement."), p.rule) for p in problems]


# ----------------------------------------------------------------------------------------- credit frameworks

# Notional hours per credit unit, with the source of each figure. A workload outside the range, widened by
# HOURS_TOLERANCE for rounding, is inconsistent with the credits claimed.
HOURS_PER_CREDIT: dict[CreditFramework, tuple[float, float, str]] = {
    CreditFramework.ECTS: (25, 30, "ECTS Users' Guide 2015: 1 ECTS credit = 25-30 hours"),
    CreditFramework.UK_CATS: (10, 10, "UK credit frameworks: 1 credit = 10 notional hours"),
    CreditFramework.SCQF: (10, 10, "SCQF: 1 credit = 10 notional hours"),
    CreditFramework.NZQF: (10, 10, "NZQCF: 1 credit = 10 notional hours"),
    CreditFramework.US_SEMESTER: (
        37.5,
        45,
        "US semester credit hour: 15 weeks x (1 class hour + 2 hours of study); class hours of 50-60 minutes",
    ),
    CreditFramework.AQF_HOURS: (1, 1, "AQF volume of learning is stated in hours"),
}
HOURS_TOLERANCE = 0.10


def credit_inconsistency(achievement: Achievement) -> Problem | None:
    """The rule broken when the credits claimed do not fit the notional workload, if one is."""
    credits, hours = achievement.credits, achievement.workload_hours
    if credits is None or hours is None:
        return None
    low, high, source = HOURS_PER_CREDIT[credits.framework]
    per_credit = hours / credits.value
    if low * (1 - HOURS_TOLERANCE) <= per_credit <= high * (1 + HOURS_TOLERANCE):
        return None
    return Problem(
        "achievement.credits",
        f"{credits.value:g} {credits.framework.value} credits for {hours:g} h is {per_credit:.1f} h per credit; "
        f"{source} (accepted within {HOURS_TOLERANCE:.0%})",
    )


def notional_hours(achievement: Achievement) -> float | None:
    """The workload in hours: stated, or derived from the credits at the framework's upper hours figure."""
    if achievement.workload_hours is not None:
        return achievement.workload_hours
    if achievement.credits is None:
        return None
    return achievement.credits.value * HOURS_PER_CREDIT[achievement.credits.framework][1]


# ----------------------------------------------------------------------------------------- size bands

NANO_RULE = (
    "nano-credential: 1-4 credits (10-40 h); a proposed convention "
    "(S. Martin, 'What is the future of Micro, Nano and Digital credentialing?')"
)
NZQA_RULE = "NZQA micro-credential: 5-40 credits (50-400 h)"
CMF_RULE = "European MOOC Consortium Common Microcredential Framework: 100-150 h (4-6 ECTS) at EQF 6-7"
NZQA, CMF, NANO = "NZQA micro-credential", "Common Microcredential Framework", "nano-credential convention"
# Frameworks whose credit is 10 notional hours, the unit the NZQA and nano bands count in.
_TEN_HOUR_CREDITS = {CreditFramework.NZQF, CreditFramework.UK_CATS, CreditFramework.SCQF}


def _check(framework: str, band: str, lower: float, upper: float, unit: str, figure: float | None) -> SizeBandCheck:
    bounds = f"{framework} {band} band {lower:g}-{upper:g} {unit}"
    if figure is None:
        return SizeBandCheck(framework=framework, band=band, lower=lower, upper=upper, unit=unit, figure=None,
                             fits=False, explanation=f"outside the {bounds}: the award states no {unit}")
    fits = lower <= figure <= upper
    where = "within" if fits else "below" if figure < lower else "above"
    return SizeBandCheck(framework=framework, band=band, lower=lower, upper=upper, unit=unit, figure=figure, fits=fits,
                         explanation=f"{'fits' if fits else 'outside'} the {bounds}: the award's {figure:g} {unit} "
                                     f"is {where} it")


def size_checks(achievement: Achievement, ects: float | None) -> list[SizeBandCheck]:
    """The award against each framework band: NZQA (in credits for 10-hour credits, else hours), the CMF (hours,
    ECTS and EQF level, each on its own), and the nano convention (like NZQA)."""
    hours = notional_hours(achievement)
    credits = achievement.credits
    in_credits = credits is not None and credits.framework in _TEN_HOUR_CREDITS
    eqf = achievement.level.eqf if achievement.level else None
    return [
        _check(NZQA, "micro", 5, 40, "credits", credits.value) if in_credits
        else _check(NZQA, "micro", 50, 400, "h", hours),
        _check(CMF, "micro", 100, 150, "h", hours),
        _check(CMF, "micro", 4, 6, "ECTS", ects),
        _check(CMF, "micro", 6, 7, "EQF level", eqf),
        _check(NANO, "nano", 1, 4, "credits", credits.value) if in_credits else _check(NANO, "nano", 10, 40, "h", hours),
    ]


def classify_size(achievement: Achievement, ects: float | None = None) -> SizeClassification | None:
    """Nano / micro / larger, under the first rule that applies, in this order:
    the NZQA listing rule for NZQF credits; the CMF for 100-150 h at EQF 6-7; otherwise the NZQA band by hours,
    with the nano convention below it. Every band is also checked on its own (`checks`)."""
    hours = notional_hours(achievement)
    if hours is None:
        return None
    checks = size_checks(achievement, ects)
    credits = achievement.credits
    eqf = achievement.level.eqf if achievement.level else None
    if credits is not None and credits.framework == CreditFramework.NZQF:
        value = credits.value
        if value < 5:
            return SizeClassification(band="nano", rule=NANO_RULE, checks=checks)
        return SizeClassification(band="micro" if value <= 40 else "larger", rule=NZQA_RULE, checks=checks)
    if eqf is not None and 6 <= eqf <= 7 and 100 <= hours <= 150:
        return SizeClassification(band="micro", rule=CMF_RULE, checks=checks)
    if hours < 50:
        return SizeClassification(band="nano", rule=NANO_RULE, checks=checks)
    return SizeClassification(band="micro" if hours <= 400 else "larger", rule=NZQA_RULE + ", applied by hours",
                              checks=checks)


# ----------------------------------------------------------------------------------------- conversion to ECTS


def to_ects(achievement: Achievement) -> list[EctsConversion]:
    """The ECTS figures for an achievement, each with its rule: by notional hours, and by convention where one
    exists (AQF has none: its volume is hours)."""
    figures: list[EctsConversion] = []
    credits = achievement.credits
    if credits is not None and credits.framework in CONVENTIONS:
        factor, rule = CONVENTIONS[credits.framework]
        method = "identity" if credits.framework == CreditFramework.ECTS else "convention"
        figures.append(EctsConversion(ects=round(credits.value * factor, 2), method=method, rule=rule))
    hours = notional_hours(achievement)
    if hours is not None and not (credits is not None and credits.framework == CreditFramework.ECTS):
        figures.append(
            EctsConversion(
                ects=round(hours / ECTS_HOURS, 2),
                method="hours",
                rule=f"{hours:g} h / {ECTS_HOURS} h per ECTS credit (ECTS Users' Guide 2015: 25-30 h)",
            )
        )
    return figures


def award_problems(
    learner_id: str | None, institution: Institution | None, achievement: Achievement, awarded_at: datetime | None
) -> list[Problem]:
    """Everything that stops an award: missing Annex I elements and inconsistent credits, all at once."""
    problems = missing_annex_i_elements(learner_id, institution, achievement, awarded_at)
    inconsistency = credit_inconsistency(achievement)
    return problems + ([inconsistency] if inconsistency else [])
