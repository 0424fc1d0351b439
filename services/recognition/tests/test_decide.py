"""The recognition decision, case by case: every element finding and every outcome, without Kafka or MongoDB."""

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest
from recognition_factories import (
    NOW,
    OUTCOMES,
    agreement,
    case,
    esco,
    module,
    offered,
    policy,
    programme,
)

from creditflow.events import (
    AssessmentType,
    CreditValue,
    EctsConversion,
    LearningOutcome,
    Level,
    ParticipationForm,
    QualityAssurance,
)
from creditflow.recognition.domain import (
    Precedent,
    achievement_from_credential,
    decide,
    ects_of,
    grade_as_recognised,
    fingerprint,
    in_force,
)
from creditflow.recognition.outcomes import best_matches, content_words, coverage, text_similarity


def finding(decision, element):
    return next(f for f in decision.findings if f.element == element)


def test_an_accredited_credential_that_matches_well_is_granted_with_every_element_comparable():
    decision = decide(case(), policy(), [], [], NOW)
    assert decision.outcome == "granted"
    [credit] = decision.recognised
    assert (credit.module_id, credit.credits.value, credit.basis) == ("mod-ml", 6, "equivalence")
    for element in ("level", "workload", "quality", "profile", "learning outcomes"):
        assert finding(decision, element).finding == "comparable", element
    assert finding(decision, "authenticity").finding == "passed"
    assert "100% of the module's outcomes covered" in finding(decision, "learning outcomes").evidence


CASES = [
    # (what, case, policy, expected outcome, element, expected finding, words in the reasons or evidence)
    ("participation-only badge", case(offered(assessment_type=AssessmentType.PARTICIPATION_ONLY)), policy(),
     "conditional", "assessment", "failed", "participation only"),
    ("level below the module, policy partial", case(offered(level=Level(eqf=5))), policy(),
     "partial", "level", "substantial-difference", "electives"),
    ("level below the module, policy denied", case(offered(level=Level(eqf=5))), policy(level_difference="denied"),
     "denied", "level", "substantial-difference", "EQF 5 offered, module at EQF 6"),
    ("level below the policy minimum", case(offered(level=Level(eqf=4))), policy(min_level=Level(eqf=5)),
     "denied", "level", "substantial-difference", "minimum EQF 5"),
    ("unaccredited provider", case(replace(offered(), issuer_quality=())), policy(),
     "referred", "quality", "not-assessed", "not for refusal"),
    ("QA by a body the policy does not accept", case(replace(offered(), issuer_quality=(QualityAssurance(
        body="Self-declared", scope="institutional", valid_from=date(2020, 1, 1)),))), policy(),
     "referred", "quality", "not-assessed", "EKKA"),
    ("workload short of the module", case(offered(ects=4)), policy(),
     "partial", "workload", "substantial-difference", "67% of the module"),
    ("outcomes not covered", case(offered(learning_outcomes=[LearningOutcome(statement="Bake sourdough bread")],
                                          field_of_study="1013")), policy(),
     "denied", "learning outcomes", "substantial-difference", "0% of the module's outcomes covered"),
    ("outcomes covered at low confidence", case(offered(learning_outcomes=[LearningOutcome(statement=s)
                                                                           for s in OUTCOMES[:1]])),
     policy(outcome_overlap_threshold=0.5), "referred", "learning outcomes", "not-assessed", "low confidence"),
    ("credential too old", case(replace(offered(), awarded_at=datetime(2019, 1, 1, tzinfo=UTC))),
     policy(recency_years=5), "denied", "recency", "failed", "too old"),
    ("grade below the minimum", case(replace(offered(), grade="D")), policy(min_grade="C"),
     "denied", "grade", "failed", "grade D"),
    ("grade on another scale", case(replace(offered(), grade="very good")), policy(min_grade="C"),
     "referred", "grade", "not-assessed", "cannot be compared"),
    ("revoked credential", case(replace(offered(), authenticity="revoked", authenticity_reasons=("revoked by issuer",))),
     policy(), "denied", "authenticity", "failed", "revoked by issuer"),
    ("forged credential", case(replace(offered(), authenticity="invalid",
                                       authenticity_reasons=("signature does not verify",))),
     policy(), "denied", "authenticity", "failed", "signature does not verify"),
    ("status unknown", case(replace(offered(), authenticity="unknown", authenticity_reasons=("list unreachable",))),
     policy(), "referred", "authenticity", "not-assessed", "list unreachable"),
    ("transfer allowance exhausted", case(recognised_before=36), policy(max_recognised_share=0.3),
     "denied", "transfer allowance", "failed", "36 already recognised, 0 of 36 left"),
    ("transfer allowance nearly used", case(recognised_before=33), policy(max_recognised_share=0.3),
     "partial", "transfer allowance", "failed", "3 recognised"),
]


@pytest.mark.parametrize(("what", "the_case", "the_policy", "outcome", "element", "expected", "words"), CASES,
                         ids=[c[0] for c in CASES])
def test_each_element_and_policy_check_leads_to_its_outcome(what, the_case, the_policy, outcome, element, expected,
                                                            words):
    decision = decide(the_case, the_policy, [], [], NOW)
    assert decision.outcome == outcome, decision.reasons
    found = finding(decision, element)
    assert found.finding == expected
    assert words in found.evidence + " ".join(decision.reasons) + found.rule
    assert decision.reasons, "every decision states its reasons"


def test_a_level_difference_with_partial_policy_recognises_the_credits_as_electives_not_the_module():
    [credit] = decide(case(offered(level=Level(eqf=5))), policy(), [], [], NOW).recognised
    assert credit.basis == "elective" and credit.credits.value == 6


def test_a_short_workload_recognises_the_credits_offered():
    [credit] = decide(case(offered(ects=4)), policy(), [], [], NOW).recognised
    assert credit.credits.value == 4.0


def test_a_participation_only_badge_gets_a_condition_and_no_credits():
    decision = decide(case(offered(assessment_type=AssessmentType.PARTICIPATION_ONLY)), policy(), [], [], NOW)
    assert decision.recognised == []
    assert decision.conditions == ("pass the assessment of module mod-ml (Machine learning)",)


