"""Recognition on the real broker and FerretDB, with a fake clock: the procedure from request to review, overdue
notices, invalidation, policy changes, bad input, and every handler idempotent under redelivery."""

import asyncio
import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
from contract_factories import achievement
from creditflow.credentials import jose, keys
from creditflow.events import (
    ArticulationAgreementPublished,
    CredentialAwarded,
    CredentialAwardedData,
    CredentialRevoked,
    CredentialRevokedData,
    EctsConversion,
    InstitutionRegistered,
    InstitutionRegisteredData,
    LearningOutcome,
    Level,
    ProgrammePublished,
    PublicKey,
    RecognitionAppealed,
    RecognitionAppealedData,
    RecognitionPolicyPublished,
    RecognitionRequested,
    RecognitionRequestedData,
)
from creditflow.events import decode
from creditflow.events.topics import RECOGNITIONS
from creditflow.recognition import api, handlers
from creditflow.recognition.service import Recognition
from creditflow.recognition.store import RecognitionStore
from creditflow.runtime.kafka import Rejected, make_broker, publish
from creditflow.runtime.mongo import mongo_client
from kafka_waits import consuming, dead_letter, delivered, written
from recognition_factories import ACCREDITED, NOW, OUTCOMES, RECEIVER, SOURCE, agreement, module, policy, programme
from service_harness import ServiceHarness

pytestmark = pytest.mark.integration


class FakeClock:
    def __init__(self, now):
        self.now = now

    def __call__(self):
        return self.now


class Harness(ServiceHarness):
    """The recognition service's parts on real servers, driven through its handlers and its HTTP API."""

    def __init__(self, recognition, servers, settings):
        super().__init__(api.router(recognition), servers.identity, servers.admin, RECOGNITIONS.name)
        self.recognition, self.settings = recognition, settings
        self.learner_handler = handlers.on_learner_event(recognition)
        self.registry_handler = handlers.on_registry_event(recognition)

    async def learner(self, event):
        await self.deliver(self.learner_handler, event)

    async def registry(self, event):
        await self.deliver(self.registry_handler, event)

    async def registrar(self, institution_id=RECEIVER):
        return await super().registrar(institution_id)

    async def published(self, learner_id):
        """What recognition published for the learner: each step awaited its publishing, so it is all there."""
        return [decode(r.value) for r in await written(self.admin, RECOGNITIONS.name, learner_id)]

    def consuming(self):
        """The learner handler behind the runtime's real consumer, which dead-letters what the handler refuses."""
        return consuming(self.settings, self.admin, handlers.LEARNER_TOPICS, self.learner_handler)

    async def learner_via_kafka(self, *events):
        """Published on their topics and handled by the real consumer; returns its group (for its dead letters)."""
        return await delivered(self.settings, self.admin, handlers.LEARNER_TOPICS, self.learner_handler, *events)

    async def registry_via_kafka(self, *events):
        return await delivered(self.settings, self.admin, handlers.REGISTRY_TOPICS, self.registry_handler, *events)


@pytest.fixture
async def harness(servers):
    settings = servers.settings("recognition", mongodb_database=f"t{uuid.uuid4().hex[:10]}_recognition")
    client, broker = mongo_client(settings), make_broker(settings)
    await broker.start()
    harness = Harness(Recognition(RecognitionStore(client[settings.mongodb_database]), broker, FakeClock(NOW)),
                      servers, settings)
    for institution_id, quality in ((RECEIVER, ACCREDITED), (SOURCE, ACCREDITED), ("diploma-mill", ())):
        await harness.registry(InstitutionRegistered(producer=institution_id, data=InstitutionRegisteredData(
            institution_id=institution_id, name=institution_id, country="EE", credit_frameworks=["ects"],
            quality_assurance=list(quality))))
    await harness.registry(ProgrammePublished(producer=RECEIVER, data=programme(module(), module(
        "mod-stats", title="Statistics", learning_outcomes=[LearningOutcome(statement="Derive estimators")]),
        max_recognised_share=0.3)))
    await harness.registry(RecognitionPolicyPublished(producer=RECEIVER, data=policy()))
    yield harness
    await harness.close()
    await broker.stop()
    await client.drop_database(settings.mongodb_database)
    await client.close()


