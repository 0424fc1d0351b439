"""The learner-record fold: idempotent and order-tolerant, so redelivery, replay and concurrent writers give the
same record."""

import copy
from datetime import UTC, datetime, timedelta
from functools import reduce

from contract_factories import achievement, awarded
from hypothesis import given, settings
from hypothesis import strategies as st

from creditflow.credentials import contexts, jose, keys
from creditflow.credentials.subjects import learner_subject_id
from creditflow.events import (
    Actor,
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
    QualificationInvalidated,
    QualificationInvalidatedData,
    RecognisedCredit,
    RecognitionDecided,
    RecognitionDecidedData,
    RecognitionRequested,
    RecognitionRequestedData,
    StackingProgressUpdated,
    StackingProgressUpdatedData,
)
from creditflow.learner_record import domain
from creditflow.learner_record.checks import screened
from creditflow.runtime.kafka import Delivery
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


def test_an_award_folded_with_the_handlers_passing_verdict_is_a_valid_verified_achievement_with_its_credits():
    # The fold takes the verdict as data; that the handler verifies each credential is tested on the real consumer
    # (test_learner_record.py) and against forgeries (tests/security).
    signed = {"type": "EnvelopedVerifiableCredential", "id": "data:x"}
    [entry] = domain.fold(awarded(LEARNER, credential=signed), empty(LEARNER), Verdict(True))["achievements"]
    assert (entry["credential_id"], entry["title"], status(entry), entry["verification"]) == (
        "urn:uuid:c1", "Data literacy", "valid", "verified")
    assert entry["credits"]["value"] == 5 and entry["level"]["eqf"] == 6 and entry["verification_reasons"] == []
    assert entry["credential"] == signed and entry["institution_id"] == "uni-helsinki"


def test_an_award_without_a_signed_credential_is_shown_unsigned_whatever_the_verdict():
    [entry] = domain.fold(awarded(LEARNER), empty(LEARNER), Verdict(False, ("no proof",)))["achievements"]
    assert (entry["verification"], entry["verification_reasons"]) == ("unsigned", [])


def test_an_award_whose_credential_failed_its_check_or_was_not_checked_is_shown_unverified_with_the_reason():
    signed = {"type": "EnvelopedVerifiableCredential", "id": "data:x"}
    refused = domain.fold(awarded(LEARNER, credential=signed), empty(LEARNER), Verdict(False, ("forged",)))
    unchecked = apply(awarded(LEARNER, credential=signed), empty(LEARNER))
    assert [(a["verification"], a["verification_reasons"]) for a in refused["achievements"] + unchecked["achievements"]] \
        == [("unverified", ["forged"]), ("unverified", ["the credential was not verified"])]


def test_an_unverified_credential_judged_again_takes_the_new_verdict_unless_its_credential_changed_since():
    signed = {"type": "EnvelopedVerifiableCredential", "id": "data:x"}
    unchecked = apply(awarded(LEARNER, credential=signed), empty(LEARNER))
    [entry] = domain.reverified(unchecked, {"urn:uuid:c1": (signed, Verdict(True))})["achievements"]
    assert (entry["verification"], entry["verification_reasons"]) == ("verified", [])
    [entry] = domain.reverified(unchecked, {"urn:uuid:c1": (signed, Verdict(False, ("unknown key",)))})["achievements"]
    assert (entry["verification"], entry["verification_reasons"]) == ("unverified", ["unknown key"])
    # Judged on another credential than the one stored, of a credential not held, or already verified: as it was.
    verified = domain.fold(awarded(LEARNER, credential=signed), empty(LEARNER), Verdict(True))
    for record, verdicts in ((unchecked, {"urn:uuid:c1": ({"id": "data:y"}, Verdict(True))}),
                             (unchecked, {"urn:uuid:c9": (signed, Verdict(True))}),
                             (verified, {"urn:uuid:c1": (signed, Verdict(False, ("revoked key",)))})):
        assert domain.reverified(record, verdicts) is record
    # A verdict that changes nothing does not stop the others.
    both = {"urn:uuid:c9": (signed, Verdict(True)), "urn:uuid:c1": (signed, Verdict(True))}
    assert domain.reverified(unchecked, both)["achievements"][0]["verification"] == "verified"


def test_a_consent_entry_keeps_the_evidence_and_the_registrar_who_recorded_it():
    registrar = Actor(person="anna@uni-oslo.example", institution_id="uni-oslo", roles=["registrar"])
    for cls in (LearnerConsentGranted, LearnerConsentRevoked):
        event = cls(producer=LEARNER, learner_id=LEARNER, occurred_at=at(1), actor=registrar,
                    data=LearnerConsentData(institution_id="uni-oslo", evidence="signed form, ref 4411"))
        [entry] = apply(event, empty(LEARNER))["consents"]
        assert (entry["evidence"], entry["actor"]) == ("signed form, ref 4411", registrar.model_dump(mode="json"))


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


