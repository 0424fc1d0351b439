"""What stacking publishes as a learner's facts change, without Kafka or MongoDB: a completed qualification was earned
when it completed, so neither time passing beyond a recency window nor a later version of the programme undoes it;
a revocation still does."""

import uuid
from datetime import date, datetime, timedelta

from creditflow.events import (
    CredentialRevoked,
    CredentialRevokedData,
    CreditValue,
    LearnerConsentData,
    LearnerConsentGranted,
    LearnerConsentRevoked,
    LearnerEnrolled,
    LearnerEnrolledData,
    ProgrammePublishedData,
    RecognisedCredit,
    RecognitionDecided,
    RecognitionDecidedData,
    RecognitionRequested,
    RecognitionRequestedData,
    Requirement,
)
from creditflow.stacking import facts
from stacking_factories import HOME, NOW, award, programme

COMPLETED = NOW
YEARS_LATER = COMPLETED + timedelta(days=3 * 365)


def certificate(version: int = 1, *extra: Requirement) -> ProgrammePublishedData:
    """10 ECTS: ach-python and ach-stats, each at most two years old."""
    return programme(version=version, effective_from=date(2025, version, 1),
                     total_credits=CreditValue(value=10, framework="ects"), recency_years=2,
                     requirements=[Requirement(requirement_id="core", kind="required", options=["ach-python"]),
                                   Requirement(requirement_id="electives", kind="elective", options=["ach-stats"],
                                               min_items=1), *extra])


def held(learner: str, achievement_id: str):
    return award(learner, achievement_id, credential_id=f"urn:{learner}:{achievement_id}", grade=None)


def award_of(learner: str, achievement_id: str, size: str | None = None, part_of: list[str] = (),
             **achievement: object):
    """An award with a size band, or declaring the programmes its achievement stacks into."""
    event = award(learner, achievement_id)
    achievement = event.data.achievement.model_copy(update={"part_of": list(part_of), **achievement})
    update = {"achievement": achievement}
    if size:
        update["size"] = {"band": size, "rule": "5-40 credits"}
    return event.model_copy(update={"data": event.data.model_validate({**event.data.model_dump(), **update})})


def consent(learner: str) -> LearnerConsentGranted:
    return LearnerConsentGranted(producer=learner, learner_id=learner, data=LearnerConsentData(institution_id=HOME))


def step(known: facts.LearnerFacts, event, versions: list[ProgrammePublishedData], now: datetime):
    known, events = facts.progress_events(facts.apply(known, event), {"cert-ds": versions}, now)
    return known, [e.event_type.split(".")[2:4] for e in events], events


def completed(learner: str, versions: list[ProgrammePublishedData]) -> facts.LearnerFacts:
    known = facts.LearnerFacts(learner_id=learner)
    known, _, _ = step(known, held(learner, "ach-python"), versions, COMPLETED)
    known, kinds, _ = step(known, held(learner, "ach-stats"), versions, COMPLETED)
    assert kinds == [["progress", "updated"], ["qualification", "completed"]]
    return known


def test_time_passing_beyond_the_recency_window_does_not_undo_a_completed_qualification():
    versions = [certificate()]
    known = completed("learner-1", versions)
    known, kinds, _ = step(known, consent("learner-1"), versions, YEARS_LATER)
    assert kinds == []
    assert facts.progress(known, versions, YEARS_LATER).complete

    # The same credentials, never completed, are too old three years on.
    fresh = facts.LearnerFacts(learner_id="learner-2")
    fresh, _, _ = step(fresh, held("learner-2", "ach-python"), versions, YEARS_LATER)
    late = facts.progress(fresh, versions, YEARS_LATER)
    assert not late.allocations and "too old" in late.not_counted[0].reason


def test_a_later_programme_version_does_not_undo_a_completed_qualification():
    stricter = certificate(2, Requirement(requirement_id="capstone", kind="required", options=["ach-capstone"]))
    known = completed("learner-1", [certificate()])
    known, kinds, _ = step(known, consent("learner-1"), [certificate(), stricter], COMPLETED + timedelta(days=1))
    assert kinds == []
    assert facts.progress(known, [certificate(), stricter], COMPLETED).complete
    # What the what-if route measures against: the completed version, as of the completion.
    assert facts.standing(known, [certificate(), stricter], COMPLETED + timedelta(days=1)) == (certificate(), COMPLETED)

    # A learner who had not completed (and did not enrol) is measured against the version in force.
    other = facts.LearnerFacts(learner_id="learner-2")
    other, _, events = step(other, held("learner-2", "ach-python"), [certificate(), stricter], COMPLETED)
    assert events[0].data.programme_version == 2 and "capstone" in events[0].data.missing_requirements