def award(learner, credential_id=None, source=SOURCE, **overrides):
    credential_id = credential_id or f"urn:uuid:{uuid.uuid4()}"
    fields = dict(achievement_id="ach-ml", institution_id=source, title="Applied machine learning",
                  learning_outcomes=[LearningOutcome(statement=s) for s in OUTCOMES], field_of_study="0613",
                  workload_hours=150)
    return CredentialAwarded(producer=source, learner_id=learner, data=CredentialAwardedData(
        credential_id=credential_id, institution_id=source, achievement=achievement(**{**fields, **overrides}),
        awarded_at=NOW - timedelta(days=100), grade="B",
        credit_conversions=[EctsConversion(ects=6, method="identity", rule="already ECTS")]))


def request(learner, credential_ids, case_id=None, module_ids=("mod-ml",), programme_id="msc-ds"):
    return RecognitionRequested(producer=RECEIVER, learner_id=learner, data=RecognitionRequestedData(
        case_id=case_id or f"case-{uuid.uuid4().hex[:8]}", institution_id=RECEIVER, programme_id=programme_id,
        module_ids=list(module_ids), credential_ids=credential_ids))


def new_learner():
    return f"learner-{uuid.uuid4().hex[:8]}"


async def awarded_and_asked(harness, **award_fields):
    """A new learner holding one credential, who asks for it to be recognised toward mod-ml."""
    learner = new_learner()
    credential = award(learner, **award_fields)
    await harness.learner(credential)
    asked = request(learner, [credential.data.credential_id])
    await harness.learner(asked)
    return learner, credential, asked


async def test_a_request_is_checked_and_decided_automatically_once_however_often_it_is_delivered(harness):
    learner = new_learner()
    credential = award(learner)
    await harness.learner(credential)
    asked = request(learner, [credential.data.credential_id])
    for _ in range(3):
        await harness.learner(asked)
    checked, decided = await harness.published(learner)
    assert checked.data.complete and checked.data.decision_due == datetime(2027, 1, 1, 12, tzinfo=UTC)
    assert decided.data.outcome == "granted" and decided.data.decided_by == "automatic"
    assert decided.data.recognised[0].module_id == "mod-ml" and decided.data.credential_ids == [
        credential.data.credential_id]
    assert {f.element for f in decided.data.findings} >= {"level", "workload", "quality", "profile",
                                                          "learning outcomes", "authenticity"}
    assert decided.causation_id == str(asked.event_id) and decided.correlation_id == asked.correlation_id


async def test_a_referred_case_waits_in_the_queue_until_a_registrar_decides_and_sets_a_precedent(harness):
    learner, other = new_learner(), new_learner()
    credential = award(learner, source="diploma-mill")
    await harness.learner(credential)
    asked = request(learner, [credential.data.credential_id])
    await harness.learner(asked)
    registrar = await harness.registrar()
    queue = (await harness.http.get("/cases", headers=registrar)).json()
    [item] = [i for i in queue if i["case_id"] == asked.data.case_id]
    assert item["status"] == "awaiting-registrar" and item["latest_outcome"] == "referred"
    case = (await harness.http.get(f"/cases/{asked.data.case_id}", headers=registrar)).json()
    assert any(f["element"] == "quality" and f["finding"] == "not-assessed" for f in case["decisions"][0]["data"]
               ["findings"])

    stranger = await harness.registrar("uni-elsewhere")
    assert (await harness.http.get(f"/cases/{asked.data.case_id}", headers=stranger)).status_code == 404
    body = {"registrar": "Anna Tamm", "outcome": "granted", "recognised": [{"module_id": "mod-ml"}],
            "reasons": ["the provider's quality was checked by hand: accredited by a recognised foreign agency"],
            "request_id": "anna-1"}
    assert (await harness.http.post(f"/cases/{asked.data.case_id}/decisions", json=body,
                                    headers=stranger)).status_code == 404
    reviewer = harness.identity.bearer(RECEIVER, "reviewer")
    not_appealed = await harness.http.post(f"/cases/{asked.data.case_id}/decisions", json=body, headers=reviewer)
    assert (not_appealed.status_code, not_appealed.json()["detail"]) == (403, "a reviewer decides appealed cases only")
    decided = await harness.http.post(f"/cases/{asked.data.case_id}/decisions", json=body, headers=registrar)
    assert decided.status_code == 201, decided.text
    assert decided.json()["decided_by"] == f"registrar Anna Tamm ({RECEIVER})"
    assert decided.json()["supersedes"] == f"{asked.data.case_id}.d1"
    # Sent again with its idempotency key (a client that lost the answer): the decision it made, not a second one.
    retried = await harness.http.post(f"/cases/{asked.data.case_id}/decisions", json=body, headers=registrar)
    assert retried.status_code == 201 and retried.json() == decided.json()
    assert len((await harness.recognition.store.case(asked.data.case_id)).decisions) == 2  # the referral, this one
    again = await harness.http.post(f"/cases/{asked.data.case_id}/decisions", json={**body, "request_id": "anna-2"},
                                    headers=registrar)
    assert again.status_code == 409 and "decided" in again.json()["detail"]

    # The same achievement for the same module, another learner: the registrar's decision is followed and cited.
    theirs = award(other, source="diploma-mill")
    await harness.learner(theirs)
    await harness.learner(request(other, [theirs.data.credential_id]))
    *_, followed = await harness.published(other)
    assert followed.data.outcome == "granted"
    assert followed.data.precedent_ids == [decided.json()["decision_id"]]


