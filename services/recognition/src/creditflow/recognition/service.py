"""Recognition's use cases: gather the facts of a case from the store, let the domain decide, let the procedure
step, write, publish. Kafka handlers and the registrar API both call these."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime

from creditflow.academic import convert
from creditflow.credentials.subjects import learner_id_of
from creditflow.credentials.verify import http_status_fetcher, verify
from creditflow.runtime.http import routed_client
from creditflow.events import (
    Actor,
    CredentialAwardedData,
    CreditValue,
    Event,
    RecognisedCredit,
    RecognitionAppealed,
    RecognitionPolicyPublishedData,
    RecognitionRequested,
)
from creditflow.runtime.logging import get_logger
from faststream.kafka import KafkaBroker

from . import domain, procedure
from .procedure import CaseError, CaseState
from .store import RecognitionStore, Step

Clock = Callable[[], datetime]
log = get_logger("creditflow.recognition")


def utc_now() -> datetime:
    return datetime.now(UTC)


def default_policy(institution_id: str) -> RecognitionPolicyPublishedData:
    """An institution that published no policy decides by the Convention's defaults: any current QA accepted, no
    recency or grade limit, 60 % outcome overlap, automatic decisions."""
    return RecognitionPolicyPublishedData(institution_id=institution_id, version=1, effective_from=date(2000, 1, 1))


class Recognition:
    def __init__(self, store: RecognitionStore, broker: KafkaBroker, clock: Clock = utc_now,
                 routes: dict[str, str] | None = None) -> None:
        self.store, self.broker, self.clock = store, broker, clock
        # Where status lists under the issuer's public URL are fetched from (runtime.settings.internal_routes).
        self.routes = routes or {}
        self.resolve_key = store.key_resolver()

    async def _step(self, case_id: str, step: Step) -> list[Event]:
        events = await self.store.transition(case_id, step, self.clock())
        await self.store.publish(case_id, self.broker)
        return events

    # ------------------------------------------------------------------ gathering the facts

    async def _offered(self, learner_id: str, credential_ids: list[str]) -> tuple[list[domain.Offered], list[str]]:
        held = await self.store.held(credential_ids)
        missing, offered = [], []
        issuers = await self.store.institutions(sorted({d["award"]["institution_id"] for d in held.values()
                                                        if "award" in d}))
        for credential_id in credential_ids:
            document = held.get(credential_id)
            if document is None or "award" not in document:
                missing.append(f"credential {credential_id} is not known to creditflow yet")
                continue
            if document["learner_id"] != learner_id:
                raise CaseError(403, f"data.credential_ids: {credential_id} is not a credential of {learner_id}")
            award = CredentialAwardedData.model_validate(document["award"])
            issuer = issuers.get(award.institution_id)
            if issuer is None:
                missing.append(f"the registration of issuer {award.institution_id} is not known yet")
                continue
            authenticity, reasons = document.get("authenticity", "valid"), document.get("reasons", [])
            if document.get("revocation"):
                authenticity, reasons = "revoked", [f"revoked by {award.institution_id}: "
                                                    f"{document['revocation']['reason']}"]
            offered.append(domain.Offered(
                credential_id=credential_id, institution_id=award.institution_id, achievement=award.achievement,
                awarded_at=award.awarded_at, grade=award.grade, ects=tuple(award.credit_conversions),
                authenticity=authenticity, authenticity_reasons=tuple(reasons),
                issuer_quality=tuple(issuer.quality_assurance)))
        return offered, missing

    async def _recognised_before(self, state: CaseState, framework) -> float:
        total = 0.0
        for other in await self.store.find_cases(learner_id=state.learner_id, programme_id=state.programme_id):
            latest = other.latest
            if other.case_id == state.case_id or latest is None or latest.data.outcome not in ("granted", "partial"):
                continue
            total += sum(convert(r.credits, framework)[0] for r in latest.data.recognised)
        return round(total, 2)

    async def _decision(self, state: CaseState) -> tuple[domain.Decision | None, list[str]]:
        """The decision on the case as the facts stand now, or what the file still lacks."""
        now = self.clock()
        programme = await self.store.programme(state.programme_id, now.date())
        if programme is None:
            raise CaseError(404, f"data.programme_id: {state.programme_id} is not a published programme")
        offered, missing = await self._offered(state.learner_id, state.credential_ids)
        if missing:
            return None, missing
        case = domain.Case(case_id=state.case_id, learner_id=state.learner_id, institution_id=state.institution_id,
                           programme=programme, module_ids=tuple(state.module_ids), credentials=tuple(offered),
                           recognised_before=await self._recognised_before(state, programme.total_credits.framework))
        policy = await self.store.policy(state.institution_id, now.date()) or default_policy(state.institution_id)
        modules = {m.module_id: m for m in programme.modules}
        keys = [(m, domain.fingerprint(o.achievement, modules[m], policy.version)) for m in state.module_ids
                for o in offered]
        precedents = await self.store.precedents_for(state.institution_id, keys)
        agreements = await self.store.agreements(state.institution_id)
        return domain.decide(case, policy, agreements, precedents, now), []

    # ------------------------------------------------------------------ requests

    async def _check_request(self, event: RecognitionRequested) -> None:
        data = event.data
        if await self.store.institution(data.institution_id) is None:
            raise CaseError(404, f"data.institution_id: {data.institution_id} is not a registered institution")
        programme = await self.store.programme(data.programme_id, self.clock().date())
        if programme is None or programme.institution_id != data.institution_id:
            raise CaseError(404, f"data.programme_id: {data.programme_id} is not a programme of {data.institution_id}")
        if not data.module_ids:
            raise CaseError(422, "data.module_ids: name at least one target module or credit slot")
        unknown = sorted(set(data.module_ids) - {m.module_id for m in programme.modules})
        if unknown:
            raise CaseError(404, f"data.module_ids: {', '.join(unknown)} not modules of {data.programme_id}")
        if not data.credential_ids and not data.external_credentials:
            raise CaseError(422, "data.credential_ids: offer at least one credential")

    async def _external(self, event: RecognitionRequested) -> list[str]:
        """Verify the signed credentials the learner brought from outside creditflow and keep what they say; their
        ids join the case's credential_ids."""
        ids = []
        for index, secured in enumerate(event.data.external_credentials):
            async with routed_client(self.routes) as http:  # rare: only requests that bring outside credentials
                result = await verify(secured, self.resolve_key, http_status_fetcher(http), self.clock())
            vc = result.credential or {}
            if not vc.get("id"):
                raise CaseError(422, f"data.external_credentials[{index}]: not a readable credential "
                                     f"({'; '.join(result.reasons)})")
            subject = vc.get("credentialSubject") or {}
            if result.key is not None and learner_id_of(str(subject.get("id"))) != event.learner_id:
                raise CaseError(403, f"data.external_credentials[{index}]: credentialSubject.id is not "
                                     f"{event.learner_id}")
            institution_id = result.key.institution_id if result.key else "unregistered-issuer"
            try:
                achievement = domain.achievement_from_credential(vc, institution_id)
            except ValueError as exc:
                raise CaseError(422, f"data.external_credentials[{index}]: {exc}") from exc
            award = {"credential_id": vc["id"], "institution_id": institution_id,
                     "achievement": achievement.model_dump(mode="json"), "awarded_at": vc.get("validFrom"),
                     "grade": ((subject.get("result") or [{}])[0]).get("value"), "credential": secured}
            await self.store.put_external(vc["id"], event.learner_id, award, result.status, result.reasons)
            ids.append(vc["id"])
        return ids

    async def request(self, event: RecognitionRequested) -> list[Event]:
        existing = await self.store.case(event.data.case_id)
        if existing is not None and existing.request_event_id != str(event.event_id):
            raise CaseError(409, f"data.case_id: case {event.data.case_id} already exists")
        if existing is None:
            await self._check_request(event)
            external = await self._external(event)
            if external:
                event = event.model_copy(update={"data": event.data.model_copy(
                    update={"credential_ids": [*event.data.credential_ids, *external]})})
            opened, _ = procedure.open_case(event, [], self.clock())
            decision, missing = await self._decision(opened)
        else:
            decision, missing = None, existing.missing

        def step(state: CaseState | None):
            if state is not None:
                return state, []  # a redelivery: the case was opened and decided already
            now = self.clock()
            state, events = procedure.open_case(event, missing, now)
            if decision is None:
                return state, events
            state, decided = procedure.record_decision(state, decision, now)
            return state, events + decided

        events = await self._step(event.data.case_id, step)
        if missing:
            await self.store.wait_for_credentials(event.learner_id, event.data.case_id)
        return events

    async def _redecide(self, state: CaseState, stage: str, cause: str | None = None) -> list[Event]:
        decision, missing = await self._decision(state)

        def step(current: CaseState | None):
            now = self.clock()
            current, events = procedure.complete_file(current, missing, now)
            if decision is None:
                return current, events
            current, decided = procedure.record_decision(current, decision, now, stage, cause)
            return current, events + decided

        return await self._step(state.case_id, step)

    # ------------------------------------------------------------------ credentials arrive and are revoked

    async def registration_arrived(self) -> None:
        """An issuer's registration may be what incomplete files lacked: re-check them all (registrations are rare)."""
        for learner_id in await self.store.waiting_learners():
            await self.credential_arrived(learner_id)

    async def credential_arrived(self, learner_id: str) -> None:
        """Re-check the learner's incomplete files: the credential may be what one of them lacked."""
        for case_id in await self.store.waiting_cases(learner_id):
            state = await self.store.case(case_id)
            if state is not None and state.status == "incomplete":
                await self._redecide(state, "first-instance")
                state = await self.store.case(case_id)
            if state is None or state.status != "incomplete":
                await self.store.stop_waiting(learner_id, case_id)

    async def credential_revoked(self, learner_id: str, credential_id: str, reason: str, cause: str) -> None:
        for state in await self.store.find_cases(learner_id=learner_id):
            if credential_id not in state.credential_ids:
                continue
            if state.status == "decided":
                await self._step(state.case_id, lambda s: procedure.invalidate(s, credential_id, reason,
                                                                                self.clock(), cause))
            elif state.status == "awaiting-registrar":
                await self._redecide(state, "re-evaluation", cause)

    # ------------------------------------------------------------------ appeals and registrars

    async def appeal(self, event: RecognitionAppealed) -> list[Event]:
        if await self.store.case(event.data.case_id) is None:
            raise CaseError(404, f"data.case_id: no case {event.data.case_id}")
        return await self._step(event.data.case_id, lambda s: procedure.appeal(s, event, self.clock()))

    @staticmethod
    def _assessed_grades(state: CaseState, module_id: str, offered: list[domain.Offered]) -> list[tuple[str, str | None]]:
        """The grades of the credentials the latest analysis assessed for this module (all offered, without one)."""
        latest = state.latest
        assessed = {c for f in (latest.data.findings if latest else []) if f.module_id == module_id
                    for c in f.credential_ids}
        return [(o.credential_id, o.grade) for o in offered if not assessed or o.credential_id in assessed]

    async def registrar_decides(self, case_id: str, institution_id: str, *, registrar: str, outcome: str,
                                recognised: list[dict], reasons: list[str], conditions: list[str],
                                actor: Actor | None = None, request_id: str | None = None) -> CaseState:
        state = await self.store.case(case_id)
        if state is None or state.institution_id != institution_id:
            raise CaseError(404, f"no case {case_id} at {institution_id}")
        programme = await self.store.programme(state.programme_id, self.clock().date())
        modules = {m.module_id: m for m in programme.modules} if programme else {}
        policy = await self.store.policy(institution_id, self.clock().date()) or default_policy(institution_id)
        offered, _ = await self._offered(state.learner_id, state.credential_ids)
        credits = []
        for index, item in enumerate(recognised):
            module = modules.get(item["module_id"])
            if module is None or item["module_id"] not in state.module_ids:
                raise CaseError(422, f"recognised[{index}].module_id: {item['module_id']} is not a target module "
                                     f"of this case ({', '.join(state.module_ids)})")
            value = item.get("credits") or module.credits.value
            if value > module.credits.value:
                raise CaseError(422, f"recognised[{index}].credits: {value:g} is more than module "
                                     f"{module.module_id} carries ({module.credits.value:g})")
            grade = item.get("grade")
            if grade is None:
                grade, how = domain.grade_as_recognised(self._assessed_grades(state, module.module_id, offered),
                                                        policy)
                if grade is None:
                    raise CaseError(422, f"recognised[{index}].grade: state the grade as recognised ({how})")
            credits.append(RecognisedCredit(module_id=module.module_id,
                                            credits=CreditValue(value=value, framework=module.credits.framework),
                                            credential_ids=state.credential_ids, grade=grade,
                                            basis=item.get("basis", "equivalence")))
        decided_by = f"registrar {registrar} ({institution_id})"
        await self._step(case_id, lambda s: procedure.registrar_decision(
            s, registrar=decided_by, outcome=outcome, recognised=credits, reasons=reasons, conditions=conditions,
            now=self.clock(), actor=actor, request_id=request_id))
        state = await self.store.case(case_id)
        await self.store.add_precedents(institution_id, procedure.precedents_from(
            state, {m: modules[m].credits.value for m in state.module_ids if m in modules}))
        return state

    # ------------------------------------------------------------------ the clock and policy changes

    async def sweep_overdue(self) -> int:
        """Notify every open case past its decision date (once per date). Returns how many were notified."""
        notified = 0
        for state in await self.store.find_cases(status=["awaiting-registrar", "appealed"]):
            notified += bool(await self._step(state.case_id, lambda s: procedure.notice_overdue(s, self.clock())))
        return notified

    async def rules_changed(self, institution_id: str, trigger: str) -> dict:
        """Re-evaluate the institution's open cases under its new policy or agreements, and report which decided
        cases would now come out differently; those stay as they are, for a registrar to consider."""
        differences, reevaluated, checked = [], 0, 0
        for state in await self.store.find_cases(institution_id=institution_id):
            if state.status in ("incomplete", "awaiting-registrar"):
                reevaluated += bool(await self._redecide(state, "re-evaluation"))
                continue
            latest = state.latest
            if state.status != "decided" or latest is None:
                continue
            checked += 1
            decision, _ = await self._decision(state)
            if decision is None:
                continue
            if decision.outcome != latest.data.outcome or decision.recognised != latest.data.recognised:
                differences.append({"case_id": state.case_id, "learner_id": state.learner_id,
                                    "decision_id": latest.data.decision_id, "decided": latest.data.outcome,
                                    "would_now_be": decision.outcome, "reasons": list(decision.reasons)})
        report = {"institution_id": institution_id, "trigger": trigger, "created_at": self.clock(),
                  "open_cases_reevaluated": reevaluated, "decided_cases_checked": checked,
                  "differences": differences}
        await self.store.save_report(trigger, report)
        log.info("recognition rules changed", institution_id=institution_id, reevaluated=reevaluated,
                 differences=len(differences))
        return report