def test_a_revocation_years_later_still_invalidates_it_and_names_only_the_revoked_credential():
    versions = [certificate()]
    known = completed("learner-1", versions)
    revoked = CredentialRevoked(producer="mooc-x", learner_id="learner-1", data=CredentialRevokedData(
        credential_id="urn:learner-1:ach-python", institution_id="mooc-x", reason="plagiarism"))
    known, kinds, events = step(known, revoked, versions, YEARS_LATER)
    assert kinds == [["progress", "updated"], ["qualification", "invalidated"]]
    assert events[1].data.lost == ["urn:learner-1:ach-python"]
    assert "plagiarism" in events[1].data.reason and "too old" not in events[1].data.reason
    # The progress published with the invalidation is measured now: the credential left has aged out too.
    assert events[0].data.allocations == [] and events[0].data.not_counted[1].reason.startswith("too old")
    tracked = known.programmes["cert-ds"]
    assert (tracked.completed_with, tracked.completed_at, tracked.completed_version) == (None, None, None)
    # Once invalidated, the learner is measured now again: the remaining credential has aged out.
    assert not facts.progress(known, versions, YEARS_LATER).allocations


def test_an_invalidated_learner_who_meets_the_version_in_force_completes_it_again_in_the_same_step():
    known = completed("learner-1", [certificate()])
    # Version 2 asks for ach-stats and ach-viz only; the learner holds ach-viz too.
    looser = programme(version=2, effective_from=date(2025, 2, 1),
                       total_credits=CreditValue(value=10, framework="ects"),
                       requirements=[Requirement(requirement_id="any", kind="elective",
                                                 options=["ach-stats", "ach-viz"], min_items=2)])
    versions = [certificate(), looser]
    known, _, _ = step(known, held("learner-1", "ach-viz"), versions, COMPLETED + timedelta(days=1))
    revoked = CredentialRevoked(producer="mooc-x", learner_id="learner-1", data=CredentialRevokedData(
        credential_id="urn:learner-1:ach-python", institution_id="mooc-x", reason="plagiarism"))
    known, kinds, events = step(known, revoked, versions, COMPLETED + timedelta(days=2))
    assert kinds == [["progress", "updated"], ["qualification", "invalidated"], ["qualification", "completed"]]
    assert events[2].data.programme_version == 2
    assert known.programmes["cert-ds"].completed_version == 2


# ------------------------------------------------------------------------------------------------ the fold


def at(event, days: int):
    """The event as if it occurred `days` after NOW."""
    return event.model_copy(update={"occurred_at": NOW + timedelta(days=days)})


def decided(learner: str, decision: str, outcome: str = "granted", programme_id: str = "cert-ds",
            institution_id: str = HOME, basis: str = "equivalence", days: int = 0,
            grade: str | None = "pass") -> RecognitionDecided:
    """Decision `decision` (`<case_id>.d<n>`) on a case recognising mod-ml toward `programme_id`."""
    credits = [RecognisedCredit(module_id="mod-ml", credits=CreditValue(value=5, framework="ects"),
                                credential_ids=["urn:elsewhere"], basis=basis, grade=grade)] \
        if outcome != "denied" else []
    return at(RecognitionDecided(producer="creditflow-recognition", learner_id=learner, data=RecognitionDecidedData(
        case_id=decision.split(".")[0], decision_id=decision, institution_id=institution_id, programme_id=programme_id,
        outcome=outcome, decided_by="automatic", recognised=credits)), days)


def revoked(learner: str, credential_id: str, reason: str, days: int) -> CredentialRevoked:
    return at(CredentialRevoked(producer="mooc-x", learner_id=learner, data=CredentialRevokedData(
        credential_id=credential_id, institution_id="mooc-x", reason=reason)), days)


def fold(*events, learner: str = "learner-1") -> facts.LearnerFacts:
    known = facts.LearnerFacts(learner_id=learner)
    for event in events:
        known = facts.apply(known, event)
    return known


