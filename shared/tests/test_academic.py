"""creditflow.academic: credits across frameworks and grades against a minimum, as three services compare them."""

import pytest

from creditflow.academic import ECTS_HOURS, convert, ects_per_unit, eqf_level, grade_meets
from creditflow.events import CreditFramework, CreditValue


@pytest.mark.parametrize(("value", "source", "target", "expected", "rule"), [
    (5, "ects", "ects", 5, "same framework (ects)"),
    (15, "uk-cats", "ects", 7.5, "2 UK credits = 1 ECTS (convention)"),
    (15, "scqf", "ects", 7.5, "2 SCQF credits = 1 ECTS (convention)"),
    (15, "nzqf", "ects", 7.5, "2 NZ credits = 1 ECTS (convention)"),
    (3, "us-semester", "ects", 6, "1 US semester credit = 2 ECTS (convention; institutions use 1.8-2.3)"),
    (100, "aqf-hours", "ects", 3.33, "AQF volume in hours / 30 h per ECTS credit"),
    (10, "ects", "uk-cats", 20, "already ECTS; 2 UK credits = 1 ECTS (convention)"),
    (3, "us-semester", "scqf", 12, "1 US semester credit = 2 ECTS (convention; institutions use 1.8-2.3); "
                                   "2 SCQF credits = 1 ECTS (convention)"),
    (5, "ects", "aqf-hours", 150, "already ECTS; AQF volume in hours / 30 h per ECTS credit"),
])
def test_credits_convert_through_ects_by_convention_rounded_and_with_the_rule(value, source, target, expected, rule):
    assert convert(CreditValue(value=value, framework=source), CreditFramework(target)) == (expected, rule)


def test_hours_count_at_the_upper_bound_of_the_ects_guide_so_they_never_over_credit():
    assert ECTS_HOURS == 30 and ects_per_unit(CreditFramework.AQF_HOURS)[0] == pytest.approx(1 / 30)


@pytest.mark.parametrize(("grade", "minimum", "meets"), [
    ("anything", None, True),  # no minimum: met
    (None, "C", None),  # no grade: a person judges
    ("Pass", "pass", True), (" merit ", "Pass", True), ("fail", "pass", False), ("U", "pass", False),
    ("FX", "pass", False), ("f", "pass", False), ("B", "pass", True), ("7.5", "pass", None),
    ("75%", "60%", True), ("59.5", "60", False), ("60", "60 %", True), ("15/20", "70%", True),
    ("13,5 / 20", "70", False), ("14/20", "70", True), ("15/20", "75,5", False), ("12/12,5", "96", True),
    ("99/100", "99", True), ("98/100", "98.5", False),
    ("B+", "B", True), ("b-", "B", False), ("A", "a", True), ("E", "FX", True), ("F", "E", False),
    ("B", "70%", None), ("excellent", "B", None), ("pass", "C", None),
])
def test_a_grade_meets_a_minimum_on_its_own_scale_and_otherwise_a_person_judges(grade, minimum, meets):
    assert grade_meets(grade, minimum) is meets


KEPT = "the issuer's stated level is kept"


@pytest.mark.parametrize(("eqf", "framework", "national", "expected", "source", "kept"), [
    (6, None, None, 6, "stated by the issuer as an EQF level; no national framework named", False),
    (6, "", 7, 6, "stated by the issuer as an EQF level; no national framework named", False),
    (4, "scqf", 10, 6, "Referencing the Scottish Credit", False),  # the framework's name in any case
    (None, " RQF ", 3, 4, "Referencing the qualifications frameworks of the United Kingdom", False),
    (5, "NZQCF", 7, 6, "Comparative Analysis of the European Qualifications Framework and the New Zealand", False),
    (5, "NZQF", 8, 5, "NZQF level 8 has no EQF level in Comparative Analysis", True),
    (5, "SCQF", 2, 5, "SCQF level 2 has no EQF level in Referencing the Scottish", True),
    (5, "SCQF", None, 5, "Referencing the Scottish Credit", True),
    (6, "AQF", 7, 6, "Comparative Analysis of the Australian Qualifications Framework", True),
    (6, "Atlantis QF", 7, 6, "creditflow knows no published EQF referencing of Atlantis QF; ", True),
])
def test_the_eqf_level_follows_the_published_referencing_and_names_its_source(eqf, framework, national, expected,
                                                                             source, kept):
    level = eqf_level(eqf, framework, national)
    assert level.eqf == expected and level.source.startswith(source)
    assert level.source.endswith(f"; {KEPT}") is kept
