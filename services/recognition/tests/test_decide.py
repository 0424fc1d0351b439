"""The recognition decision, case by case: every element finding and every outcome, without Kafka or MongoDB."""

from dataclasses import replace
from datetime import UTC, date, datetime

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

from creditflow.events import AssessmentType, LearningOutcome, Level, QualityAssurance
from creditflow.recognition.domain import Precedent, decide, fingerprint
from creditflow.recognition.outcomes import best_matches, coverage, text_similarity


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
