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
        ("8 level (EQF or national) of the learning experience", "achievement.level", "l1", INSTITUTION,
         {"level": None}, NOW),
        ("8 level (EQF or national) of the learning experience", "achievement.level", "l1", INSTITUTION,
         {"level": Level()}, NOW),
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


def test_an_inconsistent_credit_figure_is_reported_with_the_missing_elements():
    ach = achievement(credits=credits(5, CreditFramework.ECTS), workload_hours=300, learning_outcomes=[])
    assert [p.field for p in rules.award_problems("l1", INSTITUTION, ach, NOW)] == [
        "achievement.learning_outcomes", "achievement.credits"]


@pytest.mark.parametrize(("overrides", "present"), [
    ({"workload_hours": None}, True),  # credits alone state the workload (element 7)
    ({"credits": None}, True),
    ({"level": Level(national_framework="SCQF", national_level=7)}, True),  # a national level is a level
])
def test_either_figure_states_the_workload_and_either_level_the_level(overrides, present):
    assert (rules.missing_annex_i_elements("l1", INSTITUTION, achievement(**overrides), NOW) == []) is present


@pytest.mark.parametrize(("value", "hours", "consistent"), [(5, 165, True), (5, 165.5, False)])
def test_the_tolerance_admits_the_upper_hours_figure_plus_ten_percent(value, hours, consistent):
    problem = rules.credit_inconsistency(achievement(credits=credits(value, CreditFramework.ECTS), workload_hours=hours))
    assert (problem is None) is consistent


@pytest.mark.parametrize(("overrides", "hours"), [
    ({"workload_hours": 200, "credits": credits(5, CreditFramework.ECTS)}, 200),  # stated
    ({"workload_hours": None, "credits": credits(5, CreditFramework.ECTS)}, 150),  # 30 h per ECTS credit
    ({"workload_hours": None, "credits": credits(3, CreditFramework.US_SEMESTER)}, 135),
    ({"workload_hours": None, "credits": None}, None),
])
def test_notional_hours_are_stated_or_derived_at_the_upper_hours_figure(overrides, hours):
    assert rules.notional_hours(achievement(**overrides)) == hours


def test_credits_without_a_workload_are_consistent_and_a_workload_without_credits_too():
    assert rules.credit_inconsistency(achievement(workload_hours=None)) is None
    assert rules.credit_inconsistency(achievement(credits=None, workload_hours=999)) is None


def band_checks(size):
    return [(c.framework, c.band, c.lower, c.upper, c.unit, c.figure, c.fits) for c in size.checks]


