"""What stacking publishes as a learner's facts change, without Kafka or MongoDB: a completed qualification was earned
when it completed, so neither time passing beyond a recency window nor a later version of the programme undoes it;
a revocation still does."""

from datetime import date, datetime, timedelta

from creditflow.events import (
    CredentialRevoked,
    CredentialRevokedData,
    CreditValue,
    LearnerConsentData,
    LearnerConsentGranted,
    ProgrammePublishedData,
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
    # Once invalidated, the learner is measured now again: the remaining credential has aged out.
    assert not facts.progress(known, versions, YEARS_LATER).allocations