def test_credit_totals_per_framework_are_rounded_to_two_places_too():
    third = achievement(achievement_id="third", credits=CreditValue(value=1.333, framework="ects"))
    events = [awarded(LEARNER, f"urn:uuid:c{n}", achievement=third) for n in (1, 2)]
    assert [t["credits"] for t in credit_totals(fold(events))["by_framework"]] == [2.67]


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


def test_a_consent_is_believed_only_with_a_registrar_as_its_actor_and_evidence():
    registrar = Actor(person="mari@ut.ee", institution_id="uni-tartu", roles=["registrar"])
    operator = Actor(person="ops@example.org", institution_id=None, roles=["operator"])
    reviewer = Actor(person="jaan@ut.ee", institution_id="uni-tartu", roles=["reviewer"])
    data = LearnerConsentData(institution_id="uni-oslo", evidence="signed form, ref 4411")
    made = {name: LearnerConsentGranted(producer="learner-record", learner_id=LEARNER, actor=actor, data=d)
            for name, actor, d in (("genuine", registrar, data), ("no actor", None, data),
                                   ("operator", operator, data), ("reviewer", reviewer, data),
                                   ("no evidence", registrar, data.model_copy(update={"evidence": None})))}
    accepted, refused = screened([(event, Delivery("t", 0, n)) for n, event in enumerate(made.values())])
    assert [event for event, _ in accepted] == [made["genuine"]]
    assert [reason for _, reason in refused] == [
        "consent names no actor: consent is recorded by a registrar over HTTP, which names them",
        "consent actor ops@example.org is not a registrar of an institution",
        "consent actor jaan@ut.ee is not a registrar of an institution",
        "consent carries no evidence: data.evidence is required"]


def signed_vc(achievement_iri):
    return {"id": "urn:uuid:c1", "credentialSubject": {"achievement": {"id": achievement_iri}}, "proof": [{}]}


def enveloped_vc(achievement_iri):
    payload = {"credentialSubject": {"achievement": {"id": achievement_iri}}}
    return jose.envelope(jose.sign(payload, keys.generate(), "did:example:issuer#key-1"))


def test_presented_gives_each_achievement_its_status():
    record = fold([awarded(LEARNER, "urn:uuid:c1"), awarded(LEARNER, "urn:uuid:c2"), revoked("urn:uuid:c2")])
    assert [(a["credential_id"], a["status"]) for a in domain.presented(record)["achievements"]] == [
        ("urn:uuid:c1", "valid"), ("urn:uuid:c2", "revoked")]
    assert "status" not in record["achievements"][0]  # the stored record is left as it was


def test_a_qualifications_own_credential_is_what_its_parts_are_part_of_and_a_revoked_one_is_not():
    qualification = achievement(achievement_id="msc", achievement_type="Certificate", institution_id="uni-tartu")
    events = [awarded(LEARNER, "urn:uuid:c1"), awarded(LEARNER, "urn:uuid:c2"), completed(),
              awarded(LEARNER, "urn:uuid:q", achievement=qualification, built_from=["urn:uuid:c1", "urn:uuid:c9"])]
    # c1 is part of the qualification's credential; c2, not in built_from, of the completed qualification; c9 is
    # not held.
    assert [(a["sourceId"], a["targetId"]) for a in associations(fold(events))] == [
        ("urn:uuid:c1", "urn:uuid:q"), ("urn:uuid:c2", "urn:creditflow:qualification:uni-tartu:msc-ds")]
    assert [(a["sourceId"], a["targetId"]) for a in associations(fold([*events, revoked("urn:uuid:q")]))] == [
        ("urn:uuid:c1", "urn:creditflow:qualification:uni-tartu:msc-ds"),
        ("urn:uuid:c2", "urn:creditflow:qualification:uni-tartu:msc-ds")]


def test_an_invalidated_qualification_gives_no_associations_and_no_clr_achievement():
    invalidated = QualificationInvalidated(
        producer="creditflow.stacking", learner_id=LEARNER, occurred_at=at(60),
        data=QualificationInvalidatedData(programme_id="msc-ds", institution_id="uni-tartu", programme_version=1,
                                          credential_ids=["urn:uuid:c1"], lost=["urn:uuid:c1"], reason="c1 revoked"))
    record = fold([awarded(LEARNER, "urn:uuid:c1"), completed(), invalidated])
    assert [(q["status"], q["reason"]) for q in record["qualifications"]] == [("invalidated", "c1 revoked")]
    clr = domain.clr_credential(record, False, platform_id="https://records.test/platform", clr_id="urn:uuid:clr",
                                issued_at=T0)
    assert associations(record) == [] and clr["credentialSubject"]["achievement"] == []


