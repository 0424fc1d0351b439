"""Stacking on the real broker and FerretDB: progress published only on change, completion, invalidation after a
revocation, refused programmes, what-if without side effects, and registrar tenancy."""

import uuid
from datetime import date

import httpx
import pytest
from creditflow.events import (
    CredentialRevoked,
    CredentialRevokedData,
    CreditValue,
    LearnerEnrolled,
    LearnerEnrolledData,
    ProgrammePublished,
    RecognisedCredit,
    RecognitionDecided,
    RecognitionDecidedData,
    Requirement,
    decode,
)
from creditflow.events.topics import PROGRAMMES, PROGRESS
from creditflow.runtime.kafka import make_broker, publish
from creditflow.runtime.mongo import mongo_client
from creditflow.runtime.outbox import OUTBOX
from creditflow.stacking import api, handlers
from creditflow.stacking.app import create_app
from creditflow.stacking.service import Stacking
from creditflow.stacking.store import StackingStore
from kafka_waits import consuming, dead_letter, delivered, end_offsets, written
from service_harness import ServiceHarness
from stacking_factories import HOME, NOW, award, programme

pytestmark = pytest.mark.integration


class Harness(ServiceHarness):
    def __init__(self, stacking, servers, settings):
        super().__init__(api.router(stacking), servers.identity, servers.admin, PROGRESS.name)
        self.stacking, self.settings = stacking, settings
        self.learner_handler = handlers.on_learner_event(stacking)
        self.programme_handler = handlers.on_programme(stacking)

    async def learner(self, event):
        await self.deliver(self.learner_handler, event)

    async def programme(self, data):
        await self.deliver(self.programme_handler, ProgrammePublished(producer=data.institution_id, data=data))

    async def registrar(self, institution_id=HOME):
        return await super().registrar(institution_id)

    async def published(self, learner_id):
        """What stacking published for the learner: each handler awaited its publishing, so it is all there."""
        return [decode(r.value) for r in await written(self.admin, PROGRESS.name, learner_id)]


@pytest.fixture
async def harness(servers):
    settings = servers.settings("stacking", mongodb_database=f"t{uuid.uuid4().hex[:10]}_stacking")
    client, broker = mongo_client(settings), make_broker(settings)
    await broker.start()
    harness = Harness(Stacking(StackingStore(client[settings.mongodb_database]), broker, lambda: NOW),
                      servers, settings)
    await harness.programme(programme())
    yield harness
    await harness.close()
    await broker.stop()
    await client.drop_database(settings.mongodb_database)
    await client.close()


def recognised(learner, module_id="mod-ml", credits=5):
    case_id = f"case-{uuid.uuid4().hex[:6]}"
    return RecognitionDecided(producer="creditflow-recognition", learner_id=learner, data=RecognitionDecidedData(
        case_id=case_id, decision_id=f"{case_id}.d1", institution_id=HOME, programme_id="cert-ds",
        outcome="granted", decided_by="automatic", credential_ids=["urn:uuid:elsewhere"],
        recognised=[RecognisedCredit(module_id=module_id, credits=CreditValue(value=credits, framework="ects"),
                                     credential_ids=["urn:uuid:elsewhere"])]))


def learner_id():
    return f"learner-{uuid.uuid4().hex[:8]}"


async def test_progress_is_published_on_change_only_and_completion_once(harness):
    learner = learner_id()
    python, stats = award(learner, "ach-python"), award(learner, "ach-stats")
    for event in (python, python, stats, stats):  # redeliveries change nothing
        await harness.learner(event)
    ml = recognised(learner)
    await harness.learner(ml)
    await harness.learner(ml)
    events = await harness.published(learner)
    kinds = [e.event_type.split(".")[2:4] for e in events]
    assert kinds == [["progress", "updated"]] * 3 + [["qualification", "completed"]]
    first, _, last, completed = events
    assert first.data.satisfied_requirements == ["core"] and first.data.missing_requirements == ["electives"]
    assert last.data.complete and last.data.credits_counted == 15
    assert {a.requirement_id for a in last.data.allocations} == {"core", "electives"}
    assert completed.data.achievement_id == "ach-cert-ds" and completed.data.award_mode == "automatic"
    assert sorted(completed.data.credential_ids) == sorted(
        [python.data.credential_id, stats.data.credential_id, "urn:uuid:elsewhere"])