def test_the_later_award_and_the_earliest_revocation_win_in_any_order():
    first = at(held("learner-1", "ach-python"), 0)
    second = first.model_copy(update={"event_id": uuid.uuid4(), "occurred_at": NOW + timedelta(days=1),
                                      "data": first.data.model_copy(update={"grade": "A"})})
    early, late = revoked("learner-1", first.data.credential_id, "fraud", 2), revoked(
        "learner-1", first.data.credential_id, "error", 3)
    for order in ([first, second, early, late], [late, second, early, first]):
        known = fold(*order)
        entry = known.credentials[first.data.credential_id]
        assert (entry.award.grade, entry.revoked) == ("A", "fraud")
    assert fold(first, first) == fold(first)


def test_a_recognition_keeps_its_latest_decision_and_the_last_one_that_recognised_credits():
    granted, denied = decided("learner-1", "case-1.d1"), decided("learner-1", "case-1.d2", "denied", days=1)
    for order in ([granted, denied], [denied, granted]):
        recognition = fold(*order).recognitions["case-1"]
        assert (recognition.latest.decision_id, recognition.granted.decision_id) == ("case-1.d2", "case-1.d1")


def test_the_later_enrolment_and_the_later_consent_decision_win():
    def enrolled(started: date, days: int):
        return at(LearnerEnrolled(producer=HOME, learner_id="learner-1", data=LearnerEnrolledData(
            programme_id="cert-ds", institution_id=HOME, started_on=started)), days)

    withdrawn = at(LearnerConsentRevoked(producer="learner-1", learner_id="learner-1",
                                         data=LearnerConsentData(institution_id=HOME)), 2)
    for order in ([enrolled(date(2026, 1, 1), 0), enrolled(date(2026, 2, 1), 1), at(consent("learner-1"), 1),
                   withdrawn],
                  [withdrawn, enrolled(date(2026, 2, 1), 1), at(consent("learner-1"), 1),
                   enrolled(date(2026, 1, 1), 0)]):
        known = fold(*order)
        assert known.enrolments["cert-ds"].value == date(2026, 2, 1) and known.consents[HOME].value is False


def test_events_stacking_does_not_fold_change_nothing():
    known = fold(held("learner-1", "ach-python"))
    request = RecognitionRequested(producer=HOME, learner_id="learner-1", data=RecognitionRequestedData(
        case_id="case-9", institution_id=HOME, programme_id="cert-ds", module_ids=["mod-ml"]))
    assert facts.apply(known, request) is known


def test_items_are_the_credentials_held_and_the_credits_recognised_into_this_programme():
    award = award_of("learner-1", "ach-python", size="micro")
    not_yet_awarded = revoked("learner-1", "urn:revoked-before-its-award", "error", 0)
    known = fold(not_yet_awarded, award, decided("learner-1", "case-2.d1", programme_id="other"),
                 decided("learner-1", "case-1.d1"), revoked("learner-1", award.data.credential_id, "fraud", 1))
    credential, recognition = sorted(facts.items_for(known, certificate()), key=lambda i: i.source)
    assert (credential.item_id, credential.options, credential.eqf, credential.grade) == (
        award.data.credential_id, frozenset({"ach-python"}), 6, "B")
    assert credential.micro_credential and credential.revoked == "revoked by the issuer: fraud"
    assert (recognition.item_id, recognition.options, recognition.credential_ids, recognition.revoked) == (
        "recognition:case-1.d1:mod-ml", frozenset({"mod-ml"}), ("urn:elsewhere",), None)
    assert recognition.credits.value == 5 and recognition.awarded_at == NOW
    assert recognition.grade == "pass"  # the grade as recognised, which stacking measures against min_grade
    [converted] = facts.items_for(fold(decided("learner-1", "case-3.d1", grade="4")), certificate())
    assert converted.grade == "4"


def test_a_recognition_superseded_by_a_refusal_stays_as_an_item_that_no_longer_counts():
    known = fold(decided("learner-1", "case-1.d1", basis="elective"), decided("learner-1", "case-1.d2", "denied",
                                                                              days=1))
    [item] = facts.items_for(known, certificate())
    assert item.options == frozenset() and item.item_id == "recognition:case-1.d1:mod-ml"
    assert item.revoked == "recognition case-1.d1 superseded by case-1.d2 (denied)"
    other_institution = fold(decided("learner-1", "case-1.d1", institution_id="uni-other"))
    assert facts.items_for(other_institution, certificate()) == []