def test_an_agreement_in_force_recognises_automatically_and_is_cited():
    # The agreement covers it even where the five elements would not (an unaccredited MOOC, fewer credits).
    the_case = case(replace(offered(ects=4), issuer_quality=()))
    decision = decide(the_case, policy(), [agreement()], [], NOW)
    assert decision.outcome == "granted"
    assert decision.agreement_ids == ["ag-1"]
    assert "agreement ag-1" in finding(decision, "articulation agreement").evidence
    assert decision.recognised[0].credits.value == 6


def test_an_expired_agreement_falls_back_to_the_five_elements():
    expired = agreement(effective_until=date(2026, 6, 30))
    decision = decide(case(replace(offered(ects=4), issuer_quality=())), policy(), [expired], [], NOW)
    assert decision.agreement_ids == []
    assert decision.outcome == "referred"  # quality unverifiable
    assert finding(decision, "workload").finding == "substantial-difference"


def test_an_agreement_for_another_module_does_not_apply():
    decision = decide(case(offered(ects=4)), policy(), [agreement(module_id="mod-other")], [], NOW)
    assert decision.agreement_ids == [] and decision.outcome == "partial"


def test_a_precedent_on_the_same_facts_is_followed_and_cited():
    unaccredited = replace(offered(), issuer_quality=())
    assert decide(case(unaccredited), policy(), [], [], NOW).outcome == "referred"
    precedent = Precedent(decision_id="dec-earlier", module_id="mod-ml", source_institution_id="mooc-x",
                          achievement_id="ach-ml", fingerprint=fingerprint(unaccredited.achievement, module(), 1),
                          verdict="granted", share=1.0, basis="equivalence", decided_by="registrar:anna")
    decision = decide(case(unaccredited), policy(), [], [precedent], NOW)
    assert decision.outcome == "granted"
    assert decision.precedent_ids == ["dec-earlier"]
    assert "registrar:anna" in finding(decision, "precedent").evidence


def test_a_precedent_on_other_facts_is_not_followed():
    precedent = Precedent(decision_id="dec-earlier", module_id="mod-ml", source_institution_id="mooc-x",
                          achievement_id="ach-ml", fingerprint="another-achievement-version", verdict="denied",
                          share=0.0, basis="equivalence", decided_by="registrar:anna")
    decision = decide(case(), policy(), [], [precedent], NOW)
    assert decision.outcome == "granted" and decision.precedent_ids == []


def test_a_precedent_still_meets_the_policy_checks_of_this_learner():
    precedent = Precedent(decision_id="dec-earlier", module_id="mod-ml", source_institution_id="mooc-x",
                          achievement_id="ach-ml", fingerprint=fingerprint(offered().achievement, module(), 1),
                          verdict="granted", share=1.0, basis="equivalence", decided_by="registrar:anna")
    low_grade = replace(offered(), grade="E")
    assert decide(case(low_grade), policy(min_grade="C"), [], [precedent], NOW).outcome == "denied"
    old = replace(offered(), awarded_at=datetime(2019, 1, 1, tzinfo=UTC))
    assert decide(case(old), policy(recency_years=5), [], [precedent], NOW).outcome == "denied"


def test_a_module_assessed_on_one_credential_names_its_facts_so_it_can_serve_as_a_precedent():
    facts = (fingerprint(offered().achievement, module(), 1), "mooc-x", "ach-ml")
    assessed = module_of(decide(case(), policy(), [], [], NOW))
    assert (assessed.fingerprint, assessed.source_institution_id, assessed.achievement_id) == facts
    precedent = Precedent(decision_id="dec-earlier", module_id="mod-ml", source_institution_id="mooc-x",
                          achievement_id="ach-ml", fingerprint=facts[0], verdict="granted", share=1.0,
                          basis="equivalence", decided_by="registrar:anna")
    followed = module_of(decide(case(), policy(), [], [precedent], NOW))
    assert (followed.fingerprint, followed.source_institution_id, followed.achievement_id) == facts


def test_when_the_policy_requires_a_registrar_every_case_is_referred_with_the_proposed_outcome():
    decision = decide(case(), policy(automatic_decisions=False), [], [], NOW)
    assert decision.outcome == "referred" and decision.proposed == "granted"
    assert "requires a registrar" in decision.reasons[0]


def test_two_modules_one_covered_gives_partial_recognition():
    other = module("mod-stats", title="Statistics",
                   learning_outcomes=[LearningOutcome(statement="Derive maximum likelihood estimators")])
    decision = decide(case(prog=programme(module(), other), module_ids=("mod-ml", "mod-stats")), policy(), [], [],
                      NOW)
    assert decision.outcome == "partial"
    assert [r.module_id for r in decision.recognised] == ["mod-ml"]
    assert any(r.startswith("mod-stats: denied") for r in decision.reasons)


def test_each_credential_counts_toward_one_module_only():
    other = module("mod-ml-2", title="Machine learning again")
    decision = decide(case(prog=programme(module(), other), module_ids=("mod-ml", "mod-ml-2")), policy(), [], [], NOW)
    assert [r.module_id for r in decision.recognised] == ["mod-ml"]


def test_the_same_case_decided_twice_gives_the_same_decision():
    assert decide(case(offered(ects=4)), policy(), [], [], NOW) == decide(case(offered(ects=4)), policy(), [], [], NOW)


# ------------------------------------------------------------------------------------------------ outcome matching


def test_shared_esco_alignment_matches_outcomes_worded_differently():
    target = LearningOutcome(statement="Use ML", alignments=esco("http://data.europa.eu/esco/skill/ml"))
    other = LearningOutcome(statement="Apply machine learning", alignments=esco("http://data.europa.eu/esco/skill/ml"))
    [match] = best_matches([target], [("c1", other)])
    assert match.score == 1.0 and match.method.startswith("alignment")


def test_text_similarity_is_deterministic_and_ignores_stop_words_and_word_endings():
    assert text_similarity("Analysing data sets", "analyse the data set") == 1.0
    assert text_similarity("Bake bread", "Train a classifier") == 0.0
    assert 0 < text_similarity("Train a classifier", "Train and evaluate a classifier") < 1


