"""The learner-record fold: idempotent and order-tolerant, so redelivery and replay give the same record."""

from functools import reduce

from contract_factories import achievement, awarded
from hypothesis import given, settings
from hypothesis import strategies as st

from creditflow.events import CredentialRevoked, CredentialRevokedData
from creditflow.learner_record.domain import apply, empty


def revoked(credential_id="urn:uuid:c1", reason="issued in error"):
    return CredentialRevoked(
        producer="uni-helsinki",
        learner_id="learner-1",
        data=CredentialRevokedData(credential_id=credential_id, institution_id="uni-helsinki", reason=reason),
    )


def fold(events):
    return reduce(lambda record, event: apply(event, record), events, empty("learner-1"))


def test_an_award_becomes_a_valid_achievement_with_its_credits_and_level():
    record = fold([awarded()])
    [entry] = record.achievements
    assert (entry.credential_id, entry.title, entry.status) == ("urn:uuid:c1", "Data literacy", "valid")
    assert entry.credits.value == 5 and entry.level.eqf == 6


def test_the_same_award_twice_changes_nothing():
    event = awarded()
    assert fold([event, event]) == fold([event])


def test_revocation_marks_the_achievement_revoked_with_its_reason():
    [entry] = fold([awarded(), revoked()]).achievements
    assert (entry.status, entry.revocation_reason) == ("revoked", "issued in error")


def test_revocation_before_its_award_is_kept_and_applied_when_the_award_arrives():
    early = fold([revoked()])
    assert early.achievements == [] and early.pending_revocations == {"urn:uuid:c1": "issued in error"}
    assert fold([revoked(), awarded()]) == fold([awarded(), revoked()])


def test_a_redelivered_award_after_its_revocation_does_not_revive_it():
    award = awarded()
    [entry] = fold([award, revoked(), award]).achievements
    assert entry.status == "revoked"


EVENTS = [
    awarded(credential_id="urn:uuid:c1"),
    awarded(credential_id="urn:uuid:c2", achievement=achievement(achievement_id="ach-2", title="Statistics")),
    revoked("urn:uuid:c1"),
    awarded(credential_id="urn:uuid:c3", achievement=achievement(achievement_id="ach-3", title="Ethics")),
]


@settings(max_examples=200, deadline=None)
@given(st.permutations(EVENTS), st.lists(st.sampled_from(EVENTS), max_size=6))
def test_any_order_and_any_duplication_folds_to_the_in_order_record(order, duplicates):
    assert fold([*order, *duplicates]) == fold(EVENTS)