async def test_a_registrar_decision_that_breaks_a_rule_is_refused_with_the_field_named(harness):
    learner, credential, asked = await awarded_and_asked(harness, source="diploma-mill")
    registrar = await harness.registrar()
    cases = [
        ({"registrar": "A", "outcome": "granted", "recognised": [{"module_id": "mod-stats"}], "reasons": ["x"]},
         422, "recognised[0].module_id"),
        ({"registrar": "A", "outcome": "denied", "recognised": [], "reasons": []}, 422, "reasons"),
        ({"registrar": "A", "outcome": "partial", "recognised": [{"module_id": "mod-ml", "credits": 9}],
          "reasons": ["x"]}, 422, "recognised[0].credits"),
        ({"registrar": "A", "outcome": "conditional", "reasons": ["x"]}, 422, "conditions"),
    ]
    for body, status, field in cases:
        response = await harness.http.post(f"/cases/{asked.data.case_id}/decisions", json=body, headers=registrar)
        assert response.status_code == status and field in response.text, response.text
    assert (await harness.recognition.store.case(asked.data.case_id)).status == "awaiting-registrar"


async def test_a_grade_the_grading_table_cannot_convert_is_referred_and_the_registrar_must_state_it(harness):
    await harness.registry(RecognitionPolicyPublished(producer=RECEIVER, data=policy(
        version=2, effective_from=date(2026, 1, 1), grading_table={"A": "5"})))
    learner, credential, asked = await awarded_and_asked(harness)  # graded B: not in the table
    registrar = await harness.registrar()
    state = await harness.recognition.store.case(asked.data.case_id)
    assert state.status == "awaiting-registrar"
    assert "grade 'B' of" in state.latest.data.reasons[0] and "not in the policy's grading_table" in \
        state.latest.data.reasons[0]
    body = {"registrar": "A", "outcome": "granted", "recognised": [{"module_id": "mod-ml"}], "reasons": ["x"]}
    unstated = await harness.http.post(f"/cases/{asked.data.case_id}/decisions", json=body, headers=registrar)
    assert unstated.status_code == 422 and unstated.json()["detail"].startswith(
        "recognised[0].grade: state the grade as recognised (grade 'B' of"), unstated.text
    body["recognised"] = [{"module_id": "mod-ml", "grade": "4"}]
    stated = await harness.http.post(f"/cases/{asked.data.case_id}/decisions", json=body, headers=registrar)
    assert stated.status_code == 201 and stated.json()["recognised"][0]["grade"] == "4", stated.text


