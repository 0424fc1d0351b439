"""Recognition's MongoDB state: the registry it decides against, the credentials learners hold, the cases (each one
document carrying its pending events), precedents and re-evaluation reports. Everything is read by _id except the
few scans named below, which FerretDB answers without secondary indexes."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import Any

from creditflow.credentials.verify import KeyResolver, RegisteredKey, registered_keys
from creditflow.events import (
    ArticulationAgreementPublishedData,
    CredentialAwarded,
    CredentialRevoked,
    Event,
    InstitutionRegisteredData,
    ProgrammePublishedData,
    RecognitionPolicyPublishedData,
)
from creditflow.runtime.mongo import find_by_ids, fold_batch
from creditflow.runtime.outbox import OUTBOX, entries, flush
from faststream.kafka import KafkaBroker
from pymongo.asynchronous.database import AsyncDatabase

from .domain import Precedent
from .procedure import CaseState

Step = Callable[[CaseState | None], tuple[CaseState, list[Event]]]


def _versioned(document: dict | None, model: type, today: date) -> Any:
    """The version in force today (the latest with effective_from <= today), else the earliest one."""
    versions = sorted((model.model_validate(v) for v in (document or {}).get("versions", {}).values()),
                      key=lambda v: v.version)
    in_force = [v for v in versions if v.effective_from <= today]
    return (in_force or versions or [None])[-1 if in_force else 0]


class RecognitionStore:
    def __init__(self, db: AsyncDatabase) -> None:
        self.registry = db["registry"]
        self.credentials = db["credentials"]
        self.cases = db["cases"]
        self.precedents = db["precedents"]
        self.reports = db["reports"]
        # learner_id -> ids of the learner's incomplete cases, so an arriving credential costs one read, not a scan
        self.waiting = db["waiting"]

    # ------------------------------------------------------------------ registry

    async def put_institution(self, data: InstitutionRegisteredData) -> None:
        await self.registry.replace_one({"_id": f"institution:{data.institution_id}"},
                                        {"kind": "institution", "data": data.model_dump(mode="json")}, upsert=True)
        if data.issuer_id:
            await self.registry.replace_one({"_id": f"issuer:{data.issuer_id}"},
                                            {"kind": "issuer", "institution_id": data.institution_id}, upsert=True)

    async def institution(self, institution_id: str) -> InstitutionRegisteredData | None:
        document = await self.registry.find_one({"_id": f"institution:{institution_id}"})
        return InstitutionRegisteredData.model_validate(document["data"]) if document else None

    async def institutions(self, ids: list[str]) -> dict[str, InstitutionRegisteredData]:
        found = await find_by_ids(self.registry, [f"institution:{i}" for i in ids])
        return {d["data"]["institution_id"]: InstitutionRegisteredData.model_validate(d["data"]) for d in found.values()}

    def key_resolver(self) -> KeyResolver:
        """A JWS kid (`<issuer_id>#<key_id>`) to the key an InstitutionRegistered event declared under it."""

        async def resolve(kid: str) -> RegisteredKey | None:
            issuer, _, _ = kid.rpartition("#")
            link = await self.registry.find_one({"_id": f"issuer:{issuer}"})
            registration = await self.institution(link["institution_id"]) if link else None
            return next((k for k in registered_keys(registration) if k.kid == kid), None) if registration else None

        return resolve

    async def _put_version(self, doc_id: str, kind: str, data: Any) -> None:
        await self.registry.update_one(
            {"_id": doc_id},
            {"$set": {"kind": kind, "institution_id": data.institution_id,
                      f"versions.{data.version}": data.model_dump(mode="json")}},
            upsert=True)

    async def put_programme(self, data: ProgrammePublishedData) -> None:
        await self._put_version(f"programme:{data.programme_id}", "programme", data)

    async def programme(self, programme_id: str, today: date) -> ProgrammePublishedData | None:
        document = await self.registry.find_one({"_id": f"programme:{programme_id}"})
        return _versioned(document, ProgrammePublishedData, today)

    async def put_policy(self, data: RecognitionPolicyPublishedData) -> None:
        await self._put_version(f"policy:{data.institution_id}", "policy", data)

    async def policy(self, institution_id: str, today: date) -> RecognitionPolicyPublishedData | None:
        document = await self.registry.find_one({"_id": f"policy:{institution_id}"})
        return _versioned(document, RecognitionPolicyPublishedData, today)

    async def put_agreement(self, data: ArticulationAgreementPublishedData) -> None:
        await self.registry.replace_one(
            {"_id": f"agreement:{data.agreement_id}"},
            {"kind": "agreement", "institution_id": data.institution_id, "data": data.model_dump(mode="json")},
            upsert=True)

    async def agreements(self, institution_id: str) -> list[ArticulationAgreementPublishedData]:
        # A scan: agreements are few, and read once per decision.
        cursor = self.registry.find({"kind": "agreement", "institution_id": institution_id})
        return [ArticulationAgreementPublishedData.model_validate(d["data"]) async for d in cursor]

    # ------------------------------------------------------------------ credentials learners hold

    async def put_award(self, event: CredentialAwarded) -> None:
        await self.credentials.update_one(
            {"_id": event.data.credential_id},
            {"$set": {"learner_id": event.learner_id, "award": event.data.model_dump(mode="json")}}, upsert=True)

    async def put_revocation(self, event: CredentialRevoked) -> None:
        """Record the revocation; the earliest one counts, and one may arrive before its award."""
        current = await self.credentials.find_one({"_id": event.data.credential_id}, {"revocation": 1})
        earlier = (current or {}).get("revocation")
        if earlier is None or earlier["at"] > event.occurred_at:
            await self.credentials.update_one(
                {"_id": event.data.credential_id},
                {"$set": {"learner_id": event.learner_id,
                          "revocation": {"reason": event.data.reason, "at": event.occurred_at}}}, upsert=True)

    async def put_external(self, credential_id: str, learner_id: str, award: dict, authenticity: str,
                           reasons: list[str]) -> None:
        """A credential from outside creditflow, as verified when a request brought it."""
        await self.credentials.update_one(
            {"_id": credential_id}, {"$set": {"learner_id": learner_id, "award": award, "external": True,
                                              "authenticity": authenticity, "reasons": reasons}}, upsert=True)

    async def held(self, ids: list[str]) -> dict[str, dict]:
        return await find_by_ids(self.credentials, ids)

    # ------------------------------------------------------------------ cases

    async def case(self, case_id: str) -> CaseState | None:
        document = await self.cases.find_one({"_id": case_id}, {"case": 1})
        return CaseState.model_validate(document["case"]) if document else None

    async def transition(self, case_id: str, step: Step, now: datetime) -> list[Event]:
        """Apply one procedure step to the case in a single-document write, with the events it causes queued in the
        same document. Returns those events (none when the step changed nothing)."""
        produced: list[Event] = []

        def fold(document: dict | None) -> dict:
            nonlocal produced
            before = CaseState.model_validate(document["case"]) if document else None
            after, produced = step(before)
            if not produced and after == before:
                return document or {}
            pending = {**(document or {}).get(OUTBOX, {}), **entries(produced, now)}
            return {"case": after.model_dump(mode="json"), "learner_id": after.learner_id,
                    "institution_id": after.institution_id, "programme_id": after.programme_id,
                    "status": after.status, OUTBOX: pending}

        await fold_batch(self.cases, {case_id: fold})
        return produced

    async def publish(self, case_id: str, broker: KafkaBroker) -> int:
        return await flush(self.cases, case_id, broker)

    async def find_cases(self, **where: Any) -> list[CaseState]:
        """Cases matching top-level fields (learner_id, institution_id, programme_id, status): a scan."""
        query = {k: ({"$in": v} if isinstance(v, list | tuple) else v) for k, v in where.items()}
        return [CaseState.model_validate(d["case"]) async for d in self.cases.find(query, {"case": 1})]

    async def wait_for_credentials(self, learner_id: str, case_id: str) -> None:
        await self.waiting.update_one({"_id": learner_id}, {"$addToSet": {"case_ids": case_id}}, upsert=True)

    async def waiting_cases(self, learner_id: str) -> list[str]:
        document = await self.waiting.find_one({"_id": learner_id})
        return list((document or {}).get("case_ids", []))

    async def waiting_learners(self) -> list[str]:
        return [d["_id"] async for d in self.waiting.find({"case_ids": {"$ne": []}}, {"_id": 1})]

    async def programmes_of(self, institution_id: str) -> list[str]:
        cursor = self.registry.find({"kind": "programme", "institution_id": institution_id}, {"_id": 1})
        return sorted([d["_id"].removeprefix("programme:") async for d in cursor])

    async def stop_waiting(self, learner_id: str, case_id: str) -> None:
        await self.waiting.update_one({"_id": learner_id}, {"$pull": {"case_ids": case_id}})

    # ------------------------------------------------------------------ precedents and reports

    @staticmethod
    def _precedent_id(institution_id: str, module_id: str, fingerprint: str) -> str:
        return f"{institution_id}\x1f{module_id}\x1f{fingerprint}"

    async def add_precedents(self, institution_id: str, precedents: list[Precedent]) -> None:
        for p in precedents:
            await self.precedents.replace_one(
                {"_id": self._precedent_id(institution_id, p.module_id, p.fingerprint)},
                {"institution_id": institution_id, **p.__dict__}, upsert=True)

    async def precedents_for(self, institution_id: str, keys: list[tuple[str, str]]) -> list[Precedent]:
        """Precedents by (module_id, fingerprint): equality lookups."""
        found = await find_by_ids(self.precedents, [self._precedent_id(institution_id, m, f) for m, f in keys])
        fields = Precedent.__dataclass_fields__
        return [Precedent(**{k: v for k, v in d.items() if k in fields}) for d in found.values()]

    async def save_report(self, report_id: str, report: dict) -> None:
        await self.reports.replace_one({"_id": report_id}, report, upsert=True)

    async def reports_of(self, institution_id: str) -> list[dict]:
        return [d async for d in self.reports.find({"institution_id": institution_id})]
