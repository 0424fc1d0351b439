"""Academic comparisons three services make the same way: credits across frameworks, grades against a minimum.

Conversion between credit systems is policy, not arithmetic (domain brief, section 3), so every converted figure
comes with the rule that produced it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from creditflow.events import CreditFramework, CreditValue

ECTS_HOURS = 30  # upper bound of the ECTS Users' Guide's 25-30 h: an hours-based figure never over-credits

CONVENTIONS: dict[CreditFramework, tuple[float, str]] = {
    CreditFramework.ECTS: (1.0, "already ECTS"),
    CreditFramework.UK_CATS: (0.5, "2 UK credits = 1 ECTS (convention)"),
    CreditFramework.SCQF: (0.5, "2 SCQF credits = 1 ECTS (convention)"),
    CreditFramework.NZQF: (0.5, "2 NZ credits = 1 ECTS (convention)"),
    CreditFramework.US_SEMESTER: (2.0, "1 US semester credit = 2 ECTS (convention; institutions use 1.8-2.3)"),
}
_AQF_RULE = f"AQF volume in hours / {ECTS_HOURS} h per ECTS credit"


def ects_per_unit(framework: CreditFramework) -> tuple[float, str]:
    """ECTS per credit unit of `framework`, by the accepted convention (AQF, which counts hours, by hours)."""
    if framework == CreditFramework.AQF_HOURS:
        return 1 / ECTS_HOURS, _AQF_RULE
    return CONVENTIONS[framework]


def convert(credits: CreditValue, to: CreditFramework) -> tuple[float, str]:
    """`credits` expressed in framework `to`, through ECTS by convention, and the rule that did it."""
    if credits.framework == to:
        return credits.value, f"same framework ({to.value})"
    source_factor, source_rule = ects_per_unit(credits.framework)
    target_factor, target_rule = ects_per_unit(to)
    value = round(credits.value * source_factor / target_factor, 2)
    rule = source_rule if to == CreditFramework.ECTS else f"{source_rule}; {target_rule}"
    return value, rule


# ------------------------------------------------------------------------------------------------ grades

# The grade a recognition decision states for a module recognised under a policy without a grading table: stacking
# lets it meet a programme's min_grade unless the programme requires recognised credit to carry a grade.
RECOGNISED_WITHOUT_GRADE = "pass"

# Letter scales, best first. The ECTS grading scale (A-E pass, FX/F fail) and the common US/UK letter scale.
_LETTERS = ["A+", "A", "A-", "B+", "B", "B-", "C+", "C", "C-", "D+", "D", "D-", "E", "FX", "F"]
_PASS_WORDS = {"pass", "passed", "p", "satisfactory", "s", "credit", "merit", "distinction", "high distinction"}
_FAIL_WORDS = {"fail", "failed", "unsatisfactory", "u", "nc"}
_NUMBER = re.compile(r"^\s*(\d+(?:[.,]\d+)?)\s*(%|/\s*\d+(?:[.,]\d+)?)?\s*$")


def _number(grade: str) -> float | None:
    match = _NUMBER.match(grade)
    if match is None:
        return None
    value = float(match.group(1).replace(",", "."))
    scale = match.group(2)
    if scale and scale.startswith("/"):
        return value / float(scale[1:].strip().replace(",", ".")) * 100
    return value


def grade_meets(grade: str | None, minimum: str | None) -> bool | None:
    """Whether `grade` is at least `minimum`: True, False, or None when the two cannot be compared (no grade, or
    grades on different scales), which a person must then judge. Numbers compare as numbers ('75%', '15/20' as
    percentages); letters on the A-F scale; 'pass' is met by any passing grade."""
    if minimum is None:
        return True
    if grade is None:
        return None
    g, m = grade.strip(), minimum.strip()
    if m.lower() in _PASS_WORDS:
        if g.lower() in _PASS_WORDS:
            return True
        if g.lower() in _FAIL_WORDS or g.upper() in ("FX", "F"):
            return False
        return True if g.upper() in _LETTERS else None
    gn, mn = _number(g), _number(m)
    if gn is not None and mn is not None:
        return gn >= mn
    if g.upper() in _LETTERS and m.upper() in _LETTERS:
        return _LETTERS.index(g.upper()) <= _LETTERS.index(m.upper())
    return None


# ------------------------------------------------------------------------------------------------ EQF referencing

_UK_2010 = ("Referencing the qualifications frameworks of the United Kingdom to the European Qualifications "
            "Framework (UK EQF National Coordination Points, 2009, published 2010)")
_SCQF_2019 = ("Referencing the Scottish Credit and Qualifications Framework (SCQF) to the EQF, Report 2019 (SCQF "
              "Partnership; accepted by the EQF Advisory Group, December 2018), confirming the 2010 referencing")
_NZQF_2016 = ("Comparative Analysis of the European Qualifications Framework and the New Zealand Qualifications "
              "Framework: Joint Technical Report (European Commission and NZQA, 2016, ISBN 978-92-79-63854-1); "
              "NZQF level 8 was left unlevelled")
_AQF_2016 = ("Comparative Analysis of the Australian Qualifications Framework and the EQF for Lifelong Learning: Joint "
             "Technical Report (Australian Government and European Commission, 2016, ISBN 978-92-79-63855-8); its "
             "level comparison is not transcribed into creditflow")


@dataclass(frozen=True)
class Referencing:
    """How a national framework's levels relate to the EQF, and the published source that says so."""

    levels: dict[int, int | None]  # national level -> EQF level; None: published as unlevelled
    source: str


