"""Awarding and revoking, for the HTTP API and for qualifications that stacking reports complete: look up the
institution, achievement and key, let the domain issue, store with the event pending, publish."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from creditflow.credentials.verify import verification_method
from creditflow.events import Actor, CredentialAwarded, Identifier, UtcDatetime
from creditflow.events.values import ShortText
from creditflow.runtime.outbox import publish_queued
from faststream.kafka import KafkaBroker
from pydantic import BaseModel, Field, field_validator

from . import credential, domain
from .keystore import FileKeyStore
from .rules import Institution, Problem
from .store import IssuerStore


@dataclass(frozen=True)
class Options:
    public_url: str
    key_store: FileKeyStore
    # The learner-record platform's issuer id ({its public url}/platform): POST /verify trusts its key for CLRs.
    platform_issuer_id: str | None = None
    # Where this process fetches what those public URLs name (runtime.settings.internal_routes).
    routes: dict[str, str] = field(default_factory=dict)


EARLIEST_AWARD = datetime(1900, 1, 1, tzinfo=UTC)
# The institution's clock may run a little ahead of ours; an award further in the future is a mistake.
CLOCK_SKEW = timedelta(minutes=5)


class AwardRequest(BaseModel):
    request_id: Annotated[str, Field(min_length=1, max_length=200)] = Field(
        description="Chosen by the institution; the same request id never issues twice."
    )
    learner_id: Identifier
    achievement_id: Identifier
    grade: ShortText | None = None
    # Aware only: a naive time would be read as the server's local time, which the institution never meant.
    awarded_at: UtcDatetime | None = Field(
        default=None, description="Defaults to now; must carry a time zone, from 1900 on and not in the future."
    )

    @field_validator("awarded_at")
    @classmethod
    def _plausible(cls, value: datetime | None) -> datetime | None:
        if value is None:
            return value
        if value < EARLIEST_AWARD:
            raise ValueError(f"must not be before {EARLIEST_AWARD.date().isoformat()}")
        if value > datetime.now(UTC) + CLOCK_SKEW:
            raise ValueError(f"must not be in the future (more than {int(CLOCK_SKEW.total_seconds())} s ahead)")
        return value


class AwardResult(BaseModel):
    credential_id: str
    status: Literal["issued", "duplicate"]
    credential: dict[str, Any]


class Awarder:
    def __init__(self, store: IssuerStore, options: Options, broker: KafkaBroker) -> None:
        self.store, self.options, self.broker = store, options, broker
        self.rng = secrets.SystemRandom()

    def issuer_of(self, institution_id: str) -> str:
        return credential.issuer_id(self.options.public_url, institution_id)

    async def award(self, institution_id: str, body: AwardRequest, correlation_id: str,
                    built_from: list[str] | None = None) -> AwardResult:
        store = self.store
        credential_id = domain.credential_id_for(institution_id, body.request_id)
        # No lookup first: a repeated request is rare, and the unique credential id turns it away at the insert.
        registration = await store.registration(institution_id)
        if registration is None:
            raise domain.AwardRefused([Problem("institution_id", f"{institution_id} is not registered")])
        achievement = await store.achievement(institution_id, body.achievement_id)
        if achievement is None:
            raise domain.AwardRefused([Problem(
                "achievement_id", f"{body.achievement_id} is not an achievement {institution_id} has published")])
        key = domain.current_key(registration, held=self.options.key_store.held(institution_id))
        if key is None:
            raise domain.AwardRefused([Problem("institution_id", "no current signing key")])
        now = datetime.now(UTC)
        index = await store.allocate_status_index(institution_id, self.rng)
        event = domain.issue(
            public_url=self.options.public_url,
            request_id=body.request_id,
            learner_id=body.learner_id,
            institution=Institution(registration.institution_id, registration.name, registration.country),
            achievement=achievement,
            awarded_at=(body.awarded_at or now).astimezone(UTC),
            grade=body.grade,
            status_index=index,
            signing_key=domain.SigningKey(verification_method(self.issuer_of(institution_id), key.key_id),
                                          self.options.key_store.load(institution_id, key.key_id)),
            signed_at=now,
            correlation_id=correlation_id,
            built_from=built_from or [],
        )
        if not await store.save_award(event, index, body.request_id, now):
            # The same request came before (or raced us in); its award stands, and this index is simply never used.
            stored, _ = await store.award(credential_id)
            return AwardResult(credential_id=credential_id, status="duplicate", credential=stored.data.credential or {})
        await publish_queued(store.awards, credential_id, [event], self.broker)
        return AwardResult(credential_id=credential_id, status="issued", credential=event.data.credential or {})

    async def revoke(self, award: CredentialAwarded, document: dict, reason: str, correlation_id: str,
                     actor: Actor | None = None) -> bool:
        """Revoke in the status list and publish CredentialRevoked naming `actor` (None: derived by the service, as
        when a qualification is invalidated); False when it was already revoked."""
        now = datetime.now(UTC)
        await self.store.set_revoked(award.data.institution_id, document["status_index"])
        revoked = domain.revoke(award, reason, now, correlation_id, actor)
        if not await self.store.record_revocation(award.data.credential_id, revoked, reason, now):
            return False
        await publish_queued(self.store.awards, award.data.credential_id, [revoked], self.broker)
        return True
