"""Issuing, as pure functions: validated, converted, classified and signed awards in, events out.

Nothing here does I/O or reads a clock: keys, times, ids and status-list indexes are passed in.
"""

from __future__ import annotations

import uuid
from collections.abc import Container
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from creditflow.credentials import data_integrity
from creditflow.credentials.subjects import learner_id_of
from creditflow.events import (
    Achievement,
    AchievementPublished,
    Actor,
    CredentialAwarded,
    CredentialAwardedData,
    CredentialRevoked,
    CredentialRevokedData,
    InstitutionRegistered,
    InstitutionRegisteredData,
    ProgrammePublishedData,
    PublicKey,
    QualificationCompleted,
)
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from . import credential, rules

# Credential ids are derived from (institution, request id), so the same request can never make two credentials.
_CREDENTIAL_NAMESPACE = uuid.UUID("5b0f8f5e-3a57-4c36-9a0c-6f0f2e1c1d11")


def credential_id_for(institution_id: str, request_id: str) -> str:
    name = "\x1f".join((institution_id, request_id))
    return f"urn:uuid:{uuid.uuid5(_CREDENTIAL_NAMESPACE, name)}"


@dataclass(frozen=True)
class SigningKey:
    verification_method: str  # {issuer}/institutions/{id}/keys/{key_id}, which dereferences to a Multikey document
    private_key: Ed25519PrivateKey


class AwardRefused(Exception):
    def __init__(self, problems: list[rules.Problem]) -> None:
        super().__init__("; ".join(map(str, problems)))
        self.problems = problems


def issue(
    *,
    public_url: str,
    request_id: str,
    learner_id: str,
    institution: rules.Institution,
    achievement: Achievement,
    awarded_at: datetime,
    grade: str | None,
    status_index: int,
    signing_key: SigningKey,
    signed_at: datetime,
    correlation_id: str = "",
    built_from: list[str] | None = None,
) -> CredentialAwarded:
    """The award with its Data Integrity proof (created = `signed_at`, which the key's validity is judged at, so an
    award dated in the past verifies), or AwardRefused naming every missing element and broken rule."""
    if achievement.institution_id != institution.institution_id:
        raise AwardRefused([rules.Problem("achievement_id", f"not an achievement of {institution.institution_id}")])
    problems = rules.award_problems(learner_id, institution, achievement, awarded_at)
    if problems:
        raise AwardRefused(problems)
    credential_id = credential_id_for(institution.institution_id, request_id)
    conversions = rules.to_ects(achievement)
    size = rules.classify_size(achievement, conversions[0].ects if conversions else None)
    unsigned = credential.achievement_credential(
        public_url=public_url,
        credential_id=credential_id,
        learner_id=learner_id,
        institution=institution,
        achievement=achievement,
        awarded_at=awarded_at,
        grade=grade,
        conversions=conversions,
        size=size,
        status_index=status_index,
        built_from=built_from or [],
    )
    signed = data_integrity.sign(unsigned, signing_key.private_key, signing_key.verification_method, signed_at,
                                 proof_set=True)
    return CredentialAwarded(
        producer=institution.institution_id,
        learner_id=learner_id,
        correlation_id=correlation_id,
        occurred_at=awarded_at,
        data=CredentialAwardedData(
            credential_id=credential_id,
            institution_id=institution.institution_id,
            achievement=achievement,
            awarded_at=awarded_at,
            grade=grade,
            credit_conversions=conversions,
            size=size,
            credential=signed,
            built_from=built_from or [],
        ),
    )


def revoke(award: CredentialAwarded, reason: str, at: datetime, correlation_id: str = "",
           actor: Actor | None = None) -> CredentialRevoked:
    return CredentialRevoked(
        producer=award.data.institution_id,
        learner_id=award.learner_id,
        occurred_at=at,
        correlation_id=correlation_id or award.correlation_id,
        causation_id=str(award.event_id),
        actor=actor,
        data=CredentialRevokedData(
            credential_id=award.data.credential_id, institution_id=award.data.institution_id, reason=reason
        ),
    )


# ------------------------------------------------------------------------------------------------ registration


def kid_of(issuer: str, key_id: str) -> str:
    return f"{issuer}#{key_id}"


Algorithm = Literal["Ed25519", "P-256"]
_KEY_ID_PREFIX: dict[str, str] = {"Ed25519": "key", "P-256": "es256-key"}


def next_key_id(registration: InstitutionRegisteredData | None, algorithm: Algorithm = "Ed25519") -> str:
    """`key-N` for Ed25519 (as before), `es256-key-N` for P-256; never reused."""
    count = sum(k.algorithm == algorithm for k in registration.public_keys) if registration else 0
    return f"{_KEY_ID_PREFIX[algorithm]}-{count + 1}"


