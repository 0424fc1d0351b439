"""The learner-record fold: idempotent and order-tolerant, so redelivery, replay and concurrent writers give the
same record."""

import copy
from datetime import UTC, datetime, timedelta
from functools import reduce

from contract_factories import achievement, awarded
from hypothesis import given, settings
from hypothesis import strategies as st

from creditflow.events import (
    EctsConversion,
    CreditAllocation,
    CredentialRevoked,
    CredentialRevokedData,
    CreditValue,
    LearnerConsentData,
    LearnerConsentGranted,
    LearnerConsentRevoked,
    QualificationCompleted,
    QualificationCompletedData,
    RecognisedCredit,
    RecognitionDecided,
    RecognitionDecidedData,
    RecognitionRequested,
    RecognitionRequestedData,
    StackingProgressUpdated,
    StackingProgressUpdatedData,
)
from creditflow.learner_record import domain
from creditflow.learner_record.domain import Verdict, apply, associations, credit_totals, empty, status, view

T0 = datetime(2026, 6, 1, tzinfo=UTC)
LEARNER = "learner-1"


def at(minutes):
    return T0 + timedelta(minutes=minutes)


def revoked(credential_id="urn:uuid:c1", reason="issued in error", minute=10):
    return CredentialRevoked(producer="uni-helsinki", learner_id=LEARNER, occurred_at=at(minute),
                             data=CredentialRevokedData(credential_id=credential_id, institution_id="uni-helsinki",
                                                        reason=reason))


def requested(case_id="case-1", institution="uni-tartu", credential_ids=("urn:uuid:c1",), minute=20):
    return RecognitionRequested(producer=institution, learner_id=LEARNER, occurred_at=at(minute),
                                data=RecognitionRequestedData(case_id=case_id, institution_id=institution,
                                                              programme_id="msc-ds", credential_ids=list(credential_ids)))


def decided(outcome="granted", minute=30, decision_id="d-1"):
    return RecognitionDecided(
        producer="creditflow.recognition", learner_id=LEARNER, occurred_at=at(minute),
        data=RecognitionDecidedData(
            case_id="case-1", decision_id=decision_id, institution_id="uni-tartu", programme_id="msc-ds",
            outcome=outcome, decided_by="automatic",
            recognised=[RecognisedCredit(module_id="m1", credits=CreditValue(value=5, framework="ects"),
                                         credential_ids=["urn:uuid:c1"])] if outcome == "granted" else []))


def progress(counted, minute):
    return StackingProgressUpdated(
        producer="creditflow.stacking", learner_id=LEARNER, occurred_at=at(minute),
        data=StackingProgressUpdatedData(programme_id="msc-ds", institution_id="uni-tartu", programme_version=1,
                                         credits_counted=counted, credits_required=10,
                                         allocations=[CreditAllocation(credential_id="urn:uuid:c1",
                                                                       requirement_id="r1", credits=counted)]))


def completed(minute=50):
    return QualificationCompleted(
        producer="creditflow.stacking", learner_id=LEARNER, occurred_at=at(minute),
        data=QualificationCompletedData(programme_id="msc-ds", institution_id="uni-tartu", programme_version=1,
                                        credential_ids=["urn:uuid:c1", "urn:uuid:c2"]))


def consent(granted, minute, institution="uni-oslo"):
    cls = LearnerConsentGranted if granted else LearnerConsentRevoked
    return cls(producer=LEARNER, learner_id=LEARNER, occurred_at=at(minute),
               data=LearnerConsentData(institution_id=institution))


def fold(events):
    return reduce(lambda record, event: apply(event, record), events, empty(LEARNER))


def test_an_award_whose_credential_verified_becomes_a_valid_verified_achievement_with_its_credits_and_level():
    signed = {"type": "EnvelopedVerifiableCredential", "id": "data:x"}
    [entry] = domain.fold(awarded(LEARNER, credential=signed), empty(LEARNER), Verdict(True))["achievements"]
    assert (entry["credential_id"], entry["title"], status(entry), entry["verification"]) == (
        "urn:uuid:c1", "Data literacy", "valid", "verified")
    assert entry["credits"]["value"] == 5 and entry["level"]["eqf"] == 6