async def test_a_revocation_after_completion_publishes_an_invalidation(harness):
    learner = learner_id()
    python, stats, viz = award(learner, "ach-python"), award(learner, "ach-stats"), award(learner, "ach-viz")
    for event in (python, stats, viz):
        await harness.learner(event)
    revoked = CredentialRevoked(producer="mooc-x", learner_id=learner, data=CredentialRevokedData(
        credential_id=stats.data.credential_id, institution_id="mooc-x", reason="plagiarism"))
    await harness.learner(revoked)
    await harness.learner(revoked)
    events = await harness.published(learner)
    [invalidated] = [e for e in events if e.event_type.endswith("invalidated.v1")]
    assert invalidated.data.lost == [stats.data.credential_id]
    assert "plagiarism" in invalidated.data.reason
    assert [e.event_type.endswith("completed.v1") for e in events].count(True) == 1


async def test_an_unsatisfiable_programme_is_dead_lettered_with_its_reason(harness):
    programme_id = f"cert-impossible-{uuid.uuid4().hex[:6]}"
    impossible = ProgrammePublished(producer=HOME, data=programme(programme_id=programme_id, requirements=[
        Requirement(requirement_id="big", kind="elective", options=["a"], min_credits=40)]))
    async with consuming(harness.settings, harness.admin, handlers.REGISTRY_TOPICS, harness.programme_handler) as group_id:
        await publish(harness.stacking.broker, impossible)
        letter = await dead_letter(harness.admin, programme_id, group_id)
    headers = {k: v.decode() for k, v in letter.headers}
    assert headers["dlq.reason"] == (f"programme {programme_id} v1 can never be completed: requirements.min_credits: "
                                     "the requirements ask for 40 credits, more than total_credits 15")
    assert headers["dlq.source.topic"] == PROGRAMMES.name and decode(letter.value).event_id == impossible.event_id
    assert await harness.stacking.store.versions({programme_id}) == {}


async def test_what_if_answers_without_changing_anything_and_closest_lists_what_is_missing(harness):
    learner = learner_id()
    await harness.learner(LearnerEnrolled(producer=HOME, learner_id=learner, data=LearnerEnrolledData(
        programme_id="cert-ds", institution_id=HOME, started_on=date(2026, 2, 1))))
    await harness.learner(award(learner, "ach-python"))
    before = await harness.stacking.store.facts(learner)
    ends = await end_offsets(harness.admin)
    registrar = await harness.registrar()
    path = f"/learners/{learner}/programmes/cert-ds"
    asked = await harness.http.post(f"{path}/what-if", headers=registrar, json={
        "credentials": [{"achievement_id": "ach-stats", "credits": {"value": 5, "framework": "ects"}}],
        "recognitions": [{"module_id": "mod-ml", "credits": {"value": 5, "framework": "ects"}}]})
    assert asked.status_code == 200, asked.text
    assert asked.json()["progress"]["complete"] is True
    assert await harness.stacking.store.facts(learner) == before
    # Nothing published on any topic, and nothing left in the outbox for the relay to publish later.
    assert await end_offsets(harness.admin) == ends
    assert not (await harness.stacking.store.learners.find_one({"_id": learner})).get(OUTBOX)
    now = (await harness.http.get(f"{path}/progress", headers=registrar)).json()
    assert now["progress"]["missing_requirements"] == ["electives"]
    assert any("counts 5 ects credits toward core" in line for line in now["explanation"])
    [closest] = (await harness.http.get(f"/learners/{learner}/closest", headers=registrar)).json()
    assert closest["programme_id"] == "cert-ds" and closest["missing_requirements"] == ["electives"]

    stranger = await harness.registrar("uni-elsewhere")
    assert (await harness.http.get(f"{path}/progress", headers=stranger)).status_code == 404
    bad = await harness.http.post(f"{path}/what-if", headers=registrar, json={"credentials": [{"achievement_id": "x"}]})
    assert bad.status_code == 422 and "credentials.0.credits" in bad.text


async def test_a_programme_a_registrar_awards_reports_completion_for_the_registrar_to_award(harness):
    await harness.programme(programme(programme_id="cert-reg", award_mode="registrar", achievement_id=None))
    learner = learner_id()
    for achievement_id in ("ach-python", "ach-stats", "ach-viz"):
        await harness.learner(award(learner, achievement_id))
    [completed] = [e for e in await harness.published(learner) if e.event_type.endswith("completed.v1")
                   and e.data.programme_id == "cert-reg"]
    assert (completed.data.award_mode, completed.data.achievement_id) == ("registrar", None)
    assert len(completed.data.credential_ids) == 3


