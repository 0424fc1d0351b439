"""Academic comparisons three services make the same way: credits across frameworks, grades against a minimum.

Conversion between credit systems is policy, not arithmetic (domain brief, section 3), so every converted figure
comes with the rule that produced it.
"""

from __future__ import annotations

import re

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