def test_coverage_counts_covered_outcomes():
    targets = [LearningOutcome(statement=s) for s in OUTCOMES]
    matches = best_matches(targets, [("c1", LearningOutcome(statement=OUTCOMES[0]))])
    assert coverage(matches) == pytest.approx(1 / 3, abs=0.001)


# ------------------------------------------------------------------------------------------------ outside credentials


def test_an_open_badges_credential_from_outside_reads_as_its_achievement_with_the_eu_elements():
    vc = {"id": "urn:uuid:outside-1", "credentialSubject": {"achievement": {
        "id": "https://mooc.example/achievements/ach-ml/", "name": "Applied machine learning",
        "achievementType": "Course", "fieldOfStudy": "0613", "creditsAvailable": 99, "euMicroCredential": {
            "learningOutcomes": [{"statement": OUTCOMES[0]}], "workloadHours": 150,
            "credits": {"value": 6, "framework": "ects"}, "level": {"eqf": 6}, "assessmentType": "project",
            "participationForm": "online", "qualityAssuranceType": "external"}}}}
    read = achievement_from_credential(vc, "mooc-x")
    assert (read.achievement_id, read.institution_id, read.title, read.achievement_type) == (
        "ach-ml", "mooc-x", "Applied machine learning", "Course")
    assert [o.statement for o in read.learning_outcomes] == [OUTCOMES[0]]
    assert (read.workload_hours, read.credits, read.level, read.field_of_study) == (
        150, CreditValue(value=6, framework="ects"), Level(eqf=6), "0613")
    assert (read.assessment_type, read.participation_form, read.quality_assurance_type) == (
        AssessmentType.PROJECT, ParticipationForm.ONLINE, "external")


def test_without_eu_elements_the_credits_available_count_and_the_credential_names_the_achievement():
    vc = {"id": "https://mooc.example/credentials/c-1", "credentialSubject": {"achievement": {
        "name": "Data literacy", "creditsAvailable": 3}}}
    read = achievement_from_credential(vc, "mooc-x")
    assert (read.achievement_id, read.achievement_type, read.credits) == (
        "c-1", "MicroCredential", CreditValue(value=3, framework="ects"))
    assert (read.learning_outcomes, read.workload_hours, read.level, read.field_of_study) == ([], None, None, None)
    bare = achievement_from_credential({"id": "urn:x", "credentialSubject": {"achievement": {"name": "N"}}}, "m")
    assert bare.credits is None


def test_the_achievement_id_is_the_last_segment_of_its_iri_whatever_it_ends_with():
    def read(iri):
        return achievement_from_credential({"credentialSubject": {"achievement": {"id": iri, "name": "N"}}}, "m")

    assert read("https://mooc.example/achievements/ML-101X/").achievement_id == "ML-101X"
    assert read("urn:uuid:5f1c").achievement_id == "urn:uuid:5f1c"


@pytest.mark.parametrize("credential", [{}, {"credentialSubject": "a string"},
                                        {"credentialSubject": {"achievement": "a string"}},
                                        {"credentialSubject": {"achievement": {"id": "urn:a"}}}])
def test_a_credential_without_an_achievement_name_is_refused_saying_so(credential):
    with pytest.raises(ValueError, match=r"^credentialSubject\.achievement\.name is missing$"):
        achievement_from_credential(credential, "mooc-x")


def test_an_achievement_that_breaks_the_contract_is_refused_naming_the_field():
    vc = {"id": "urn:x", "credentialSubject": {"achievement": {"name": "N", "euMicroCredential": {"level": {"eqf": 12}}}}}
    with pytest.raises(ValueError, match=r"(?s)^credentialSubject\.achievement: .*level\.eqf"):
        achievement_from_credential(vc, "mooc-x")


# ------------------------------------------------------------------------------------------------ the figures behind the elements


def test_the_policy_s_conversion_method_picks_the_ects_figure_and_a_fallback_is_named():
    both = replace(offered(), ects=(EctsConversion(ects=5, method="hours", rule="150 h at 30 h per ECTS"),
                                    EctsConversion(ects=6, method="convention", rule="2 UK credits = 1 ECTS")))
    assert ects_of(both, "convention") == (6, "2 UK credits = 1 ECTS")
    assert ects_of(both, "hours") == (5, "150 h at 30 h per ECTS")
    identity = replace(offered(), ects=(EctsConversion(ects=6, method="identity", rule="already ECTS"),))
    assert ects_of(identity, "convention") == (6, "already ECTS")
    assert ects_of(identity, "hours") == (6, "already ECTS (no hours figure; used identity)")
    hours_only = replace(offered(), ects=(EctsConversion(ects=5, method="hours", rule="150 h"),))
    assert ects_of(hours_only, "convention") == (5, "150 h (no convention figure; used hours)")


def test_without_conversions_the_credits_are_converted_and_without_credits_there_is_no_figure():
    uk = replace(offered(), ects=(), achievement=offered().achievement.model_copy(
        update={"credits": CreditValue(value=20, framework="uk-cats")}))
    value, rule = ects_of(uk, "convention")
    assert value == 10 and rule
    none = replace(offered(), ects=(), achievement=offered().achievement.model_copy(update={"credits": None}))
    assert ects_of(none, "convention") is None


@pytest.mark.parametrize(("offered_level", "module_level"), [(None, Level(eqf=6)), (Level(eqf=6), None)])
def test_a_level_missing_on_either_side_is_not_assessed_and_shows_no_difference(offered_level, module_level):
    the_case = case(offered(level=offered_level), prog=programme(module(level=module_level)))
    found = finding(decide(the_case, policy(), [], [], NOW), "level")
    assert (found.finding, found.evidence, found.rule) == (
        "not-assessed", "an EQF level is missing on one side; no difference can be shown",
        "EQF levels compared; the lowest offered level counts")