def with_new_key(registration: InstitutionRegisteredData, key: PublicKey) -> InstitutionRegisteredData:
    """Rotation: the new key signs from its valid_from on; the keys of its algorithm still current retire then,
    and keep verifying what they signed before."""
    kept = [k if k.retired_at or k.algorithm != key.algorithm else k.model_copy(update={"retired_at": key.valid_from})
            for k in registration.public_keys]
    return registration.model_copy(update={"public_keys": [*kept, key]})


def with_external_key(registration: InstitutionRegisteredData, key: PublicKey) -> InstitutionRegisteredData:
    """An institution's own key (for what it signs itself) is added beside the issuer-held keys, which it does not
    retire: the issuer has no private half of it and keeps signing awards with its own keys."""
    return registration.model_copy(update={"public_keys": [*registration.public_keys, key]})


def current_key(registration: InstitutionRegisteredData, algorithm: Algorithm = "Ed25519",
                held: Container[str] | None = None) -> PublicKey | None:
    """The newest unretired key of the algorithm; with `held`, the newest whose private half the issuer holds
    (an institution's external keys are current too, but the issuer cannot sign with them)."""
    return next((k for k in reversed(registration.public_keys)
                 if k.retired_at is None and k.algorithm == algorithm and (held is None or k.key_id in held)), None)


def registered(registration: InstitutionRegisteredData, at: datetime, correlation_id: str = "",
               actor: Actor | None = None) -> InstitutionRegistered:
    """The registration as it now stands; `actor`: who registered the institution or changed its keys."""
    return InstitutionRegistered(
        producer=registration.institution_id, occurred_at=at, correlation_id=correlation_id, actor=actor,
        data=registration
    )


def achievement_published(achievement: Achievement, at: datetime, correlation_id: str = "") -> AchievementPublished:
    return AchievementPublished(
        producer=achievement.institution_id, occurred_at=at, correlation_id=correlation_id, data=achievement
    )


def direct_publication_problems(event: CredentialAwarded, verified: dict) -> list[str]:
    """Where a credential an institution signed itself disagrees with the event that carries it."""
    subject = verified.get("credentialSubject", {})
    checks = [
        (verified.get("id") == event.data.credential_id, "credential id differs from data.credential_id"),
        (learner_id_of(str(subject.get("id"))) == event.learner_id, "credentialSubject.id differs from learner_id"),
        (event.producer == event.data.institution_id, "producer is not the awarding institution"),
    ]
    return [problem for ok, problem in checks if not ok]


@dataclass(frozen=True)
class Basis:
    """One credential a completed qualification claims to be built from, as the issuer's store holds it: None when
    the issuer holds no such credential."""

    credential_id: str
    award: CredentialAwarded | None
    revoked: bool = False
    issuer_registered: bool = False


def qualification_problems(event: QualificationCompleted, programme: ProgrammePublishedData | None,
                           basis: list[Basis]) -> list[str]:
    """Why the issuer must not award the qualification a QualificationCompleted event asks for ([] when it may):
    the programme version is published, by the institution the award would be signed for, awards automatically,
    and every credential it is built from is one the issuer holds, of that learner, by a registered institution
    (programmes name no accepted institutions), and not revoked. The event's word alone is not enough: anyone
    able to write creditflow.learner.progress could otherwise have the issuer sign a qualification."""
    data = event.data
    if programme is None:
        return [f"programme {data.programme_id} version {data.programme_version} of {data.institution_id} "
                "is not published"]
    problems = []
    if programme.institution_id != data.institution_id:
        problems.append(f"programme {data.programme_id} belongs to {programme.institution_id}, "
                        f"not {data.institution_id}")
    if programme.award_mode != "automatic":
        problems.append(f"programme {data.programme_id} is awarded by a registrar, not automatically")
    if programme.achievement_id != data.achievement_id:
        problems.append(f"achievement {data.achievement_id} is not the one programme {data.programme_id} awards "
                        f"({programme.achievement_id})")
    for found in basis:
        if found.award is None:
            problems.append(f"credential {found.credential_id} is not one the issuer holds")
            continue
        if found.award.learner_id != event.learner_id:
            problems.append(f"credential {found.credential_id} belongs to another learner")
        if not found.issuer_registered:
            problems.append(f"credential {found.credential_id} was issued by {found.award.data.institution_id}, "
                            "which is not a registered institution")
        if found.revoked:
            problems.append(f"credential {found.credential_id} is revoked")
    return problems
