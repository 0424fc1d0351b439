"""The Open Badges 3.0 AchievementCredential (a W3C VC 2.0) for an award, before it is signed, and the documents a
verifier dereferences: the issuer Profile and its keys.

Open Badges lacks several EU 2022 Annex I elements; creditflow carries them in `achievement.euMicroCredential`
(level with its EQF referencing, workload, learning outcomes, assessment, participation, quality assurance, credits
with their ECTS conversions and size band checks), every term defined by creditflow's own context
(https://w3id.org/creditflow/v1), none left to `@vocab`. docs/credentials.md describes every field.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from creditflow.academic import eqf_level
from creditflow.credentials import contexts, data_integrity
from creditflow.credentials.subjects import learner_subject_id
from creditflow.credentials.verify import verification_method
from creditflow.events import Achievement, EctsConversion, InstitutionRegisteredData, SizeClassification

from .rules import Institution

OB3_CONTEXT = contexts.OB3
VC2_CONTEXT = contexts.VC2
AWARD_CONTEXT = [contexts.VC2, contexts.OB3, contexts.CREDITFLOW_V1]


def issuer_id(public_url: str, institution_id: str) -> str:
    return f"{public_url}/institutions/{institution_id}"


def status_list_url(public_url: str, institution_id: str) -> str:
    return f"{issuer_id(public_url, institution_id)}/status/revocation"


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _level(achievement: Achievement) -> dict[str, Any] | None:
    if achievement.level is None:
        return None
    level = achievement.level
    referenced = eqf_level(level.eqf, level.national_framework, level.national_level)
    return {**level.model_dump(mode="json", exclude_none=True),
            "eqfReferencing": {"eqf": referenced.eqf, "source": referenced.source}}


def achievement_credential(
    *,
    public_url: str,
    credential_id: str,
    learner_id: str,
    institution: Institution,
    achievement: Achievement,
    awarded_at: datetime,
    grade: str | None,
    conversions: list[EctsConversion],
    size: SizeClassification | None,
    status_index: int,
    built_from: list[str] | None = None,
) -> dict[str, Any]:
    issuer = issuer_id(public_url, institution.institution_id)
    ob_achievement: dict[str, Any] = {
        "id": f"{issuer}/achievements/{achievement.achievement_id}",
        "type": ["Achievement"],
        "achievementType": achievement.achievement_type,
        "name": achievement.title,
        "description": achievement.description or achievement.title,
        "criteria": {"narrative": "; ".join(o.statement for o in achievement.learning_outcomes)},
        "euMicroCredential": {
            "learningOutcomes": [o.model_dump(mode="json", exclude_none=True) for o in achievement.learning_outcomes],
            "workloadHours": achievement.workload_hours,
            "level": _level(achievement),
            "assessmentType": achievement.assessment_type,
            "participationForm": achievement.participation_form,
            "qualityAssuranceType": achievement.quality_assurance_type,
            "prerequisites": achievement.prerequisites,
            "ectsConversions": [c.model_dump(mode="json") for c in conversions],
            "sizeBand": size.model_dump(mode="json") if size else None,
        },
    }
    if achievement.credits is not None:
        ob_achievement["creditsAvailable"] = achievement.credits.value
        ob_achievement["euMicroCredential"]["credits"] = achievement.credits.model_dump(mode="json")
    if achievement.field_of_study:
        ob_achievement["fieldOfStudy"] = achievement.field_of_study
    if achievement.level and achievement.level.eqf:
        ob_achievement["alignment"] = [
            {
                "type": ["Alignment"],
                "targetName": f"EQF level {achievement.level.eqf}",
                "targetUrl": f"https://europa.eu/europass/en/eqf-level-{achievement.level.eqf}",
                "targetFramework": "European Qualifications Framework",
            }
        ]
    subject: dict[str, Any] = {"id": learner_subject_id(learner_id), "type": ["AchievementSubject"],
                               "achievement": ob_achievement}
    if grade:
        subject["result"] = [{"type": ["Result"], "value": grade}]
    stacked = {"evidence": [{"id": c, "type": ["Evidence"], "name": "credential this qualification is built from"}
                            for c in built_from]} if built_from else {}
    return {
        "@context": AWARD_CONTEXT,
        "id": credential_id,
        "type": ["VerifiableCredential", "OpenBadgeCredential"],
        "name": achievement.title,
        "issuer": {
            "id": issuer,
            "type": ["Profile"],
            "name": institution.name,
            "address": {"type": ["Address"], "addressCountry": institution.country},
        },
        "validFrom": _iso(awarded_at),
        "credentialSubject": subject,
        "credentialStatus": {
            "id": f"{status_list_url(public_url, institution.institution_id)}#{status_index}",
            "type": "BitstringStatusListEntry",
            "statusPurpose": "revocation",
            "statusListIndex": str(status_index),
            "statusListCredential": status_list_url(public_url, institution.institution_id),
        },
        **stacked,
    }


def status_list_credential(
    *, public_url: str, institution: Institution, encoded_list: str, valid_from: datetime
) -> dict[str, Any]:
    url = status_list_url(public_url, institution.institution_id)
    return {
        "@context": [VC2_CONTEXT],
        "id": url,
        "type": ["VerifiableCredential", "BitstringStatusListCredential"],
        "issuer": issuer_id(public_url, institution.institution_id),
        "validFrom": _iso(valid_from),
        "credentialSubject": {
            "id": f"{url}#list",
            "type": "BitstringStatusList",
            "statusPurpose": "revocation",
            "encodedList": encoded_list,
        },
    }


def profile(public_url: str, registration: InstitutionRegisteredData) -> dict[str, Any]:
    """The issuer's Open Badges 3.0 Profile at its `issuer.id`, listing the keys it signs with (assertionMethod):
    a Data Integrity verifier checks that the proof's verification method is one of them."""
    issuer = issuer_id(public_url, registration.institution_id)
    return {
        "@context": [contexts.VC2, contexts.OB3, contexts.CREDITFLOW_V1],
        "id": issuer,
        "type": ["Profile"],
        "name": registration.name,
        "address": {"type": ["Address"], "addressCountry": registration.country},
        # Ed25519 keys only: they sign the Data Integrity proofs; a P-256 key's URL serves a JWK for the OB JWT form.
        "assertionMethod": [verification_method(issuer, k.key_id) for k in registration.public_keys
                            if k.algorithm == "Ed25519"],
    }


def multikey(public_url: str, institution_id: str, key_id: str, public_key_multibase: str) -> dict[str, Any]:
    issuer = issuer_id(public_url, institution_id)
    return data_integrity.multikey_document(verification_method(issuer, key_id), issuer, public_key_multibase)
