"""The fault matrix's checker for recognition cases and stacking progress (tests/chaos_checker.py): pure folds of
the topics compared with the projections and the load generator's record. Each miscount here would let a lost,
duplicated or wrong entry pass as 0 in docs/reliability.md."""

from __future__ import annotations

import uuid

from chaos_checker import compare_cases, compare_progress, expected_credits, fold_cases
from contract_factories import achievement
from creditflow.events import (
    CreditAllocation,
    QualificationCompleted,
    QualificationCompletedData,
    QualificationInvalidated,
    QualificationInvalidatedData,
    RecognitionDecided,
    RecognitionDecidedData,
    RecognitionRequested,
    RecognitionRequestedData,
    StackingProgressUpdated,
    StackingProgressUpdatedData,
)

LEARNER = "learner-1"


def requested(case_id: str) -> RecognitionRequested:
    return RecognitionRequested(producer="uni-a", learner_id=LEARNER, data=RecognitionRequestedData(
        case_id=case_id, institution_id="uni-a", programme_id="msc", module_ids=["mod-ml"],
        credential_ids=["urn:uuid:c1"]))


def decided(case_id: str, n: int, outcome: str, by: str = "automatic") -> RecognitionDecided:
    return RecognitionDecided(producer="creditflow-recognition", learner_id=LEARNER, data=RecognitionDecidedData(
        case_id=case_id, decision_id=f"{case_id}.d{n}", institution_id="uni-a", programme_id="msc", outcome=outcome,
        decided_by=by, reasons=["checked"]))


REGISTRAR = "registrar Anna (uni-a)"


def referred_and_decided(case_id: str = "case-r") -> list:
    return [requested(case_id), decided(case_id, 1, "referred"), decided(case_id, 2, "denied", REGISTRAR)]


def cases_check(events, rules=None, accepted=None, projected=None):
    folded = fold_cases(events)
    rules = rules if rules is not None else {"case-r": "referred"}
    accepted = accepted if accepted is not None else {"case-r": ("case-r.d2", "denied")}
    if projected is None:
        projected = {case: folded[case]["decisions"] for case in folded}
    return compare_cases(folded, rules, accepted, projected)


def test_requests_decided_once_per_their_rules_count_nothing_and_redeliveries_are_absorbed():
    granted, referred = [requested("case-g"), decided("case-g", 1, "granted")], referred_and_decided()
    events = [*referred, *granted, granted[1], referred[2]]
    folded = fold_cases(events)
    assert folded["case-r"]["delivered"] == folded["case-g"]["delivered"] == 1
    counts = cases_check(events, rules={"case-r": "referred", "case-g": "granted"})
    assert set(counts.values()) == {0}, counts


def test_a_second_registrar_decision_is_duplicated_and_the_one_never_accepted_is_counted():
    events = [*referred_and_decided(), decided("case-r", 3, "granted", REGISTRAR)]
    counts = cases_check(events)
    assert counts["duplicated"] == 1 and counts["on the topic, never accepted"] == 1


def test_an_accepted_decision_missing_from_the_topic_and_the_case_is_lost_twice():
    events = referred_and_decided()[:2]
    counts = cases_check(events)
    assert counts["lost"] == 1 and counts["accepted, not on the topic"] == 1
    assert counts["accepted, not in the case"] == 1


def test_a_case_the_store_holds_otherwise_than_the_topic_or_a_decision_against_its_rules_is_wrong():
    events = referred_and_decided()
    stale = {"case-r": fold_cases(events)["case-r"]["decisions"][:1]}
    assert cases_check(events, projected=stale)["wrong"] == 1
    assert cases_check(events, projected=stale)["accepted, not in the case"] == 1
    assert cases_check([requested("case-g"), decided("case-g", 1, "referred")], rules={"case-g": "granted"},
                       accepted={})["wrong"] == 1
    assert cases_check(events, accepted={"case-r": ("case-r.d2", "granted")})["wrong"] == 1


def test_a_request_never_opened_as_a_case_is_lost():
    counts = cases_check([], rules={"case-x": "granted"}, accepted={}, projected={})
    assert counts["lost"] == 1