def python_only():
    """A programme that a single ach-python credential completes."""
    return programme(programme_id="cert-py", title="Certificate in Python", achievement_id="ach-cert-py",
                     total_credits=CreditValue(value=5, framework="ects"),
                     requirements=[Requirement(requirement_id="core", kind="required", options=["ach-python"])])


async def test_a_new_programme_brings_the_learners_it_concerns_up_to_date_and_no_one_else(harness):
    holders, bystander = [learner_id(), learner_id()], learner_id()
    for holder in holders:
        await harness.learner(award(holder, "ach-python"))
    await harness.learner(award(bystander, "ach-cooking"))
    before = {holder: len(await harness.published(holder)) for holder in holders}  # toward cert-ds
    await harness.programme(python_only())
    await harness.programme(python_only())  # redelivered: nothing more
    for holder in holders:
        events = (await harness.published(holder))[before[holder]:]
        assert [(e.event_type.split(".")[2:4], e.data.programme_id) for e in events] == [
            (["progress", "updated"], "cert-py"), (["qualification", "completed"], "cert-py")]
    assert await harness.published(bystander) == []


async def test_an_enrolment_before_its_programme_is_kept_and_applied_when_the_programme_arrives(harness):
    learner = learner_id()

    def enrolment(programme_id, institution_id=HOME):
        return LearnerEnrolled(producer=institution_id, learner_id=learner, data=LearnerEnrolledData(
            programme_id=programme_id, institution_id=institution_id, started_on=date(2026, 2, 1)))

    await harness.learner(enrolment("cert-later"))
    await harness.programme(programme(programme_id="cert-later", achievement_id="ach-cert-later"))
    [progress] = await harness.published(learner)
    assert progress.data.programme_id == "cert-later" and progress.data.credits_counted == 0
    assert progress.data.missing_requirements == ["core", "electives"]

    # An enrolment another institution claims in this programme is dead-lettered off the progress topic.
    claimed = enrolment("cert-ds", institution_id="uni-other")
    group_id = await delivered(harness.settings, harness.admin, handlers.LEARNER_TOPICS, harness.learner_handler, claimed)
    letter = await dead_letter(harness.admin, learner, group_id)
    headers = {k: v.decode() for k, v in letter.headers}
    assert headers["dlq.reason"] == "data.institution_id: programme cert-ds belongs to uni-tartu, not uni-other"
    assert headers["dlq.source.topic"] == PROGRESS.name and decode(letter.value).event_id == claimed.event_id
    assert "cert-ds" not in (await harness.stacking.store.facts(learner)).enrolments


async def test_a_programme_published_by_another_instance_while_a_learner_event_is_measured_still_reaches_that_learner(
        harness, monkeypatch):
    learner = learner_id()
    store, real_update = harness.stacking.store, harness.stacking.store.update
    # A second stacking instance on the same database (its own store and handler; the connections may be shared).
    other = handlers.on_programme(Stacking(StackingStore(store.programmes.database), harness.stacking.broker,
                                           lambda: NOW))
    published: list = []

    async def update_after_a_programme_arrives(*args):
        # The award was measured against the programmes stored before cert-py; the other instance stores cert-py
        # (and refreshes, finding no such learner yet) just before the award's write.
        if not published:
            data = python_only()
            published.append(await harness.deliver(other, ProgrammePublished(producer=data.institution_id,
                                                                              data=data)))
        return await real_update(*args)

    monkeypatch.setattr(store, "update", update_after_a_programme_arrives)
    await harness.learner(award(learner, "ach-python"))
    events = await harness.published(learner)
    assert {(e.event_type.split(".")[2], e.data.programme_id) for e in events} == {
        ("progress", "cert-ds"), ("progress", "cert-py"), ("qualification", "cert-py")}


async def test_readyz_answers_503_naming_the_dependency_that_does_not_answer(servers):
    # Nothing listens on port 9: the database does not answer, the broker does.
    app = create_app(servers.settings("stacking", mongodb_url="mongodb://127.0.0.1:9"), lambda: NOW)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://stacking") as http:
            response = await http.get("/readyz")
    assert response.status_code == 503 and response.headers["content-type"] == "application/problem+json"
    checks = response.json()["checks"]  # also the token registry's state, which depends on its reader's progress
    assert (checks["kafka"], checks["mongodb"]) == (True, False)