def test_the_clr_embeds_the_credentials_as_issued_and_links_achievement_ids():
    tartu = "https://issuer.test/institutions/uni-tartu/achievements/"
    events = [awarded(LEARNER, "urn:uuid:c1", credential=signed_vc(tartu + "data")),
              awarded(LEARNER, "urn:uuid:c2", credential=enveloped_vc(tartu + "stats"),
                      achievement=achievement(achievement_id="stats")),
              awarded(LEARNER, "urn:uuid:c3", achievement=achievement(achievement_id="ethics")),  # unsigned
              awarded(LEARNER, "urn:uuid:c4", credential={"type": "EnvelopedVerifiableCredential", "id": "data:,x"},
                      achievement=achievement(achievement_id="broken"))]  # not a JWS
    record = apply(QualificationCompleted(
        producer="creditflow.stacking", learner_id=LEARNER, occurred_at=at(50),
        data=QualificationCompletedData(programme_id="msc-ds", institution_id="uni-tartu", programme_version=1,
                                        credential_ids=["urn:uuid:c1", "urn:uuid:c2", "urn:uuid:c3", "urn:uuid:c4"])),
        fold(events))
    clr = domain.clr_credential(record, True, platform_id="https://records.test/platform", clr_id="urn:uuid:clr",
                                issued_at=T0)
    subject = clr["credentialSubject"]
    assert (clr["id"], clr["type"], clr["partial"], clr["validFrom"]) == (
        "urn:uuid:clr", ["VerifiableCredential", "ClrCredential"], True, "2026-06-01T00:00:00Z")
    assert clr["issuer"] == {"id": "https://records.test/platform", "type": ["Profile"],
                             "name": "creditflow learner-record"}
    assert clr["name"] == f"Comprehensive Learner Record of {LEARNER}"
    assert clr["@context"] == [contexts.VC2, contexts.CLR2, contexts.OB3, contexts.CREDITFLOW_V1]
    assert (subject["id"], subject["type"]) == (learner_subject_id(LEARNER), ["ClrSubject"])
    assert subject["verifiableCredential"] == [a["credential"] for a in record["achievements"][:2]] + [
        record["achievements"][3]["credential"]]  # as issued; the unsigned award has none to embed
    qualification = "urn:creditflow:qualification:uni-tartu:msc-ds"
    assert subject["achievement"] == [{
        "id": qualification, "type": ["Achievement"], "achievementType": "Certificate", "name": "msc-ds (uni-tartu)",
        "description": "Qualification msc-ds of uni-tartu, completed from 4 credentials",
        "criteria": {"narrative": "Completed from 4 credentials"}}]
    link = {"type": "Association", "associationType": "isPartOf", "targetId": qualification}
    assert subject["association"] == [
        {**link, "sourceId": tartu + "data"},  # a Data Integrity credential's achievement id
        {**link, "sourceId": tartu + "stats"},  # read from inside a VC-JOSE envelope
        {**link, "sourceId": "urn:creditflow:achievement:uni-helsinki:ethics"},  # none issued: creditflow's own
        {**link, "sourceId": "urn:creditflow:achievement:uni-helsinki:broken"}]


def test_clr_associations_between_two_held_credentials_link_their_achievement_ids_once():
    tartu = "https://issuer.test/institutions/uni-tartu/achievements/"
    qualification = achievement(achievement_id="msc", achievement_type="Certificate")
    record = fold([awarded(LEARNER, "urn:uuid:c1", credential=signed_vc(tartu + "data")),
                   awarded(LEARNER, "urn:uuid:q", achievement=qualification, credential=signed_vc(tartu + "msc"),
                           built_from=["urn:uuid:c1"]),
                   awarded(LEARNER, "urn:uuid:c1b", credential=signed_vc(tartu + "data"),
                           achievement=achievement(achievement_id="data-again"))])
    record = apply(awarded(LEARNER, "urn:uuid:q2", achievement=qualification, credential=signed_vc(tartu + "msc"),
                           built_from=["urn:uuid:c1", "urn:uuid:c1b"]), record)
    assert domain.clr_associations(record) == [
        {"type": "Association", "associationType": "isPartOf", "sourceId": tartu + "data", "targetId": tartu + "msc"}]