def test_quality_assurance_counts_from_its_first_to_its_last_day_at_the_award():
    awarded = offered().awarded_at.date()

    def assured(valid_from, valid_until=None):
        qa = QualityAssurance(body="EKKA", scope="institutional", valid_from=valid_from, valid_until=valid_until)
        return decide(case(replace(offered(), issuer_quality=(qa,))), policy(), [], [], NOW).outcome

    assert assured(awarded) == "granted" and assured(date(2020, 1, 1), awarded) == "granted"
    assert assured(awarded + timedelta(days=1)) == "referred"
    assert assured(date(2020, 1, 1), awarded - timedelta(days=1)) == "referred"


def test_an_agreement_is_in_force_from_its_first_to_its_last_day():
    today = NOW.date()
    assert in_force(agreement(effective_from=today), today)
    assert in_force(agreement(effective_until=today), today)
    assert not in_force(agreement(effective_from=today + timedelta(days=1)), today)
    assert not in_force(agreement(effective_until=today - timedelta(days=1)), today)


def test_recency_counts_years_of_365_and_a_quarter_days():
    def awarded(days_before):
        return replace(offered(), awarded_at=NOW - timedelta(days=days_before))

    assert decide(case(awarded(1461)), policy(recency_years=4), [], [], NOW).outcome == "granted"
    assert decide(case(awarded(1462)), policy(recency_years=4), [], [], NOW).outcome == "denied"
    assert decide(case(awarded(100)), policy(recency_years=1), [], [], NOW).outcome == "granted"


def test_a_module_s_reasons_are_those_of_its_most_severe_finding():
    weak = replace(offered(), grade="D", issuer_quality=())  # denied for the grade, referred for quality
    decision = decide(case(weak), policy(min_grade="C"), [], [], NOW)
    assert decision.outcome == "denied" and decision.reasons == ("mod-ml: denied (grade D)",)


def test_each_outcome_match_explains_itself_in_one_line():
    target = LearningOutcome(statement="Train and evaluate a classifier")
    [none] = best_matches([target], [])
    assert none.explain() == "'Train and evaluate a classifier': not covered (no offered outcome)"
    [covered] = best_matches([target], [("c1", LearningOutcome(statement="Train and evaluate a classifier"))])
    assert covered.explain() == ("'Train and evaluate a classifier': covered by 'Train and evaluate a classifier' "
                                 "of c1 (text similarity, score 1.00)")
    [weak] = best_matches([target], [("c1", LearningOutcome(statement="Evaluate pottery"))])
    assert weak.explain() == ("'Train and evaluate a classifier': not covered by 'Evaluate pottery' of c1 "
                              "(text similarity, score 0.40)")


# ------------------------------------------------------------------------------------------------ the trace a registrar reads

COVERED = "100% of the module's outcomes covered: " + "; ".join(
    f"'{s}': covered by '{s}' of urn:uuid:c1 (text similarity, score 1.00)" for s in OUTCOMES)
OUTCOME_RULE = "coverage at least 60% (outcome covered from score 0.5; alignment codes, else text similarity)"
PROFILE_RULE = "ISCED-F broad field compared; decisive only with the outcomes"
SIX_ECTS = "6 ECTS offered (already ECTS) for a module of 6 ECTS (same framework (ects))"


def trace(decision):
    return {f.element: (f.finding, f.evidence, f.rule) for f in decision.findings}


def test_a_granted_decision_traces_every_element_with_its_evidence_and_rule():
    assert trace(decide(case(), policy(), [], [], NOW)) == {
        "authenticity": ("passed", "signature valid, not revoked, issuer registered", "authenticity first"),
        "level": ("comparable", "EQF 6 offered, module at EQF 6", "EQF levels compared; the lowest offered level counts"),
        "workload": ("comparable", SIX_ECTS, "converted credits at least the module's"),
        "quality": ("comparable", "quality assured by ENQA member agency", "accepted: EKKA, ENQA member agency"),
        "learning outcomes": ("comparable", COVERED, OUTCOME_RULE),
        "profile": ("comparable", "same broad field 06", PROFILE_RULE),
        "grade as recognised": ("passed", "pass: the policy recognises without grades (no grading_table)",
                                "the grade as recognised: the policy's grading_table, or pass without one"),
    }


NO_FIGURES = replace(offered(), ects=(), achievement=offered().achievement.model_copy(
    update={"credits": None, "workload_hours": None}))
TWO_UNASSURED = (replace(offered(), issuer_quality=()), replace(offered("urn:uuid:c2"), institution_id="mooc-y",
                                                                issuer_quality=()))
TRACES = [
    ("level below, partial", case(offered(level=Level(eqf=5))), policy(), "level", (
        "substantial-difference", "EQF 5 offered, module at EQF 6; credits recognised as electives, not as the module",
        "policy level_difference: partial")),
    ("level below, denied", case(offered(level=Level(eqf=5))), policy(level_difference="denied"), "level", (
        "substantial-difference", "EQF 5 offered, module at EQF 6", "policy level_difference: denied")),
    ("below the minimum", case(offered(level=Level(eqf=4))), policy(min_level=Level(eqf=5)), "level", (
        "substantial-difference", "EQF 4 is below the policy's minimum EQF 5", "policy min_level")),
    ("at the minimum", case(offered(level=Level(eqf=6))), policy(min_level=Level(eqf=6)), "level", (
        "comparable", "EQF 6 offered, module at EQF 6", "EQF levels compared; the lowest offered level counts")),
    ("workload short", case(offered(ects=4)), policy(), "workload", (
        "substantial-difference", "4 ECTS offered (already ECTS) for a module of 6 ECTS (same framework (ects)): 67% "
        "of the module", "partial recognition of the credits offered")),
    ("no figures", case(NO_FIGURES), policy(), "workload", (
        "not-assessed", "a credential states neither credits nor workload", "policy conversion: convention")),
    ("no QA, any body", case(replace(offered(), issuer_quality=())), policy(accepted_qa_bodies=[]), "quality", (
        "not-assessed", "no current quality assurance accepted by the policy for mooc-x",
        "accepted: any quality-assurance body; unverifiable quality is a reason for review, not for refusal")),
    ("two providers without QA", case(*TWO_UNASSURED, prog=programme()), policy(), "quality", (
        "not-assessed", "no current quality assurance accepted by the policy for mooc-x, mooc-y",
        "accepted: EKKA, ENQA member agency; unverifiable quality is a reason for review, not for refusal")),
    ("another field, outcomes covered", case(offered(field_of_study="0411")), policy(), "profile", (
        "comparable", "fields 04 and 06 differ, but the learning outcomes are covered, so the difference is not "
        "substantial", PROFILE_RULE)),
    ("another field, outcomes not covered", case(offered(learning_outcomes=[LearningOutcome(statement=OUTCOMES[0])],
                                                         field_of_study="0411")), policy(), "profile", (
        "substantial-difference", "fields 04 and 06 differ and the outcomes are not covered", PROFILE_RULE)),
    ("no field", case(prog=programme(module(field_of_study=None))), policy(), "profile", (
        "not-assessed", "a field of study is missing on one side", PROFILE_RULE)),
    ("no module outcomes", case(prog=programme(module(learning_outcomes=[]))), policy(), "learning outcomes", (
        "comparable", "the module publishes no learning outcomes, so no difference in outcomes can be shown",
        OUTCOME_RULE)),
]