async def test_an_appeal_reopens_the_case_once_and_the_review_supersedes_the_decision(harness):
    # Below the module's level: partial, as electives.
    learner, credential, asked = await awarded_and_asked(harness, level=Level(eqf=4))
    state = await harness.recognition.store.case(asked.data.case_id)
    assert state.latest.data.outcome == "partial"
    appealed = RecognitionAppealed(producer=learner, learner_id=learner, data=RecognitionAppealedData(
        case_id=asked.data.case_id, institution_id=RECEIVER, decision_id=state.latest.data.decision_id,
        grounds="The course was assessed at bachelor level; see the syllabus."))
    await harness.learner(appealed)
    await harness.learner(appealed)  # redelivered: still one appeal
    state = await harness.recognition.store.case(asked.data.case_id)
    assert state.status == "appealed" and state.decisions[-1].appealed
    second = appealed.model_copy(update={"event_id": uuid.uuid4()})
    with pytest.raises(Rejected, match="already appealed"):
        await harness.learner(second)

    reviewer = harness.identity.bearer(RECEIVER, "reviewer")  # 0002: reviewers decide appeals
    reviewed = await harness.http.post(f"/cases/{asked.data.case_id}/decisions", headers=reviewer, json={
        "registrar": "Review board", "outcome": "granted", "recognised": [{"module_id": "mod-ml"}],
        "reasons": ["the syllabus shows EQF 6 assessment"]})
    assert reviewed.status_code == 201
    assert reviewed.json()["stage"] == "review" and reviewed.json()["supersedes"] == state.latest.data.decision_id


async def test_an_appeal_of_a_referral_or_of_a_superseded_decision_is_dead_lettered_with_the_reason(harness):
    learner, _, asked = await awarded_and_asked(harness, source="diploma-mill")
    case_id = asked.data.case_id

    def appeal(decision_id):
        return RecognitionAppealed(producer=learner, learner_id=learner, data=RecognitionAppealedData(
            case_id=case_id, institution_id=RECEIVER, decision_id=decision_id, grounds="The provider is accredited."))

    async def refused(event):
        group_id = await harness.learner_via_kafka(event)
        return dict((await dead_letter(harness.admin, learner, group_id)).headers)["dlq.reason"].decode()

    assert await refused(appeal(f"{case_id}.d1")) == (f"case {case_id} is awaiting-registrar (referred): only a "
                                                      "decision may be appealed")
    decided = await harness.http.post(f"/cases/{case_id}/decisions", headers=await harness.registrar(), json={
        "registrar": "Anna Tamm", "outcome": "denied", "reasons": ["quality not established"]})
    assert decided.json()["decision_id"] == f"{case_id}.d2"
    assert await refused(appeal(f"{case_id}.d1")) == (f"data.decision_id: {case_id}.d1 is not the case's current "
                                                      f"decision ({case_id}.d2)")
    state = await harness.recognition.store.case(case_id)
    assert state.status == "decided" and not any(d.appealed for d in state.decisions)


async def test_an_agreement_published_decides_the_open_cases_it_covers_and_leaves_decided_ones(harness):
    learner, _, asked = await awarded_and_asked(harness, source="diploma-mill")  # quality unverifiable: referred
    other, _, other_asked = await awarded_and_asked(harness)  # granted on the five elements
    published = ArticulationAgreementPublished(producer=RECEIVER, data=agreement(
        agreement_id="ag-mill", source_institution_id="diploma-mill"))
    await harness.registry_via_kafka(published)
    state = await harness.recognition.store.case(asked.data.case_id)
    assert state.status == "decided"
    latest = state.latest.data
    assert (latest.outcome, latest.stage, latest.agreement_ids, latest.supersedes) == (
        "granted", "re-evaluation", ["ag-mill"], f"{asked.data.case_id}.d1")
    decisions = [e.data.outcome for e in await harness.published(learner) if e.event_type.endswith("decided.v1")]
    assert decisions == ["referred", "granted"]
    assert len((await harness.recognition.store.case(other_asked.data.case_id)).decisions) == 1
    [report] = [r for r in (await harness.http.get("/reports", headers=await harness.registrar())).json()
                if r["report_id"] == str(published.event_id)]
    assert (report["open_cases_reevaluated"], report["decided_cases_checked"], report["differences"]) == (1, 1, [])