# ------------------------------------------------------------------------------------------------ stacking

REQUIRED = {"ach-a": 5.0, "ach-b": 5.0, "ach-c": 5.0}


def awards(*achievement_ids: str) -> dict[str, dict]:
    return {f"urn:uuid:{uuid.uuid4()}": {"achievement": achievement(achievement_id=a).model_dump(mode="json")}
            for a in achievement_ids}


def progress(credits: float, credential_ids: list[str]) -> StackingProgressUpdated:
    return StackingProgressUpdated(producer="creditflow-stacking", learner_id=LEARNER, data=StackingProgressUpdatedData(
        programme_id="cert", institution_id="uni-a", programme_version=1, credits_counted=credits,
        credits_required=15, allocations=[CreditAllocation(credential_id=c, requirement_id="r", credits=5)
                                          for c in credential_ids]))


def completed() -> QualificationCompleted:
    return QualificationCompleted(producer="creditflow-stacking", learner_id=LEARNER, data=QualificationCompletedData(
        programme_id="cert", institution_id="uni-a", programme_version=1, credential_ids=["urn:uuid:c1"]))


def tracked(credits: float, credential_ids: list[str], complete: bool) -> dict:
    return {"published": progress(credits, credential_ids).data.model_dump(mode="json"),
            "completed_with": credential_ids if complete else None}


def test_each_required_achievement_counts_once_however_many_credentials_of_it():
    held = {LEARNER: awards("ach-a", "ach-a", "ach-b", "ach-other"), "learner-2": {}}
    assert expected_credits(held, REQUIRED) == {LEARNER: 10.0, "learner-2": 0}


def test_progress_equal_to_the_fold_with_one_completion_and_one_qualification_counts_nothing():
    done = completed()
    counts = compare_progress({LEARNER: 15.0}, 15, {LEARNER: [progress(10, ["c1", "c2"]), progress(15, ["c1", "c2", "c3"]),
                                                              done, done]},
                              {LEARNER: tracked(15, ["c1", "c2", "c3"], True)}, {LEARNER: 1})
    assert set(counts.values()) == {0}, counts


def test_a_completion_or_qualification_twice_a_credit_counted_twice_and_a_missing_one_are_counted():
    counts = compare_progress({LEARNER: 15.0}, 15, {LEARNER: [progress(15, ["c1", "c1", "c3"]), completed(),
                                                              completed()]},
                              {LEARNER: tracked(15, ["c1", "c2", "c3"], True)}, {LEARNER: 2})
    assert (counts["duplicated"], counts["issued twice"]) == (2, 1)
    lost = compare_progress({LEARNER: 15.0}, 15, {LEARNER: [progress(15, ["c1", "c2", "c3"])]},
                            {LEARNER: tracked(15, ["c1", "c2", "c3"], True)}, {})
    assert lost["lost"] == 1


def test_progress_that_is_not_the_fold_or_a_completion_short_of_the_credits_is_wrong():
    stale = compare_progress({LEARNER: 15.0}, 15, {LEARNER: [progress(10, ["c1", "c2"]), completed()]},
                             {LEARNER: tracked(15, ["c1", "c2", "c3"], True)}, {LEARNER: 1})
    assert stale["wrong"] == 1
    early = compare_progress({LEARNER: 10.0}, 15, {LEARNER: [progress(10, ["c1", "c2"]), completed()]},
                             {LEARNER: tracked(10, ["c1", "c2"], False)}, {})
    assert early["wrong"] == 1
    invalidated = QualificationInvalidated(producer="creditflow-stacking", learner_id=LEARNER,
                                           data=QualificationInvalidatedData(
                                               programme_id="cert", institution_id="uni-a", programme_version=1,
                                               credential_ids=["c1"], lost=["c1"], reason="revoked"))
    assert compare_progress({LEARNER: 10.0}, 15, {LEARNER: [progress(10, ["c1", "c2"]), invalidated]},
                            {LEARNER: tracked(10, ["c1", "c2"], False)}, {})["wrong"] == 1