@pytest.mark.parametrize(("what", "the_case", "the_policy", "element", "expected"), TRACES,
                         ids=[t[0] for t in TRACES])
def test_each_element_s_finding_reads_as_the_registrar_sees_it(what, the_case, the_policy, element, expected):
    assert trace(decide(the_case, the_policy, [], [], NOW))[element] == expected


def test_low_confidence_outcomes_name_the_share_and_send_the_case_to_a_registrar():
    one = case(offered(learning_outcomes=[LearningOutcome(statement=OUTCOMES[0])]))
    decision = decide(one, policy(outcome_overlap_threshold=0.5), [], [], NOW)
    finding_, evidence, rule = trace(decision)["learning outcomes"]
    assert finding_ == "not-assessed" and evidence.startswith("33% of the module's outcomes covered: ")
    assert evidence.endswith(" (low confidence)")
    assert rule == "coverage at least 50% (outcome covered from score 0.5; alignment codes, else text similarity)"
    assert decision.reasons == ("mod-ml: referred (outcome match is low-confidence (33%); a registrar decides)",)


def module_of(decision, module_id="mod-ml"):
    return next(m for m in decision.modules if m.module_id == module_id)


def test_the_fingerprint_of_the_facts_is_stable_because_precedents_are_stored_under_it():
    assert fingerprint(offered().achievement, module(), 1) == "1e23cfbef1985bb07b0e6c33ae74872d"
    assert fingerprint(offered().achievement, module(), 2) != fingerprint(offered().achievement, module(), 1)


def test_the_transfer_allowance_cuts_the_credits_to_what_is_left_or_refuses_the_module():
    nearly = module_of(decide(case(recognised_before=33.33), policy(max_recognised_share=0.3), [], [], NOW))
    assert (nearly.verdict, nearly.credits, nearly.reasons, nearly.fingerprint) == (
        "partial", 2.7, ("transfer allowance reached",), None)
    spent = decide(case(recognised_before=36), policy(max_recognised_share=0.3), [], [], NOW)
    assert (module_of(spent).verdict, module_of(spent).credits, module_of(spent).fingerprint) == ("denied", 0.0, None)
    assert spent.reasons == ("mod-ml: denied (transfer allowance exhausted)",) and spent.recognised == []


def test_a_module_that_is_not_recognised_carries_no_credits():
    for the_case, the_policy in ((case(replace(offered(), issuer_quality=())), policy()),
                                 (case(replace(offered(), grade="D")), policy(min_grade="C")),
                                 (case(offered(assessment_type=AssessmentType.PARTICIPATION_ONLY)), policy())):
        assert module_of(decide(the_case, the_policy, [], [], NOW)).credits == 0.0


def test_an_agreement_names_its_terms_and_recognises_its_credits_only_when_the_policy_checks_pass():
    granted = decide(case(replace(offered(ects=4), issuer_quality=())), policy(), [agreement()], [], NOW)
    assert trace(granted)["articulation agreement"] == (
        "passed", "agreement ag-1 (mooc-x ach-ml -> mod-ml, 6 ects) in force 2025-01-01 to open-ended",
        "automatic recognition under an agreement in force")
    assert (module_of(granted).credits, module_of(granted).agreement_id) == (6.0, "ag-1")
    weak = decide(case(replace(offered(ects=4), grade="D")), policy(min_grade="C"), [agreement()], [], NOW)
    assert (weak.outcome, module_of(weak).credits, weak.reasons) == ("denied", 0.0, ("mod-ml: denied (grade D)",))
    elsewhere = agreement(source_institution_id="mooc-y")
    assert decide(case(offered(ects=4)), policy(), [elsewhere], [], NOW).agreement_ids == []


def test_a_module_no_credential_covers_is_refused_for_want_of_evidence():
    other = module("mod-stats", title="Statistics",
                   learning_outcomes=[LearningOutcome(statement="Derive maximum likelihood estimators")])
    decision = decide(case(prog=programme(module(), other), module_ids=("mod-ml", "mod-stats")), policy(), [], [], NOW)
    assert decision.reasons == ("mod-ml: granted", "mod-stats: denied (no offered credential covers this module)")
    [evidence] = [f for f in decision.findings if f.module_id == "mod-stats"]
    assert (evidence.element, evidence.finding, evidence.rule) == (
        "learning outcomes", "substantial-difference", "a module needs evidence")


def test_a_partial_precedent_is_followed_with_its_share_basis_and_reason():
    partial = Precedent(decision_id="dec-0", module_id="mod-ml", source_institution_id="mooc-x",
                        achievement_id="ach-ml", fingerprint=fingerprint(offered().achievement, module(), 1),
                        verdict="partial", share=0.5, basis="elective", decided_by="registrar:anna")
    decision = decide(case(), policy(), [], [partial], NOW)
    assert (decision.outcome, module_of(decision).credits, module_of(decision).basis) == ("partial", 3.0, "elective")
    assert decision.reasons == ("mod-ml: partial (as decided in precedent dec-0)",)
    assert trace(decision)["precedent"] == (
        "passed", "decision dec-0 by registrar:anna on the same achievement for this module: partial",
        "the same facts give the same outcome")