async def test_overdue_cases_are_notified_once_per_due_date_and_listed_first_then_by_date(harness):
    """Five cases of one institution: two referred and past their date, one appealed and past its new date, one
    referred but not yet due, one whose file is still incomplete (no date yet, but asked before every other)."""
    clock = harness.recognition.clock

    async def referred_at(moment):
        clock.now = moment
        learner, _, asked = await awarded_and_asked(harness, source="diploma-mill")
        return learner, asked.data.case_id

    incomplete_learner = new_learner()
    clock.now = NOW - timedelta(days=30)
    incomplete = request(incomplete_learner, ["urn:uuid:not-yet-awarded"])
    await harness.learner(incomplete)
    early = await referred_at(NOW - timedelta(days=10))  # due 22 December
    middle = await referred_at(NOW)  # due 1 January
    late = await referred_at(NOW + timedelta(days=60))  # due 28 February: not yet
    appealed = await referred_at(NOW - timedelta(days=200))
    registrar = await harness.registrar()
    denied = await harness.http.post(f"/cases/{appealed[1]}/decisions", headers=registrar, json={
        "registrar": "Anna Tamm", "outcome": "denied", "reasons": ["quality not established"]})
    clock.now = NOW - timedelta(days=5)  # the appeal sets a new date: 27 December
    await harness.learner(RecognitionAppealed(producer=appealed[0], learner_id=appealed[0],
                                              data=RecognitionAppealedData(
        case_id=appealed[1], institution_id=RECEIVER, decision_id=denied.json()["decision_id"], grounds="accredited")))

    clock.now = NOW + timedelta(days=125)  # 4 January
    assert await harness.recognition.sweep_overdue() == 3
    assert await harness.recognition.sweep_overdue() == 0
    for (learner, _), waiting in ((early, "a registrar's decision"), (middle, "a registrar's decision"),
                                  (appealed, "a registrar's review of the appeal")):
        overdue = [e for e in await harness.published(learner) if e.event_type.endswith("overdue.v1")]
        assert [e.data.waiting_for for e in overdue] == [waiting]
    assert not [e for e in await harness.published(late[0]) if e.event_type.endswith("overdue.v1")]
    queue = (await harness.http.get("/cases", headers=registrar)).json()
    assert [(i["case_id"], i["overdue"]) for i in queue] == [
        (early[1], True), (appealed[1], True), (middle[1], True), (incomplete.data.case_id, False),
        (late[1], False)]
    clock.now = NOW


async def test_revoking_a_credential_invalidates_the_decision_that_relied_on_it(harness):
    learner, credential, asked = await awarded_and_asked(harness)
    revoked = CredentialRevoked(producer=SOURCE, learner_id=learner, data=CredentialRevokedData(
        credential_id=credential.data.credential_id, institution_id=SOURCE, reason="academic misconduct"))
    await harness.learner(revoked)
    await harness.learner(revoked)
    decisions = [e for e in await harness.published(learner) if e.event_type.endswith("decided.v1")]
    assert [d.data.outcome for d in decisions] == ["granted", "invalidated"]
    assert decisions[1].data.supersedes == decisions[0].data.decision_id
    assert "academic misconduct" in decisions[1].data.reasons[0]


async def test_a_file_missing_a_credential_waits_for_it_and_the_clock_starts_when_it_is_complete(harness):
    learner = new_learner()
    credential = award(learner)
    asked = request(learner, [credential.data.credential_id])
    await harness.learner(asked)
    state = await harness.recognition.store.case(asked.data.case_id)
    assert state.status == "incomplete" and state.decision_due is None
    assert state.missing == [f"credential {credential.data.credential_id} is not known to creditflow yet"]
    harness.recognition.clock.now = NOW + timedelta(days=3)
    await harness.learner(credential)
    harness.recognition.clock.now = NOW
    state = await harness.recognition.store.case(asked.data.case_id)
    assert state.status == "decided" and state.file_complete_at == NOW + timedelta(days=3)