def test_an_award_whose_credential_failed_its_check_or_was_not_checked_is_shown_unverified_with_the_reason():
    signed = {"type": "EnvelopedVerifiableCredential", "id": "data:x"}
    refused = domain.fold(awarded(LEARNER, credential=signed), empty(LEARNER), Verdict(False, ("forged",)))
    unchecked = apply(awarded(LEARNER, credential=signed), empty(LEARNER))
    assert [(a["verification"], a["verification_reasons"]) for a in refused["achievements"] + unchecked["achievements"]] \
        == [("unverified", ["forged"]), ("unverified", ["the credential was not verified"])]


def test_the_same_award_twice_changes_nothing():
    event = awarded(LEARNER)
    assert fold([event, event]) == fold([event])


def test_revocation_marks_the_achievement_revoked_with_its_reason():
    [entry] = fold([awarded(LEARNER), revoked()])["achievements"]
    assert (status(entry), entry["revocation"]["reason"]) == ("revoked", "issued in error")


def test_revocation_before_its_award_is_kept_and_applied_when_the_award_arrives():
    award, revocation = awarded(LEARNER), revoked()
    early = fold([revocation])
    assert early["achievements"] == [] and list(early["pending_revocations"]) == ["urn:uuid:c1"]
    assert fold([revocation, award]) == fold([award, revocation])


def test_a_redelivered_award_after_its_revocation_does_not_revive_it():
    award = awarded(LEARNER)
    assert status(fold([award, revoked(), award])["achievements"][0]) == "revoked"


def test_a_later_decision_on_the_same_case_replaces_the_earlier_one_in_any_order():
    first, review = decided("denied", minute=30, decision_id="d-1"), decided("granted", minute=40, decision_id="d-2")
    assert fold([first, review]) == fold([review, first])
    [recognition] = fold([review, first])["recognitions"]
    assert (recognition["outcome"], recognition["decision_id"]) == ("granted", "d-2")


def test_a_decision_before_the_award_it_refers_to_is_kept():
    record = fold([decided(), awarded(LEARNER)])
    assert record["recognitions"][0]["recognised"][0]["credential_ids"] == ["urn:uuid:c1"] and record["achievements"]


def test_progress_keeps_the_latest_figure_per_programme():
    assert fold([progress(5, 40), progress(2, 35)])["progress"][0]["credits_counted"] == 5


def test_consent_revocation_after_a_grant_wins_whatever_the_arrival_order():
    record = fold([consent(False, 60), consent(True, 55)])
    assert [c["granted"] for c in record["consents"]] == [False]


def conversions(*pairs):
    return [EctsConversion(ects=ects, method=method, rule=f"{method} rule") for method, ects in pairs]


def test_credit_totals_count_valid_credentials_per_framework_and_ects_method():
    uk = achievement(achievement_id="uk", credits=CreditValue(value=20, framework="uk-cats"), workload_hours=200)
    events = [awarded(LEARNER, "urn:uuid:c1", credit_conversions=conversions(("identity", 5))),
              awarded(LEARNER, "urn:uuid:c2", achievement=uk,
                      credit_conversions=conversions(("convention", 10), ("hours", 6.666))),
              awarded(LEARNER, "urn:uuid:c4", credit_conversions=conversions(("identity", 2.5), ("hours", 3.337))),
              awarded(LEARNER, "urn:uuid:c3", credit_conversions=conversions(("identity", 5))), revoked("urn:uuid:c3")]
    totals = credit_totals(fold(events))
    assert [(t["framework"], t["credits"], t["credential_ids"]) for t in totals["by_framework"]] == [
        ("ects", 10.0, ["urn:uuid:c1", "urn:uuid:c4"]), ("uk-cats", 20.0, ["urn:uuid:c2"])]
    # Each method summed on its own (an hours figure never added to a convention), rounded to 2 places.
    assert [(t["method"], t["ects"], t["credential_ids"]) for t in totals["ects_by_method"]] == [
        ("convention", 10.0, ["urn:uuid:c2"]), ("hours", 10.0, ["urn:uuid:c2", "urn:uuid:c4"]),
        ("identity", 7.5, ["urn:uuid:c1", "urn:uuid:c4"])]