def test_an_award_keeps_every_figure_of_its_event_and_a_later_award_of_the_same_credential_replaces_them():
    first = awarded(LEARNER, grade="B", credential={"proof": [{}]}, credit_conversions=conversions(("identity", 5)))
    [entry] = domain.fold(first, empty(LEARNER), Verdict(False, ("expired",)))["achievements"]
    assert (entry["grade"], entry["field_of_study"], entry["ects"], entry["credential"]) == (
        "B", first.data.achievement.field_of_study, [{"ects": 5.0, "method": "identity", "rule": "identity rule"}],
        {"proof": [{}]})
    assert (entry["marker"]["event_id"], entry["verification_reasons"]) == (str(first.event_id), ["expired"])
    corrected = awarded(LEARNER, grade="A")
    corrected = corrected.model_copy(update={"occurred_at": first.occurred_at + timedelta(minutes=1)})
    [entry] = fold([first, corrected])["achievements"]
    assert (entry["grade"], entry["credential"], entry["verification"]) == ("A", None, "unsigned")
    assert fold([corrected, first]) == fold([first, corrected])


def test_a_revocation_held_for_an_award_still_to_come_is_applied_and_released_when_it_arrives():
    record = fold([revoked(), awarded(LEARNER)])
    assert (record["pending_revocations"], status(record["achievements"][0])) == ({}, "revoked")
    assert record["achievements"][0]["revocation"]["reason"] == "issued in error"


def test_fold_passes_other_events_to_apply_unchanged():
    request = requested()
    assert domain.fold(request, empty(LEARNER), Verdict(True)) == apply(request, empty(LEARNER))
    update = progress(5, 40)
    assert domain.fold(update, empty(LEARNER)) == fold([update])


def test_an_empty_record_is_plain_json():
    assert empty(LEARNER) == {"learner_id": LEARNER, "achievements": [], "pending_revocations": {},
                              "recognition_requests": [], "recognitions": [], "progress": [], "qualifications": [],
                              "consents": []}


def test_consent_with_an_end_shows_the_record_until_that_instant_and_a_revocation_forgets_the_end():
    grant = LearnerConsentGranted(producer=LEARNER, learner_id=LEARNER, occurred_at=at(5),
                                  data=LearnerConsentData(institution_id="uni-oslo", valid_until=at(100)))
    record = fold([awarded(LEARNER), grant])
    assert [c["valid_until"] for c in record["consents"]] == [at(100).isoformat().replace("+00:00", "Z")]
    assert view(record, "uni-oslo", at(99)) == (record, False)
    assert view(record, "uni-oslo", at(100)) is None
    assert [c["valid_until"] for c in apply(consent(False, 6), record)["consents"]] == [None]


def test_the_institutions_view_keeps_only_its_decisions_progress_and_qualifications_and_no_consents():
    elsewhere = achievement(achievement_id="x", institution_id="uni-tartu")
    record = fold([awarded(LEARNER, "urn:uuid:c9", achievement=elsewhere), requested(credential_ids=["urn:uuid:c1"]),
                   decided(), progress(5, 40), completed(), consent(True, 55, institution="uni-oslo"),
                   revoked("urn:uuid:c7")])
    visible, partial = view(record, "uni-tartu", at(100))
    assert partial and visible == {
        **record, "pending_revocations": {}, "consents": [],
        "achievements": [a for a in record["achievements"] if a["credential_id"] == "urn:uuid:c9"]}
    assert [len(visible[k]) for k in ("recognition_requests", "recognitions", "progress", "qualifications")] == [
        1, 1, 1, 1]
    oslo_only = fold([awarded(LEARNER, "urn:uuid:c9", achievement=achievement(institution_id="uni-oslo"))])
    assert view(oslo_only, "uni-oslo", at(100)) == (oslo_only, False)  # all of it is its own: not partial
    helsinki = view(apply(awarded(LEARNER, "urn:uuid:c1"), record), "uni-helsinki", at(100))[0]
    assert [len(helsinki[k]) for k in ("recognition_requests", "recognitions", "progress", "qualifications")] == [
        0, 0, 0, 0]


def test_an_award_keeps_the_assessment_and_what_it_is_part_of_and_fractional_credits_add_up_exactly():
    made = achievement(credits=CreditValue(value=0.1, framework="ects"), part_of=["prog-b", "prog-a"])
    record = fold([awarded(LEARNER, "urn:uuid:c1", achievement=made), awarded(LEARNER, "urn:uuid:c2", achievement=
                   achievement(credits=CreditValue(value=0.2, framework="ects")))])
    entry = record["achievements"][0]
    assert (entry["assessment_type"], entry["part_of"]) == (made.assessment_type, ["prog-a", "prog-b"])
    assert [t["credits"] for t in credit_totals(record)["by_framework"]] == [0.3]  # not 0.30000000000000004


def test_a_consent_revocation_ends_the_consent_whatever_end_date_it_names():
    revocation = LearnerConsentRevoked(producer=LEARNER, learner_id=LEARNER, occurred_at=at(6),
                                       data=LearnerConsentData(institution_id="uni-oslo", valid_until=at(100)))
    record = fold([consent(True, 5), revocation])
    assert [(c["granted"], c["valid_until"]) for c in record["consents"]] == [(False, None)]