@pytest.mark.parametrize(("change", "reason"), [
    (lambda r, _: r.model_copy(update={"data": r.data.model_copy(update={"programme_id": "no-such"})}),
     "data.programme_id: no-such is not a programme of uni-tartu"),
    (lambda r, _: r.model_copy(update={"data": r.data.model_copy(update={"module_ids": ["mod-x"]})}),
     "data.module_ids: mod-x not modules of msc-ds"),
    (lambda r, _: r.model_copy(update={"data": r.data.model_copy(update={"institution_id": "uni-nowhere"})}),
     "data.institution_id: uni-nowhere is not a registered institution"),
    (lambda r, _: r.model_copy(update={"learner_id": "someone-else"}), "is not a credential of someone-else"),
    (lambda r, case_id: r.model_copy(update={"event_id": uuid.uuid4(), "data": r.data.model_copy(
        update={"case_id": case_id})}), "already exists"),
])
async def test_a_bad_request_is_dead_lettered_with_its_reason_and_changes_nothing(harness, change, reason):
    learner = new_learner()
    credential = award(learner)
    await harness.learner(credential)
    first = request(learner, [credential.data.credential_id])
    await harness.learner(first)
    before = await harness.recognition.store.case(first.data.case_id)
    bad = change(request(learner, [credential.data.credential_id]), first.data.case_id)
    async with harness.consuming() as group_id:
        await publish(harness.recognition.broker, bad)
        letter = await dead_letter(harness.admin, bad.learner_id, group_id)
    headers = {k: v.decode() for k, v in letter.headers}
    assert reason in headers["dlq.reason"]
    assert headers["dlq.source.topic"] == RECOGNITIONS.name and decode(letter.value).event_id == bad.event_id
    assert await harness.recognition.store.case(first.data.case_id) == before


async def test_a_policy_change_decides_open_cases_and_reports_decided_ones_that_would_differ(harness):
    learner, other = new_learner(), new_learner()
    await harness.registry(RecognitionPolicyPublished(producer=RECEIVER, data=policy(
        version=2, effective_from=date(2026, 1, 1), automatic_decisions=False)))
    referred = award(learner)
    await harness.learner(referred)
    open_case = request(learner, [referred.data.credential_id])
    await harness.learner(open_case)
    assert (await harness.recognition.store.case(open_case.data.case_id)).status == "awaiting-registrar"
    await harness.registry(RecognitionPolicyPublished(producer=RECEIVER, data=policy(
        version=3, effective_from=date(2026, 2, 1))))
    state = await harness.recognition.store.case(open_case.data.case_id)
    assert state.status == "decided" and state.latest.data.stage == "re-evaluation"
    assert state.latest.data.outcome == "granted" and state.latest.data.policy_version == 3

    graded = award(other)
    await harness.learner(graded)
    decided_case = request(other, [graded.data.credential_id])
    await harness.learner(decided_case)
    stricter = RecognitionPolicyPublished(producer=RECEIVER, data=policy(version=4, effective_from=date(2026, 3, 1),
                                                                          min_grade="A"))
    await harness.registry(stricter)
    reports = (await harness.http.get("/reports", headers=await harness.registrar())).json()
    [report] = [r for r in reports if r["report_id"] == str(stricter.event_id)]
    [difference] = [d for d in report["differences"] if d["case_id"] == decided_case.data.case_id]
    assert (difference["decided"], difference["would_now_be"]) == ("granted", "denied")
    unchanged = await harness.recognition.store.case(decided_case.data.case_id)
    assert unchanged.latest.data.outcome == "granted" and len(unchanged.decisions) == 1


