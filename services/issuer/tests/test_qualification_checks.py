"""The issuer's pure check of a reported completion before it awards a qualification automatically."""

from datetime import date

from contract_factories import achievement, awarded

from creditflow.events import CreditValue, ProgrammePublishedData, QualificationCompleted, QualificationCompletedData
from creditflow.issuer.domain import Basis, qualification_problems

LEARNER = "learner-1"
HOME = achievement().institution_id


def programme(**overrides) -> ProgrammePublishedData:
    return ProgrammePublishedData(**{
        "programme_id": "prog-ds", "institution_id": HOME, "version": 1, "effective_from": date(2025, 1, 1),
        "title": "Data science", "total_credits": CreditValue(value=5, framework="ects"),
        "award_mode": "automatic", "achievement_id": "ach-cert", **overrides})


def completed(**overrides) -> QualificationCompleted:
    return QualificationCompleted(producer="stacking", learner_id=LEARNER, data=QualificationCompletedData(**{
        "programme_id": "prog-ds", "institution_id": HOME, "programme_version": 1, "credential_ids": ["urn:uuid:c1"],
        "award_mode": "automatic", "achievement_id": "ach-cert", **overrides}))


def held(**overrides) -> Basis:
    return Basis(**{"credential_id": "urn:uuid:c1", "award": awarded(LEARNER), "issuer_registered": True,
                    **overrides})


def test_a_completion_of_a_published_automatic_programme_from_held_valid_credentials_may_be_awarded():
    assert qualification_problems(completed(), programme(), [held()]) == []


def test_a_completion_of_a_programme_never_published_is_refused():
    assert qualification_problems(completed(), None, [held()]) == [
        f"programme prog-ds version 1 of {HOME} is not published"]


def test_each_broken_rule_is_named():
    problems = qualification_problems(
        completed(), programme(institution_id="uni-other", award_mode="registrar", achievement_id="ach-other"),
        [held(award=None), held(credential_id="urn:uuid:c2", award=awarded("learner-2", "urn:uuid:c2"),
                                issuer_registered=False, revoked=True)])
    assert problems == [
        "programme prog-ds belongs to uni-other, not " + HOME,
        "programme prog-ds is awarded by a registrar, not automatically",
        "achievement ach-cert is not the one programme prog-ds awards (ach-other)",
        "credential urn:uuid:c1 is not one the issuer holds",
        "credential urn:uuid:c2 belongs to another learner",
        f"credential urn:uuid:c2 was issued by {HOME}, which is not a registered institution",
        "credential urn:uuid:c2 is revoked",
    ]