def test_policy_checks_and_authenticity_read_as_the_registrar_sees_them():
    old = decide(case(replace(offered(), awarded_at=datetime(2019, 1, 1, tzinfo=UTC))), policy(recency_years=5), [],
                 [], NOW)
    assert trace(old)["recency"] == ("failed", "urn:uuid:c1 awarded 2019-01-01 too old", "policy recency_years: 5")
    recent = decide(case(), policy(recency_years=5), [], [], NOW)
    assert trace(recent)["recency"] == ("passed", "every credential awarded within the limit", "policy recency_years: 5")
    graded = decide(case(), policy(min_grade="C"), [], [], NOW)
    assert trace(graded)["grade"] == ("passed", "grade B", "policy min_grade: C") and graded.outcome == "granted"
    unknown = decide(case(replace(offered(), authenticity="unknown", authenticity_reasons=("list unreachable",))),
                     policy(), [], [], NOW)
    assert trace(unknown)["authenticity"] == ("not-assessed", "status unknown: list unreachable",
                                              "an unknown status is referred")
    assert unknown.reasons == ("mod-ml: referred (urn:uuid:c1: status could not be checked (list unreachable))",)
    revoked = decide(case(replace(offered(), authenticity="revoked", authenticity_reasons=("revoked by issuer",))),
                     policy(), [], [], NOW)
    assert trace(revoked)["authenticity"] == ("failed", "revoked: revoked by issuer", "authenticity first")
    assert revoked.reasons == ("mod-ml: denied (urn:uuid:c1 is revoked: revoked by issuer)",)
    participation = decide(case(offered(assessment_type=AssessmentType.PARTICIPATION_ONLY)), policy(), [], [], NOW)
    assert trace(participation)["assessment"] == (
        "failed", "urn:uuid:c1 certify participation only, not assessed learning", "assessed learning required")
    assert participation.reasons == ("mod-ml: conditional (participation is not assessed learning)",)
    assert decide(case(), policy(automatic_decisions=False), [], [], NOW).reasons == (
        "policy 1 requires a registrar to decide every case; proposed outcome: granted", "mod-ml: granted")


def test_outcomes_match_by_shared_alignments_only_and_ties_go_to_the_first_offered():
    target = LearningOutcome(statement="Use ML", alignments=esco("http://data.europa.eu/esco/skill/ml"))
    other = LearningOutcome(statement="Bake bread", alignments=esco("http://data.europa.eu/esco/skill/baking"))
    [match] = best_matches([target], [("c1", other)])
    assert (match.score, match.method) == (0.0, "none")  # different alignments, no words in common
    [unmatched] = best_matches([target], [])
    assert (unmatched.score, unmatched.method, unmatched.offered) == (0.0, "none", None)
    same = LearningOutcome(statement="Use ML")
    [first] = best_matches([LearningOutcome(statement="Use ML")], [("c1", same), ("c2", same)])
    assert first.credential_id == "c1"


def test_words_are_stemmed_only_by_a_suffix_they_end_with_and_keep_three_letters():
    assert content_words("statistics uses") == {"statistic", "use"}
    assert text_similarity("data science", "data") == 0.667
    assert text_similarity("the and", "bread") == 0.0 and text_similarity("the", "and") == 0.0
    assert coverage([]) == 1.0
    assert coverage(best_matches([LearningOutcome(statement=s) for s in OUTCOMES],
                                 [("c1", LearningOutcome(statement=OUTCOMES[0]))])) == 0.333


def test_each_recognised_module_states_its_grade_as_recognised_by_the_grading_table_or_pass():
    # No grading table: the module is recognised without grades, as pass, and the finding says why.
    [ungraded] = decide(case(), policy(), [], [], NOW).recognised
    assert ungraded.grade == "pass"
    assert trace(decide(case(), policy(), [], [], NOW))["grade as recognised"][0:2] == (
        "passed", "pass: the policy recognises without grades (no grading_table)")
    # A table converts the credential's grade (B) to the receiving scale, case-insensitively.
    table = policy(grading_table={"a": "5", "b": "4", "C": "3"})
    decision = decide(case(), table, [], [], NOW)
    assert decision.outcome == "granted" and decision.recognised[0].grade == "4"
    assert trace(decision)["grade as recognised"][1] == "4: B -> 4 by the policy's grading_table"
    # An agreement recognises with the grade too.
    assert decide(case(), table, [agreement()], [], NOW).recognised[0].grade == "4"


def test_a_grade_the_grading_table_cannot_convert_goes_to_a_registrar():
    table = policy(grading_table={"A": "5", "B": "4"})
    for grade, why in (("very good", "grade 'very good' of urn:uuid:c1 is not in the policy's grading_table"),
                       (None, "urn:uuid:c1 states no grade for the policy's grading_table to convert")):
        decision = decide(case(replace(offered(), grade=grade)), table, [], [], NOW)
        assert decision.outcome == "referred" and decision.recognised == []
        assert decision.reasons == (f"mod-ml: referred ({why}; a registrar states the grade as recognised)",)


def test_several_credentials_for_one_module_are_recognised_at_the_lowest_converted_grade():
    table = policy(grading_table={"A": "5", "B": "4", "C": "3"})
    pairs = [("c1", "A"), ("c2", "C"), ("c3", "B")]
    assert grade_as_recognised(pairs, table) == ("3", "A -> 5; C -> 3; B -> 4 by the policy's grading_table")
    odd = policy(grading_table={"A": "excellent", "B": "good"})
    assert grade_as_recognised([("c1", "A"), ("c2", "B")], odd) == (
        None, "the converted grades excellent, good cannot be ordered")