def test_what_a_new_programme_may_concern_in_a_learner():
    known = fold(award_of("learner-1", "ach-python", part_of=["cert-part"]), decided("learner-1", "case-1.d1",
                                                                                        programme_id="cert-rec"))
    known = facts.apply(known, LearnerEnrolled(producer=HOME, learner_id="learner-1", data=LearnerEnrolledData(
        programme_id="cert-enrolled", institution_id=HOME, started_on=date(2026, 1, 1))))
    assert facts.relevant_programmes(known) == {"cert-part", "cert-rec", "cert-enrolled"}
    assert facts.reach(known) == ["achievement:ach-python", "programme:cert-enrolled", "programme:cert-part",
                                  "programme:cert-rec"]


def test_a_registrar_sees_a_learner_only_through_a_tie_to_their_institution():
    owners = {"cert-ds": HOME}
    assert not facts.ties(fold(held("learner-1", "ach-python")), HOME, owners)
    assert facts.ties(fold(held("learner-1", "ach-python")), "mooc-x", owners)  # it awarded the credential
    assert facts.ties(fold(consent("learner-1")), HOME, owners)
    withdrawn = LearnerConsentRevoked(producer="learner-1", learner_id="learner-1",
                                      data=LearnerConsentData(institution_id=HOME))
    assert not facts.ties(fold(at(consent("learner-1"), 0), at(withdrawn, 1)), HOME, owners)
    enrolled = LearnerEnrolled(producer=HOME, learner_id="learner-1", data=LearnerEnrolledData(
        programme_id="cert-ds", institution_id=HOME, started_on=date(2026, 1, 1)))
    assert facts.ties(fold(enrolled), HOME, owners) and not facts.ties(fold(enrolled), HOME, {})
    assert facts.ties(fold(decided("learner-1", "case-1.d1")), HOME, owners)


# ------------------------------------------------------------------------------------------------ what is published


def test_nothing_is_published_for_a_programme_the_learner_has_nothing_toward_unless_enrolled():
    known, kinds, _ = step(facts.LearnerFacts(learner_id="learner-1"), consent("learner-1"), [certificate()], NOW)
    assert kinds == [] and known.programmes == {}
    enrolled = LearnerEnrolled(producer=HOME, learner_id="learner-1", data=LearnerEnrolledData(
        programme_id="cert-ds", institution_id=HOME, started_on=date(2026, 1, 1)))
    _, kinds, [progress] = step(facts.LearnerFacts(learner_id="learner-1"), enrolled, [certificate()], NOW)
    assert kinds == [["progress", "updated"]] and progress.data.credits_counted == 0


def test_the_events_of_a_step_are_the_same_when_it_runs_again_and_carry_the_learner_and_trace():
    award = held("learner-1", "ach-python").model_copy(update={"correlation_id": "trace-1"})
    first = step(facts.LearnerFacts(learner_id="learner-1"), award, [certificate()], NOW)
    again = step(facts.LearnerFacts(learner_id="learner-1"), award, [certificate()], NOW)
    assert [e.event_id for e in first[2]] == [e.event_id for e in again[2]]
    [progress] = first[2]
    assert (progress.learner_id, progress.correlation_id, progress.producer, progress.occurred_at) == (
        "learner-1", "trace-1", "creditflow-stacking", NOW)
    assert first[0].programmes["cert-ds"].sequence == 1 and first[0].programmes["cert-ds"].published == progress.data


def test_a_completion_names_the_credentials_behind_a_recognition_and_how_the_qualification_is_awarded():
    known = fold(held("learner-1", "ach-python"))
    versions = [certificate(1, Requirement(requirement_id="ml", kind="elective", options=["mod-ml"], min_items=1))]
    versions[0] = versions[0].model_copy(update={"total_credits": CreditValue(value=15, framework="ects")})
    known, _, _ = step(known, held("learner-1", "ach-stats"), versions, NOW)
    known, kinds, events = step(known, decided("learner-1", "case-1.d1"), versions, NOW)
    assert kinds == [["progress", "updated"], ["qualification", "completed"]]
    completed = events[1].data
    assert completed.credential_ids == sorted(["urn:learner-1:ach-python", "urn:learner-1:ach-stats",
                                               "urn:elsewhere"])
    assert (completed.award_mode, completed.achievement_id, completed.programme_version) == (
        "automatic", "ach-cert-ds", 1)
    assert known.programmes["cert-ds"].completed_with == sorted(
        ["urn:learner-1:ach-python", "urn:learner-1:ach-stats", "recognition:case-1.d1:mod-ml"])


