"""The envelope every creditflow event travels in.

Events are past-tense facts. Their `event_type` carries a major version
(`creditflow.<service>.<subject>.<action>.v<major>`): fields are added, never removed or retyped, and a breaking change
is a new major version. Readers are tolerant: unknown fields are ignored, so a newer producer never breaks an older
consumer.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated
from uuid import UUID, uuid4

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints, model_validator

# Ids are chosen by institutions (URNs, DIDs, e-mail-like handles): allow what those use, refuse blanks and control
# characters so that an id is always safe in a Kafka key, a URL path and a MongoDB _id.
Identifier = Annotated[
    str, StringConstraints(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:@/+#~-]*$")
]


def _to_utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


UtcDatetime = Annotated[AwareDatetime, AfterValidator(_to_utc)]


class ContractModel(BaseModel):
    """Base of every model in the contract: tolerant of unknown fields, immutable once built."""

    model_config = ConfigDict(extra="ignore", frozen=True, defer_build=True)


class Actor(ContractModel):
    """The authenticated person behind an event caused by an HTTP request (docs/decisions/0002)."""

    person: str = Field(min_length=1, max_length=300, description="The token's subject: a person or an integration.")
    institution_id: Identifier | None = Field(description="The institution the person acted for; null: the operator.")
    roles: list[str] = Field(default_factory=list, description="The token's roles when it acted.")


class Event(ContractModel):
    """Envelope fields shared by all events; subclasses pin `event_type` to one Literal and type `data`."""

    event_id: UUID = Field(default_factory=uuid4, description="Unique id of this event; consumers deduplicate on it.")
    event_type: str = Field(description="Versioned type: creditflow.<service>.<subject>.<action>.v<major>.")
    occurred_at: UtcDatetime = Field(
        default_factory=lambda: datetime.now(UTC), description="When the fact happened, in UTC."
    )
    producer: Identifier = Field(description="The institution_id or service that produced the event.")
    correlation_id: str = Field(
        default="",
        max_length=200,
        description="Id shared by every event of one business flow; defaults to this event's id.",
    )
    causation_id: str | None = Field(default=None, max_length=200, description="event_id of the event that caused this one.")
    learner_id: Identifier | None = Field(default=None, description="The learner this event is about, where there is one.")
    actor: Actor | None = Field(
        default=None, description="Who caused it over HTTP, from their token; absent for facts a service derived."
    )

    @model_validator(mode="after")
    def _default_correlation(self) -> Event:
        if not self.correlation_id:
            object.__setattr__(self, "correlation_id", str(self.event_id))
        return self

    def caused(self) -> dict[str, str]:
        """Envelope fields for an event that this one causes: same flow, this event as the cause."""
        return {"correlation_id": self.correlation_id, "causation_id": str(self.event_id)}


class LearnerEvent(Event):
    """An event about one learner: learner_id is required and is the partition key."""

    learner_id: Identifier = Field(description="The learner this event is about; the partition key of its topic.")


def type_of(event_class: type[Event]) -> str:
    """The event_type string an Event subclass pins."""
    return event_class.model_fields["event_type"].default