def test_a_credential_without_credits_or_workload_is_referred_as_is_a_module_too_small_to_state_in_ects():
    assert decide(case(NO_FIGURES), policy(), [], [], NOW).reasons == (
        "mod-ml: referred (a credential states neither credits nor workload)",)
    # 0.1 AQF hours is 0.0 ECTS once rounded: no share of it can be computed.
    tiny = programme(module(credits=CreditValue(value=0.1, framework="aqf-hours")))
    assert decide(case(prog=tiny), policy(), [], [], NOW).outcome == "referred"
    # One ECTS is a module like any other.
    one = programme(module(credits=CreditValue(value=1, framework="ects")))
    assert trace(decide(case(offered(ects=1), prog=one), policy(), [], [], NOW))["workload"][0] == "comparable"


def test_the_workload_adds_the_credentials_figures_to_the_hundredth_and_names_each_rule():
    uneven = replace(offered(ects=4.444), ects=(EctsConversion(ects=4.444, method="identity", rule="already ECTS"),))
    _, evidence, _ = trace(decide(case(uneven), policy(), [], [], NOW))["workload"]
    assert evidence.startswith("4.44 ECTS offered (already ECTS) for a module of 6 ECTS")
    two = (replace(offered(ects=3), ects=(EctsConversion(ects=3, method="convention", rule="2 UK credits = 1 ECTS"),)),
           replace(offered("urn:uuid:c2", ects=3), ects=(EctsConversion(ects=3, method="hours", rule="90 h"),)))
    _, evidence, _ = trace(decide(case(*two), policy(), [], [], NOW))["workload"]
    assert evidence.startswith("6 ECTS offered (2 UK credits = 1 ECTS; 90 h (no convention figure; used hours))")


def test_coverage_at_the_threshold_is_comparable_and_at_the_edge_of_the_band_is_referred():
    # One of the three outcomes covered: 0.333, exactly the threshold, then exactly the threshold less the band (0.2).
    one_of_three = case(offered(learning_outcomes=[LearningOutcome(statement=OUTCOMES[0])], field_of_study="0411"))
    at = trace(decide(one_of_three, policy(outcome_overlap_threshold=0.333), [], [], NOW))
    assert (at["learning outcomes"][0], at["profile"][0]) == ("comparable", "comparable")
    edge = decide(one_of_three, policy(outcome_overlap_threshold=0.533), [], [], NOW)
    assert (edge.outcome, trace(edge)["learning outcomes"][0]) == ("referred", "not-assessed")


def test_findings_name_every_quality_body_and_every_field_offered():
    ekka = (QualityAssurance(body="EKKA", scope="institutional", valid_from=date(2020, 1, 1)),)
    bodies = (offered(), replace(offered("urn:uuid:c2"), issuer_quality=ekka))
    assert trace(decide(case(*bodies), policy(), [], [], NOW))["quality"][1] == (
        "quality assured by EKKA, ENQA member agency")
    fields = (offered(field_of_study="0411"), offered("urn:uuid:c2", field_of_study="0211"))
    assert trace(decide(case(*fields), policy(), [], [], NOW))["profile"][1].startswith(
        "fields 02, 04 and 06 differ, but")
    uncovered = (offered(field_of_study="0411", learning_outcomes=[LearningOutcome(statement=OUTCOMES[0])]),
                 offered("urn:uuid:c2", field_of_study="0211", learning_outcomes=[]))
    assert trace(decide(case(*uncovered), policy(), [], [], NOW))["profile"][1] == (
        "fields 02, 04 and 06 differ and the outcomes are not covered")


def test_under_the_hours_method_a_convention_figure_is_the_named_fallback():
    convention_only = replace(offered(), ects=(EctsConversion(ects=6, method="convention",
                                                              rule="2 UK credits = 1 ECTS"),))
    assert ects_of(convention_only, "hours") == (6, "2 UK credits = 1 ECTS (no hours figure; used convention)")


def test_every_finding_names_its_module_and_the_credentials_it_rests_on():
    decision = decide(case(offered(), offered("urn:uuid:c2")), policy(), [], [], NOW)
    workload = finding(decision, "workload")
    assert (workload.module_id, workload.credential_ids) == ("mod-ml", ["urn:uuid:c1", "urn:uuid:c2"])
    # Two credentials for one module: no single achievement to serve as a precedent.
    assert (module_of(decision).fingerprint, module_of(decision).source_institution_id) == (None, None)


def test_a_grade_the_table_cannot_convert_is_a_finding_of_its_own():
    decision = decide(case(replace(offered(), grade="very good")), policy(grading_table={"A": "5"}), [], [], NOW)
    assert trace(decision)["grade as recognised"] == (
        "not-assessed", "grade 'very good' of urn:uuid:c1 is not in the policy's grading_table",
        "the grade as recognised: the policy's grading_table, or pass without one")


def test_evidence_lists_every_credential_and_reason_it_names():
    old = datetime(2019, 1, 1, tzinfo=UTC)
    both_old = case(replace(offered(), awarded_at=old), replace(offered("urn:uuid:c2"), awarded_at=old))
    assert trace(decide(both_old, policy(recency_years=5), [], [], NOW))["recency"][1] == (
        "urn:uuid:c1 awarded 2019-01-01, urn:uuid:c2 awarded 2019-01-01 too old")
    attended = case(offered(assessment_type=AssessmentType.PARTICIPATION_ONLY),
                    offered("urn:uuid:c2", assessment_type=AssessmentType.PARTICIPATION_ONLY))
    assert trace(decide(attended, policy(), [], [], NOW))["assessment"][1] == (
        "urn:uuid:c1, urn:uuid:c2 certify participation only, not assessed learning")
    unsure = replace(offered(), authenticity="unknown", authenticity_reasons=("list unreachable", "issuer offline"))
    assert trace(decide(case(unsure), policy(), [], [], NOW))["authenticity"][1] == (
        "status unknown: list unreachable; issuer offline")


def test_one_failed_credential_refuses_the_module_before_any_element_is_assessed():
    forged = replace(offered("urn:uuid:c2"), authenticity="invalid",
                     authenticity_reasons=("signature does not verify",))
    decision = decide(case(offered(), forged), policy(), [], [], NOW)
    assert decision.outcome == "denied"
    assert [f.element for f in decision.findings] == ["authenticity", "authenticity"]
    assert module_of(decision).credential_ids == ("urn:uuid:c1", "urn:uuid:c2")