def test_credit_totals_leave_out_a_credential_without_credits():
    events = [awarded(LEARNER, "urn:uuid:c1", achievement=achievement(credits=None))]
    assert credit_totals(fold(events)) == {"by_framework": [], "ects_by_method": []}


def test_completed_qualification_gives_is_part_of_associations_for_credentials_in_the_record():
    record = fold([awarded(LEARNER, "urn:uuid:c1"), completed()])  # c2 is not (yet) in the record
    assert [(a["associationType"], a["sourceId"]) for a in associations(record)] == [("isPartOf", "urn:uuid:c1")]


def test_a_registrar_sees_nothing_without_a_tie_to_the_learner():
    assert view(fold([awarded(LEARNER)]), "uni-elsewhere", at(100)) is None


def test_the_issuing_institution_sees_only_its_own_part_and_knows_it_is_partial():
    other = achievement(achievement_id="x", institution_id="uni-tartu")
    record = fold([awarded(LEARNER, "urn:uuid:c1"), awarded(LEARNER, "urn:uuid:c9", achievement=other)])
    visible, partial = view(record, "uni-tartu", at(100))
    assert [a["credential_id"] for a in visible["achievements"]] == ["urn:uuid:c9"] and partial


def test_a_recognition_request_shows_the_offered_credentials_to_the_receiving_institution():
    visible, partial = view(fold([awarded(LEARNER, "urn:uuid:c1"), requested()]), "uni-tartu", at(100))
    assert [a["credential_id"] for a in visible["achievements"]] == ["urn:uuid:c1"]


def test_consent_shows_the_whole_record_until_it_is_revoked():
    record = fold([awarded(LEARNER), consent(True, 5)])
    assert view(record, "uni-oslo", at(100)) == (record, False)
    assert view(apply(consent(False, 6), record), "uni-oslo", at(100)) is None


EVENTS = [
    awarded(LEARNER, "urn:uuid:c1"),
    awarded(LEARNER, "urn:uuid:c2", achievement=achievement(achievement_id="ach-2", title="Statistics")),
    revoked("urn:uuid:c1"),
    revoked("urn:uuid:c1", reason="second notice", minute=11),
    requested(),
    decided("denied", minute=30, decision_id="d-1"),
    decided("granted", minute=40, decision_id="d-2"),
    progress(5, 40),
    progress(10, 45),
    completed(),
    consent(True, 55),
    consent(False, 60),
]


@settings(max_examples=300, deadline=None)
@given(st.permutations(EVENTS), st.lists(st.sampled_from(EVENTS), max_size=8))
def test_any_order_and_any_duplication_folds_to_the_in_order_record(order, duplicates):
    assert fold([*order, *duplicates]) == fold(EVENTS)


def test_in_the_record_every_order_folds_to_the_earliest_revocation_and_the_latest_decision_progress_and_consent_win():
    # What the property above compares every order with: the fact that wins, not only that order does not matter.
    record = fold(EVENTS)
    c1, c2 = record["achievements"]
    assert (status(c1), c1["revocation"]["reason"], status(c2)) == ("revoked", "issued in error", "valid")
    assert [(r["decision_id"], r["outcome"]) for r in record["recognitions"]] == [("d-2", "granted")]
    assert [p["credits_counted"] for p in record["progress"]] == [10]
    assert [(c["institution_id"], c["granted"]) for c in record["consents"]] == [("uni-oslo", False)]
    assert [(q["programme_id"], q["status"]) for q in record["qualifications"]] == [("msc-ds", "completed")]
    assert [r["case_id"] for r in record["recognition_requests"]] == ["case-1"] and record["pending_revocations"] == {}


@settings(max_examples=100, deadline=None)
@given(st.permutations(EVENTS))
def test_folding_never_changes_the_record_it_was_given(order):
    # fold_batch compares the stored record with the folded one to skip unchanged documents.
    record = empty(LEARNER)
    for event in order:
        before = copy.deepcopy(record)
        record_after = apply(event, record)
        assert record == before
        record = record_after
