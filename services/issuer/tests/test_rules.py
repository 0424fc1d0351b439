"""Award rules: every Annex I element, credit consistency per framework, size bands at their edges, conversions
with provenance."""

from datetime import UTC, datetime

import pytest
from contract_factories import achievement

from creditflow.academic import eqf_level
from creditflow.events import CreditFramework, CreditValue, Level
from creditflow.issuer import rules

INSTITUTION = rules.Institution("uni-tartu", "University of Tartu", "EE")
NOW = datetime(2026, 6, 1, tzinfo=UTC)


def credits(value, framework):
    return CreditValue(value=value, framework=framework)


def test_a_complete_award_has_no_problems():
    assert rules.award_problems("learner-1", INSTITUTION, achievement(), NOW) == []


@pytest.mark.parametrize(
    ("element", "field", "learner", "institution", "overrides", "awarded_at"),
    [
        ("1 identification of the learner", "learner_id", "", INSTITUTION, {}, NOW),
        ("2 title", "achievement.title", "l1", INSTITUTION, {"title": "x"}, NOW),  # replaced below: titles are required
        ("3 country/region of the issuer", "institution.country", "l1", rules.Institution("u", "U", ""), {}, NOW),
        ("4 awarding body", "institution.name", "l1", rules.Institution("u", "", "EE"), {}, NOW),
        ("5 date of issuing", "awarded_at", "l1", INSTITUTION, {}, None),
        ("6 learning outcomes", "achievement.learning_outcomes", "l1", INSTITUTION, {"learning_outcomes": []}, NOW),
        ("7 notional workload", "achievement.workload_hours", "l1", INSTITUTION,
         {"workload_hours": None, "credits": None}, NOW),
        ("8 level", "achievement.level", "l1", INSTITUTION, {"level": None}, NOW),
        ("8 level", "achievement.level", "l1", INSTITUTION, {"level": Level()}, NOW),
        ("9 type of assessment", "achievement.assessment_type", "l1", INSTITUTION, {"assessment_type": None}, NOW),
        ("10 form of participation", "achievement.participation_form", "l1", INSTITUTION,
         {"participation_form": None}, NOW),
        ("11 type of quality assurance", "achievement.quality_assurance_type", "l1", INSTITUTION,
         {"quality_assurance_type": None}, NOW),
    ],
)
def test_each_missing_annex_i_element_is_named(element, field, learner, institution, overrides, awarded_at):
    if field == "achievement.title":
        ach = achievement().model_copy(update={"title": ""})  # the model refuses blank titles; the rule still checks
    else:
        ach = achievement(**overrides)
    [problem] = rules.missing_annex_i_elements(learner, institution, ach, awarded_at)
    assert problem.field == field
    assert f"missing EU standard element {element}" in problem.rule and "Annex I" in problem.rule


def test_all_missing_elements_are_reported_at_once():
    ach = achievement(learning_outcomes=[], assessment_type=None, participation_form=None)
    fields = [p.field for p in rules.award_problems("l1", INSTITUTION, ach, NOW)]
    assert fields == ["achievement.learning_outcomes", "achievement.assessment_type", "achievement.participation_form"]


@pytest.mark.parametrize(
    ("value", "framework", "hours", "consistent"),
    [
        (5, CreditFramework.ECTS, 125, True),
        (5, CreditFramework.ECTS, 150, True),
        (5, CreditFramework.ECTS, 112.5, True),  # 22.5 h per credit: 25 h less the 10 % tolerance
        (5, CreditFramework.ECTS, 112, False),
        (5, CreditFramework.ECTS, 166, False),
        (10, CreditFramework.UK_CATS, 100, True),
        (10, CreditFramework.SCQF, 120, False),
        (15, CreditFramework.NZQF, 150, True),
        (3, CreditFramework.US_SEMESTER, 135, True),
        (3, CreditFramework.US_SEMESTER, 60, False),
        (120, CreditFramework.AQF_HOURS, 120, True),
        (120, CreditFramework.AQF_HOURS, 200, False),
    ],
)
def test_credits_must_fit_the_workload_for_their_framework(value, framework, hours, consistent):
    problem = rules.credit_inconsistency(achievement(credits=credits(value, framework), workload_hours=hours))
    assert (problem is None) == consistent
    if problem:
        assert problem.field == "achievement.credits" and "h per credit" in problem.rule


@pytest.mark.parametrize(
    ("value", "framework", "hours", "eqf", "band", "rule"),
    [
        (4, CreditFramework.NZQF, 40, 5, "nano", rules.NANO_RULE),
        (5, CreditFramework.NZQF, 50, 5, "micro", rules.NZQA_RULE),
        (40, CreditFramework.NZQF, 400, 5, "micro", rules.NZQA_RULE),
        (41, CreditFramework.NZQF, 410, 5, "larger", rules.NZQA_RULE),
        (4, CreditFramework.ECTS, 100, 6, "micro", rules.CMF_RULE),
        (5, CreditFramework.ECTS, 150, 7, "micro", rules.CMF_RULE),
        (4, CreditFramework.ECTS, 100, 4, "micro", rules.NZQA_RULE + ", applied by hours"),  # the CMF is EQF 6-7
        (5, CreditFramework.ECTS, 150, 8, "micro", rules.NZQA_RULE + ", applied by hours"),  # EQF 8 is outside the CMF
        (1, CreditFramework.ECTS, 30, 6, "nano", rules.NANO_RULE),
        (16, CreditFramework.ECTS, 400, 6, "micro", rules.NZQA_RULE + ", applied by hours"),
        (15, CreditFramework.ECTS, 450, 6, "larger", rules.NZQA_RULE + ", applied by hours"),
    ],
)
def test_size_band_and_the_rule_that_applied(value, framework, hours, eqf, band, rule):
    size = rules.classify_size(achievement(credits=credits(value, framework), workload_hours=hours, level=Level(eqf=eqf)))
    assert (size.band, size.rule) == (band, rule)