def test_a_module_that_is_not_conditional_carries_no_conditions():
    # Participation only (conditional) and a grade below the minimum (denied): the denial decides, without conditions.
    weak = replace(offered(assessment_type=AssessmentType.PARTICIPATION_ONLY), grade="D")
    decision = decide(case(weak), policy(min_grade="C"), [], [], NOW)
    assert (decision.outcome, decision.conditions, module_of(decision).conditions) == ("denied", (), ())


def test_a_share_of_the_module_is_recognised_to_a_tenth_of_a_credit():
    uneven = replace(offered(ects=4.444), ects=(EctsConversion(ects=4.444, method="identity", rule="already ECTS"),))
    assert module_of(decide(case(uneven), policy(), [], [], NOW)).credits == 4.4


def test_an_agreement_recognises_its_own_credits_in_its_own_framework_and_still_meets_the_recency_rule():
    uk = agreement(credits=CreditValue(value=10, framework="uk-cats"))
    granted = module_of(decide(case(), policy(), [uk], [], NOW))
    assert (granted.verdict, granted.credits, granted.framework) == ("granted", 10, "uk-cats")
    low = module_of(decide(case(replace(offered(), grade="D")), policy(min_grade="C"), [uk], [], NOW))
    assert (low.verdict, low.credits, low.framework) == ("denied", 0.0, "ects")
    old = case(replace(offered(), awarded_at=datetime(2019, 1, 1, tzinfo=UTC)))
    assert decide(old, policy(recency_years=5), [uk], [], NOW).outcome == "denied"


# ------------------------------------------------------------------------------------------------ the transfer allowance

STATS = [LearningOutcome(statement="Derive maximum likelihood estimators")]


def two_modules(**kw):
    """mod-ml and mod-stats, 6 ECTS each, each covered by its own credential."""
    prog = programme(module(), module("mod-stats", title="Statistics", learning_outcomes=STATS))
    return case(offered(), offered("urn:uuid:c2", learning_outcomes=STATS), prog=prog,
                module_ids=("mod-ml", "mod-stats"), **kw)


def allowance(decision, module_id="mod-ml"):
    found = [f for f in module_of(decision, module_id).findings if f.element == "transfer allowance"]
    return (found[0].finding, found[0].evidence, found[0].rule) if found else None


def test_credits_within_the_allowance_are_recognised_and_the_finding_says_what_was_left():
    decision = decide(case(recognised_before=10), policy(max_recognised_share=0.3), [], [], NOW)
    assert decision.outcome == "granted"
    assert allowance(decision) == ("passed", "10 already recognised, 26 of 36 left, 6 asked",
                                   "at most 30% of 120 ects credits may come from recognition")
    # Exactly what is left still fits.
    exact = decide(case(recognised_before=30), policy(max_recognised_share=0.3), [], [], NOW)
    assert (exact.outcome, allowance(exact)[0], module_of(exact).credits) == ("granted", "passed", 6)


def test_the_allowance_is_the_programme_s_credits_times_the_share_to_the_hundredth():
    decision = decide(case(), policy(max_recognised_share=0.33345), [], [], NOW)  # 120 x 0.33345 = 40.014
    assert allowance(decision)[1] == "0 already recognised, 40.01 of 40.01 left, 6 asked"


def test_each_recognised_module_uses_up_the_allowance_for_the_next_and_a_last_fraction_still_counts():
    share = policy(max_recognised_share=0.3)  # 36 of 120
    cut = decide(two_modules(recognised_before=27), share, [], [], NOW)  # 9 left: 6, then 3
    assert [(m.module_id, m.verdict, m.credits) for m in cut.modules] == [
        ("mod-ml", "granted", 6), ("mod-stats", "partial", 3.0)]
    spent = decide(two_modules(recognised_before=33), share, [], [], NOW)  # 3 left: 3, then nothing
    assert [(m.verdict, m.credits) for m in spent.modules] == [("partial", 3.0), ("denied", 0.0)]
    assert module_of(decide(case(recognised_before=35.5), share, [], [], NOW)).credits == 0.5
    # A module that is not recognised takes nothing from the allowance and the next is still assessed.
    prog = programme(module("mod-stats", title="Statistics", learning_outcomes=STATS), module())
    first_denied = decide(case(prog=prog, module_ids=("mod-stats", "mod-ml"), recognised_before=30), share, [], [],
                          NOW)
    assert [(m.module_id, m.verdict) for m in first_denied.modules] == [("mod-stats", "denied"), ("mod-ml", "granted")]
    assert allowance(first_denied, "mod-stats") is None


# ------------------------------------------------------------------------------------------------ the decision as a whole


def test_a_module_s_reasons_are_joined_in_the_decision_s_reasons():
    revoked = [replace(offered(c), authenticity="revoked", authenticity_reasons=("revoked by issuer",))
               for c in ("urn:uuid:c1", "urn:uuid:c2")]
    assert decide(case(*revoked), policy(), [], [], NOW).reasons == (
        "mod-ml: denied (urn:uuid:c1 is revoked: revoked by issuer; urn:uuid:c2 is revoked: revoked by issuer)",)


def test_a_decision_names_its_policy_version_and_a_registrar_policy_keeps_the_analysis():
    assert decide(case(), policy(version=7), [], [], NOW).policy_version == 7
    attended = case(offered(assessment_type=AssessmentType.PARTICIPATION_ONLY))
    proposed = decide(attended, policy(version=7, automatic_decisions=False), [], [], NOW)
    assert (proposed.outcome, proposed.proposed, proposed.policy_version) == ("referred", "conditional", 7)
    assert proposed.conditions == ("pass the assessment of module mod-ml (Machine learning)",)
    assert [m.verdict for m in proposed.modules] == ["conditional"]
    # A case the analysis refers anyway is referred for its own reasons, not for the policy's.
    unassured = decide(case(replace(offered(), issuer_quality=())), policy(automatic_decisions=False), [], [], NOW)
    assert (unassured.outcome, unassured.proposed) == ("referred", None)
    assert not any("requires a registrar" in reason for reason in unassured.reasons)