_ENGLAND_WALES_NI = Referencing({1: 2, 2: 3, 3: 4, 4: 5, 5: 5, 6: 6, 7: 7, 8: 8}, _UK_2010)
# National qualifications frameworks of the credit systems creditflow accepts, by the name an issuer states in
# `level.national_framework`. A framework with no level table (`levels` empty) keeps the issuer's stated EQF level.
EQF_REFERENCING: dict[str, Referencing] = {
    "RQF": _ENGLAND_WALES_NI,  # England and Northern Ireland (uk-cats); entry levels 1-3 map to EQF 1
    "QCF": _ENGLAND_WALES_NI,
    "FHEQ": _ENGLAND_WALES_NI,  # higher education in England, Wales and Northern Ireland, levels 4-8
    "CQFW": _ENGLAND_WALES_NI,  # Wales
    "SCQF": Referencing({3: 1, 4: 2, 5: 3, 6: 4, 7: 5, 8: 5, 9: 6, 10: 6, 11: 7, 12: 8}, _SCQF_2019),
    "NZQF": Referencing({1: 2, 2: 3, 3: 4, 4: 4, 5: 5, 6: 5, 7: 6, 8: None, 9: 7, 10: 8}, _NZQF_2016),
    "AQF": Referencing({}, _AQF_2016),
    "US": Referencing({}, "the United States has no national qualifications framework, so none is referenced to "
                          "the EQF"),
}
EQF_REFERENCING["NZQCF"] = EQF_REFERENCING["NZQF"]
KEPT = "the issuer's stated level is kept"


@dataclass(frozen=True)
class EqfLevel:
    eqf: int | None
    source: str


def eqf_level(eqf: int | None, national_framework: str | None, national_level: int | None) -> EqfLevel:
    """The EQF level of a stated level, by the published referencing of its national framework where that gives a
    level-to-level table, else the issuer's stated EQF level; always with the source, or why there is none."""
    if not national_framework:
        return EqfLevel(eqf, "stated by the issuer as an EQF level; no national framework named")
    referencing = EQF_REFERENCING.get(national_framework.strip().upper())
    if referencing is None:
        return EqfLevel(eqf, f"creditflow knows no published EQF referencing of {national_framework}; {KEPT}")
    if not referencing.levels or national_level is None:
        return EqfLevel(eqf, f"{referencing.source}; {KEPT}")
    if national_level not in referencing.levels or referencing.levels[national_level] is None:
        return EqfLevel(eqf, f"{national_framework} level {national_level} has no EQF level in {referencing.source}; "
                             f"{KEPT}")
    return EqfLevel(referencing.levels[national_level], referencing.source)