def test_a_credential_is_micro_by_its_size_and_keeps_its_declared_programmes_and_missing_level():
    sized = award_of("learner-1", "ach-python", size="micro", part_of=["cert-part"], achievement_type="Certificate",
                     level=None)
    unsized = award_of("learner-1", "ach-stats", achievement_type="Certificate")
    items = {i.options: i for i in facts.items_for(fold(sized, unsized), certificate())}
    python, stats = items[frozenset({"ach-python"})], items[frozenset({"ach-stats"})]
    assert python.micro_credential and not stats.micro_credential
    assert python.part_of == frozenset({"cert-part"}) and python.eqf is None


def test_of_two_granting_decisions_the_later_stays_granted_in_any_order():
    first, second = decided("learner-1", "case-1.d1"), decided("learner-1", "case-1.d2", days=1)
    assert fold(second, first).recognitions["case-1"].granted.decision_id == "case-1.d2"


def test_a_partial_decision_counts_and_a_referral_carrying_proposed_credits_does_not():
    [partial] = facts.items_for(fold(decided("learner-1", "case-1.d1", "partial")), certificate())
    assert partial.revoked is None
    proposal = fold(decided("learner-1", "case-1.d1"), decided("learner-1", "case-1.d2", "referred", days=1))
    [item] = facts.items_for(proposal, certificate())
    assert item.revoked is not None and item.revoked.endswith("superseded by case-1.d2 (referred)")


def test_of_two_events_at_the_same_moment_the_greater_event_id_wins_in_any_order():
    low, high = (held("learner-1", "ach-python").model_copy(update={"event_id": uuid.UUID(int=n)}) for n in (1, 2))
    high = high.model_copy(update={"occurred_at": low.occurred_at, "data": high.data.model_copy(update={"grade": "A"})})
    for order in ((low, high), (high, low)):
        assert fold(*order).credentials[low.data.credential_id].award.grade == "A"


def test_an_enrolled_learner_is_measured_against_the_version_for_their_start_and_no_versions_give_nothing():
    v2 = certificate(2, Requirement(requirement_id="capstone", kind="required", options=["ach-capstone"]))
    enrolled = LearnerEnrolled(producer=HOME, learner_id="learner-1", data=LearnerEnrolledData(
        programme_id="cert-ds", institution_id=HOME, started_on=date(2025, 1, 15)))
    known = fold(enrolled, held("learner-1", "ach-python"))
    assert facts.progress(known, [certificate(), v2], NOW).programme.version == 1
    assert facts.progress(known, [], NOW) is None


def test_a_completion_whose_version_is_no_longer_published_is_measured_now():
    known = completed("learner-1", [certificate()])
    later = certificate(2, Requirement(requirement_id="capstone", kind="required", options=["ach-capstone"]))
    programme, moment = facts.standing(known, [later], NOW + timedelta(days=1))
    assert (programme.version, moment) == (2, NOW + timedelta(days=1))


def test_every_programme_a_step_touches_publishes_and_each_event_has_its_own_id():
    other = certificate().model_copy(update={"programme_id": "cert-other"})
    unrelated = certificate().model_copy(update={"programme_id": "a-unrelated", "requirements": [
        Requirement(requirement_id="cooking", kind="required", options=["ach-cooking"])]})
    programmes = {"a-unrelated": [unrelated], "cert-ds": [certificate()], "cert-other": [other]}
    known = facts.LearnerFacts(learner_id="learner-1")
    known, events = facts.progress_events(facts.apply(known, held("learner-1", "ach-python")), programmes, NOW)
    assert [e.data.programme_id for e in events] == ["cert-ds", "cert-other"]
    known, more = facts.progress_events(facts.apply(known, held("learner-1", "ach-stats")), programmes, NOW)
    ids = [e.event_id for e in events + more]
    assert len(set(ids)) == len(ids) and known.programmes["cert-ds"].sequence == 3


def test_an_invalidation_names_what_no_longer_counts_and_keeps_within_the_contract():
    progress = facts.progress(fold(held("learner-1", "ach-python")), [certificate()], NOW)
    gone = facts._invalidation(["urn:gone"], progress)
    assert gone.reason == "the qualification no longer holds: urn:gone: no longer counts"
    many = facts._invalidation([f"urn:{n:04}" for n in range(200)], progress)
    assert len(many.reason) == 2000