@pytest.mark.parametrize(("value", "framework", "hours", "eqf", "ects", "expected"), [
    # Every band at its lower bound (100 h, 4 ECTS, EQF 6 for the CMF), which fits.
    (4, CreditFramework.ECTS, 100, 6, 4, [(rules.NZQA, "micro", 50, 400, "h", 100, True),
                                          (rules.CMF, "micro", 100, 150, "h", 100, True),
                                          (rules.CMF, "micro", 4, 6, "ECTS", 4, True),
                                          (rules.CMF, "micro", 6, 7, "EQF level", 6, True),
                                          (rules.NANO, "nano", 10, 40, "h", 100, False)]),
    (6, CreditFramework.ECTS, 150, 7, 6, [(rules.NZQA, "micro", 50, 400, "h", 150, True),
                                          (rules.CMF, "micro", 100, 150, "h", 150, True),
                                          (rules.CMF, "micro", 4, 6, "ECTS", 6, True),
                                          (rules.CMF, "micro", 6, 7, "EQF level", 7, True),
                                          (rules.NANO, "nano", 10, 40, "h", 150, False)]),
    (16, CreditFramework.ECTS, 400, 8, 16.1, [(rules.NZQA, "micro", 50, 400, "h", 400, True),
                                              (rules.CMF, "micro", 100, 150, "h", 400, False),
                                              (rules.CMF, "micro", 4, 6, "ECTS", 16.1, False),
                                              (rules.CMF, "micro", 6, 7, "EQF level", 8, False),
                                              (rules.NANO, "nano", 10, 40, "h", 400, False)]),
    (2, CreditFramework.ECTS, 50, None, 3.9, [(rules.NZQA, "micro", 50, 400, "h", 50, True),
                                              (rules.CMF, "micro", 100, 150, "h", 50, False),
                                              (rules.CMF, "micro", 4, 6, "ECTS", 3.9, False),
                                              (rules.CMF, "micro", 6, 7, "EQF level", None, False),
                                              (rules.NANO, "nano", 10, 40, "h", 50, False)]),
    (1, CreditFramework.NZQF, 10, 5, None, [(rules.NZQA, "micro", 5, 40, "credits", 1, False),
                                            (rules.CMF, "micro", 100, 150, "h", 10, False),
                                            (rules.CMF, "micro", 4, 6, "ECTS", None, False),
                                            (rules.CMF, "micro", 6, 7, "EQF level", 5, False),
                                            (rules.NANO, "nano", 1, 4, "credits", 1, True)]),
    (4, CreditFramework.UK_CATS, 40, 5, 2, [(rules.NZQA, "micro", 5, 40, "credits", 4, False),
                                            (rules.CMF, "micro", 100, 150, "h", 40, False),
                                            (rules.CMF, "micro", 4, 6, "ECTS", 2, False),
                                            (rules.CMF, "micro", 6, 7, "EQF level", 5, False),
                                            (rules.NANO, "nano", 1, 4, "credits", 4, True)]),
    (1, CreditFramework.AQF_HOURS, 1, None, None, [(rules.NZQA, "micro", 50, 400, "h", 1, False),
                                                  (rules.CMF, "micro", 100, 150, "h", 1, False),
                                                  (rules.CMF, "micro", 4, 6, "ECTS", None, False),
                                                  (rules.CMF, "micro", 6, 7, "EQF level", None, False),
                                                  (rules.NANO, "nano", 10, 40, "h", 1, False)]),
    (40, CreditFramework.AQF_HOURS, 40, None, None, [(rules.NZQA, "micro", 50, 400, "h", 40, False),
                                                    (rules.CMF, "micro", 100, 150, "h", 40, False),
                                                    (rules.CMF, "micro", 4, 6, "ECTS", None, False),
                                                    (rules.CMF, "micro", 6, 7, "EQF level", None, False),
                                                    (rules.NANO, "nano", 10, 40, "h", 40, True)]),
])
def test_each_band_is_checked_at_its_own_bounds_in_its_own_unit(value, framework, hours, eqf, ects, expected):
    level = Level(eqf=eqf) if eqf else None
    size = rules.classify_size(achievement(credits=credits(value, framework), workload_hours=hours, level=level), ects)
    assert band_checks(size) == expected


def test_a_band_check_explains_where_the_figure_lies_or_that_there_is_none():
    size = rules.classify_size(achievement(credits=credits(5, CreditFramework.ECTS), workload_hours=125,
                                           level=Level(eqf=6)))
    explanations = [c.explanation for c in size.checks]
    assert explanations == [
        "fits the NZQA micro-credential micro band 50-400 h: the award's 125 h is within it",
        "fits the Common Microcredential Framework micro band 100-150 h: the award's 125 h is within it",
        "outside the Common Microcredential Framework micro band 4-6 ECTS: the award states no ECTS",
        "fits the Common Microcredential Framework micro band 6-7 EQF level: the award's 6 EQF level is within it",
        "outside the nano-credential convention nano band 10-40 h: the award's 125 h is above it"]
    assert [c.fits for c in size.checks] == [True, True, False, True, False]


@pytest.mark.parametrize(("value", "framework", "hours", "eqf", "band", "rule"), [
    (2, CreditFramework.ECTS, 50, None, "micro", rules.NZQA_RULE + ", applied by hours"),  # 50 h is no longer nano
    (2, CreditFramework.ECTS, 50.5, 6, "micro", rules.NZQA_RULE + ", applied by hours"),
    (2, CreditFramework.ECTS, 49.5, 6, "nano", rules.NANO_RULE),
    (6, CreditFramework.ECTS, 150.5, 6, "micro", rules.NZQA_RULE + ", applied by hours"),  # past the CMF's 150 h
    (16, CreditFramework.ECTS, 400.5, 6, "larger", rules.NZQA_RULE + ", applied by hours"),
])
def test_size_band_edges_by_hours_and_every_classification_carries_its_checks(value, framework, hours, eqf, band,
                                                                              rule):
    ach = achievement(credits=credits(value, framework), workload_hours=hours, level=Level(eqf=eqf) if eqf else None)
    size = rules.classify_size(ach, 3)
    assert (size.band, size.rule) == (band, rule) and size.checks == rules.size_checks(ach, 3)
    nzqf = achievement(credits=credits(4, CreditFramework.NZQF), workload_hours=40)
    assert rules.classify_size(nzqf).checks == rules.size_checks(nzqf, None)


def test_conversions_are_rounded_to_two_places():
    figures = rules.to_ects(achievement(credits=credits(3.338, CreditFramework.UK_CATS), workload_hours=None))
    assert [(f.ects, f.method) for f in figures] == [(1.67, "convention"), (1.11, "hours")]