def test_each_framework_band_says_whether_the_award_fits_and_names_the_figure_outside():
    # 8 ECTS / 200 h at EQF 5: micro by NZQA hours, but outside every CMF bound and the nano convention.
    size = rules.classify_size(achievement(credits=credits(8, CreditFramework.ECTS), workload_hours=200,
                                           level=Level(eqf=5)), ects=8)
    checks = {(c.framework, c.unit): c for c in size.checks}
    assert checks[(rules.NZQA, "h")].fits and checks[(rules.NZQA, "h")].figure == 200
    cmf_hours = checks[(rules.CMF, "h")]
    assert (cmf_hours.fits, cmf_hours.lower, cmf_hours.upper, cmf_hours.figure) == (False, 100, 150, 200)
    assert cmf_hours.explanation == ("outside the Common Microcredential Framework micro band 100-150 h: "
                                     "the award's 200 h is above it")
    assert (checks[(rules.CMF, "ECTS")].fits, checks[(rules.CMF, "ECTS")].figure) == (False, 8)
    assert "the award's 5 EQF level is below it" in checks[(rules.CMF, "EQF level")].explanation
    assert not checks[(rules.NANO, "h")].fits


def test_nzqf_credits_are_checked_in_credits_against_the_nzqa_and_nano_bands():
    size = rules.classify_size(achievement(credits=credits(45, CreditFramework.NZQF), workload_hours=450))
    nzqa = next(c for c in size.checks if c.framework == rules.NZQA)
    assert (size.band, nzqa.unit, nzqa.figure, nzqa.fits) == ("larger", "credits", 45, False)
    assert "5-40 credits: the award's 45 credits is above it" in nzqa.explanation


@pytest.mark.parametrize(
    ("value", "framework", "hours", "expected"),
    [
        (5, CreditFramework.ECTS, 125, [(5, "identity")]),
        (20, CreditFramework.UK_CATS, 200, [(10, "convention"), (6.67, "hours")]),
        (20, CreditFramework.SCQF, 200, [(10, "convention"), (6.67, "hours")]),
        (15, CreditFramework.NZQF, 150, [(7.5, "convention"), (5, "hours")]),
        (3, CreditFramework.US_SEMESTER, 135, [(6, "convention"), (4.5, "hours")]),
        (300, CreditFramework.AQF_HOURS, 300, [(10, "hours")]),
    ],
)
def test_conversion_to_ects_gives_each_figure_with_its_rule(value, framework, hours, expected):
    figures = rules.to_ects(achievement(credits=credits(value, framework), workload_hours=hours))
    assert [(f.ects, f.method) for f in figures] == expected
    assert all(f.rule for f in figures)
    if framework in (CreditFramework.UK_CATS, CreditFramework.US_SEMESTER):
        assert "convention" in figures[0].rule and "h per ECTS credit" in figures[1].rule


@pytest.mark.parametrize(
    ("eqf", "framework", "national", "expected", "source"),
    [
        (None, "NZQF", 7, 6, "New Zealand Qualifications Framework: Joint Technical Report"),
        (7, "NZQF", 8, 7, "NZQF level 8 has no EQF level"),  # left unlevelled: the issuer's level stands
        (5, "SCQF", 8, 5, "SCQF) to the EQF, Report 2019"),
        (None, "RQF", 3, 4, "qualifications frameworks of the United Kingdom"),
        (6, "AQF", 7, 6, "not transcribed into creditflow; the issuer's stated level is kept"),
        (6, "US", None, 6, "no national qualifications framework"),
        (6, "KNQF", 6, 6, "creditflow knows no published EQF referencing of KNQF; the issuer's stated level is kept"),
        (6, None, None, 6, "stated by the issuer as an EQF level"),
    ],
)
def test_eqf_level_by_published_referencing_with_its_source(eqf, framework, national, expected, source):
    level = eqf_level(eqf, framework, national)
    assert level.eqf == expected and source in level.source


def test_an_achievement_that_no_award_could_carry_is_named_as_an_award_would_name_it():
    assert rules.achievement_problems(achievement()) == []
    incomplete = achievement(learning_outcomes=[], assessment_type=None, workload_hours=40)
    award = rules.award_problems("l1", INSTITUTION, incomplete, NOW)
    published = rules.achievement_problems(incomplete)
    assert [p.field for p in published] == ["learning_outcomes", "assessment_type", "credits"]
    assert [(f"achievement.{p.field}", p.rule) for p in published] == [(p.field, p.rule) for p in award]