async def test_credentials_from_outside_creditflow_are_verified_on_arrival_and_a_forged_one_is_refused(harness):
    holder = keys.generate()
    issuer_id = "https://mooc.example/issuer"
    await harness.registry(InstitutionRegistered(producer="mooc-signed", data=InstitutionRegisteredData(
        institution_id="mooc-signed", name="A MOOC platform", country="FI", credit_frameworks=["ects"],
        quality_assurance=list(ACCREDITED), issuer_id=issuer_id, public_keys=[PublicKey(
            key_id="k1", public_key_multibase=keys.to_multibase(holder.public_key()),
            valid_from=datetime(2020, 1, 1, tzinfo=UTC))])))
    learner = new_learner()

    def signed(credential_id, key):
        vc = {"@context": ["https://www.w3.org/ns/credentials/v2"], "id": credential_id,
              "type": ["VerifiableCredential", "OpenBadgeCredential"], "issuer": {"id": issuer_id},
              "validFrom": "2026-03-01T00:00:00Z",
              "credentialSubject": {"id": learner, "achievement": {
                  "id": f"{issuer_id}/achievements/ach-ml", "name": "Applied machine learning",
                  "fieldOfStudy": "0613", "euMicroCredential": {
                      "learningOutcomes": [{"statement": s} for s in OUTCOMES], "workloadHours": 150,
                      "credits": {"value": 6, "framework": "ects"}, "level": {"eqf": 6},
                      "assessmentType": "project"}}}}
        return jose.envelope(jose.sign(vc, key, f"{issuer_id}#k1"))

    for credential_id, key, outcome in (("urn:uuid:outside-1", holder, "granted"),
                                        ("urn:uuid:forged-1", keys.generate(), "denied")):
        asked = RecognitionRequested(producer=RECEIVER, learner_id=learner, data=RecognitionRequestedData(
            case_id=f"case-{uuid.uuid4().hex[:8]}", institution_id=RECEIVER, programme_id="msc-ds",
            module_ids=["mod-ml"], external_credentials=[signed(credential_id, key)]))
        await harness.learner(asked)
        state = await harness.recognition.store.case(asked.data.case_id)
        assert state.credential_ids == [credential_id]
        assert state.latest.data.outcome == outcome, state.latest.data.reasons
    assert "signature does not verify" in " ".join(state.latest.data.reasons)


@pytest.fixture
async def second(harness, servers):
    """Another recognition instance on the same database, with its own connections to both servers."""
    client, broker = mongo_client(harness.settings), make_broker(harness.settings)
    await broker.start()
    other = Harness(Recognition(RecognitionStore(client[harness.settings.mongodb_database]), broker, FakeClock(NOW)),
                    servers, harness.settings)
    yield other
    await other.close()
    await broker.stop()
    await client.close()


async def test_two_instances_deciding_one_case_at_once_record_and_publish_one_decision(harness, second):
    learner = new_learner()
    credential = award(learner, source="diploma-mill")  # referred to a registrar
    await harness.learner(credential)
    await second.learner(credential)
    asked = request(learner, [credential.data.credential_id])
    await harness.learner(asked)
    registrar = await harness.registrar()
    bodies = [{"registrar": name, "outcome": outcome, "recognised": recognised, "reasons": ["checked by hand"]}
              for name, outcome, recognised in (("Anna Tamm", "granted", [{"module_id": "mod-ml"}]),
                                                ("Mart Kask", "denied", []))]
    answers = await asyncio.gather(*(instance.http.post(f"/cases/{asked.data.case_id}/decisions", json=body,
                                                        headers=registrar)
                                     for instance, body in zip((harness, second), bodies, strict=True)))
    assert sorted(a.status_code for a in answers) == [201, 409], [a.text for a in answers]
    [won] = [a.json() for a in answers if a.status_code == 201]
    state = await harness.recognition.store.case(asked.data.case_id)
    assert state.status == "decided" and state.latest.data.decision_id == won["decision_id"]
    assert len([d for d in state.decisions if d.data.decided_by.startswith("registrar")]) == 1
    decided = [e for e in await harness.published(learner) if e.event_type.endswith("decided.v1")]
    assert [e.data.decided_by for e in decided] == ["automatic", won["decided_by"]]


async def test_two_instances_sweeping_overdue_cases_at_once_notify_each_case_once(harness, second):
    learner = new_learner()
    credential = award(learner, source="diploma-mill")
    await harness.learner(credential)
    asked = request(learner, [credential.data.credential_id])
    await harness.learner(asked)
    for instance in (harness, second):
        instance.recognition.clock.now = NOW + timedelta(days=200)  # past the four-month decision date
    await asyncio.gather(harness.recognition.sweep_overdue(), second.recognition.sweep_overdue())
    overdue = [e for e in await harness.published(learner) if e.event_type.endswith("overdue.v1")]
    assert [e.data.case_id for e in overdue] == [asked.data.case_id]
