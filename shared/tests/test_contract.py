import json
from datetime import datetime, timedelta, timezone

import pytest
from contract_factories import awarded

from creditflow.events import (
    CONTRACT_TOPICS,
    EVENT_CLASSES,
    CredentialAwarded,
    CredentialRevoked,
    CredentialRevokedData,
    UndecodableEvent,
    decode,
    encode,
    topic_of,
    type_of,
)


def test_every_event_type_names_its_service_and_a_major_version():
    for cls in EVENT_CLASSES:
        parts = type_of(cls).split(".")
        assert parts[0] == "creditflow" and len(parts) == 5 and parts[-1] == "v1", type_of(cls)
        # `identity`: the token registry, written by the operator's `creditflow token` commands (0002)
        assert parts[1] in {"issuer", "learner_record", "recognition", "stacking", "identity"}


def test_every_event_travels_on_exactly_one_topic():
    routed = [cls for topic in CONTRACT_TOPICS for cls in topic.events]
    assert sorted(map(type_of, routed)) == sorted(map(type_of, EVENT_CLASSES))


def test_encoded_event_decodes_to_the_same_event():
    event = awarded()
    assert decode(encode(event)) == event


def test_correlation_id_defaults_to_the_event_id_and_a_caused_event_keeps_it():
    event = awarded()
    assert event.correlation_id == str(event.event_id)
    revoked = CredentialRevoked(
        producer="uni-helsinki",
        learner_id="learner-1",
        data=CredentialRevokedData(credential_id="urn:uuid:c1", institution_id="uni-helsinki", reason="fraud"),
        **event.caused(),
    )
    assert revoked.correlation_id == event.correlation_id
    assert revoked.causation_id == str(event.event_id)


def test_occurred_at_is_normalised_to_utc_and_naive_times_are_refused():
    helsinki = timezone(timedelta(hours=3))
    event = awarded().model_copy()
    raw = json.loads(encode(event))
    raw["occurred_at"] = datetime(2026, 6, 1, 15, tzinfo=helsinki).isoformat()
    assert decode(json.dumps(raw).encode()).occurred_at.utcoffset() == timedelta(0)
    raw["occurred_at"] = "2026-06-01T15:00:00"
    with pytest.raises(UndecodableEvent, match="occurred_at"):
        decode(json.dumps(raw).encode())


def test_learner_events_are_keyed_by_learner_id():
    event = awarded(learner_id="learner-42")
    topic = topic_of(event)
    assert topic.name == "creditflow.learner.credentials"
    assert topic.key_of(event) == "learner-42"


def test_unknown_fields_are_ignored_so_newer_producers_do_not_break_consumers():
    raw = json.loads(encode(awarded()))
    raw["added_in_a_later_minor"] = {"anything": 1}
    raw["data"]["also_new"] = True
    assert isinstance(decode(json.dumps(raw).encode()), CredentialAwarded)


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda e: e.pop("learner_id"), "learner_id: Field required"),
        (lambda e: e["data"]["achievement"]["credits"].update(value=-1), "data.achievement.credits.value"),
        (lambda e: e.update(event_type="creditflow.issuer.credential.awarded.v9"), "does not match any of the expected"),
        (lambda e: e.update(learner_id="has spaces"), "learner_id: String should match pattern"),
    ],
)
def test_invalid_event_is_refused_with_the_field_and_the_rule(mutate, expected):
    raw = json.loads(encode(awarded()))
    mutate(raw)
    with pytest.raises(UndecodableEvent, match=expected.replace(".", r"\.")):
        decode(json.dumps(raw).encode())


@pytest.mark.parametrize("raw", [b"not json", b"{}", b"[]", None])
def test_bytes_that_are_no_event_are_refused(raw):
    with pytest.raises(UndecodableEvent):
        decode(raw)
