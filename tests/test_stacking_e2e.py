"""End to end for stacking, every service running as a process on the real broker and FerretDB: an award and a
recognition arrive, progress updates, the programme completes, the issuer awards the qualification, and it shows in
the learner record with `isPartOf` associations; a revocation invalidates it and the issuer revokes it; what-if
answers without changing anything."""

import uuid
from datetime import date

import pytest
from e2e_driver import ACCREDITED, achievement_body, eventually
from kafka_waits import committed_past, until_written, written

from creditflow.events import (
    CreditValue,
    LearningOutcome,
    Level,
    Module,
    ProgrammePublished,
    ProgrammePublishedData,
    RecognitionPolicyPublished,
    RecognitionPolicyPublishedData,
    RecognitionRequested,
    RecognitionRequestedData,
    Requirement,
    decode,
)
from creditflow.events.topics import CREDENTIALS, PROGRESS

pytestmark = pytest.mark.e2e


async def test_an_award_and_a_recognition_complete_a_qualification_the_issuer_awards(driver):
    home, home_headers = await driver.institution(quality_assurance=ACCREDITED)
    certificate = await driver.issuer.post("/achievements", headers=home_headers, json=achievement_body(
        home, achievement_id="ach-cert-ds", title="Certificate in Data Science", achievement_type="Certificate",
        workload_hours=300, credits={"value": 12, "framework": "ects"}, assessment_type="mixed"))
    assert certificate.status_code == 201, certificate.text
    programme = ProgrammePublishedData(
        programme_id=f"cert-{uuid.uuid4().hex[:6]}", institution_id=home, version=1, effective_from=date(2025, 1, 1),
        title="Certificate in Data Science", total_credits=CreditValue(value=12, framework="ects"),
        modules=[Module(module_id="mod-ml", title="Machine learning", credits=CreditValue(value=6, framework="ects"),
                        level=Level(eqf=6), learning_outcomes=[LearningOutcome(
                            statement="Train and evaluate a classifier")])],
        requirements=[Requirement(requirement_id="core", kind="required", options=["ach-ml-intro"]),
                      Requirement(requirement_id="recognised", kind="elective", options=["mod-ml"], min_items=1)],
        max_recognised_share=0.5, award_mode="automatic", achievement_id="ach-cert-ds")
    await driver.publish(ProgrammePublished(producer=home, data=programme), RecognitionPolicyPublished(
        producer=home, data=RecognitionPolicyPublishedData(institution_id=home, version=1,
                                                           effective_from=date(2025, 1, 1),
                                                           accepted_qa_bodies=["EKKA"])))
    stacking_registrar = driver.registrar(home)
    recognition_registrar = driver.registrar(home)

    async def programme_known():
        listed = (await driver.stacking.get("/programmes", headers=stacking_registrar)).json()
        rules = (await driver.recognition.get("/rules", headers=recognition_registrar)).json()
        return any(p["programme_id"] == programme.programme_id for p in listed) and rules["policy"] and \
            programme.programme_id in rules["programmes"]

    await eventually(programme_known, "stacking and recognition to accept the programme")

    learner = f"learner-{uuid.uuid4().hex[:8]}"
    own = await driver.award(home_headers, learner)
    source, source_headers = await driver.institution(quality_assurance=ACCREDITED)
    elsewhere = await driver.award(source_headers, learner)
    await driver.publish(RecognitionRequested(producer=home, learner_id=learner, data=RecognitionRequestedData(
        case_id=f"case-{uuid.uuid4().hex[:8]}", institution_id=home, programme_id=programme.programme_id,
        module_ids=["mod-ml"], credential_ids=[elsewhere["credential_id"]])))

    registrar = driver.registrar(home)
    # Progress and completion travel on the progress topic, the qualification's credential on the credentials
    # topic: the record may show either first, so wait for both.
    record = await driver.record(learner, registrar, timeout_s=30, until=lambda r: any(
        a["built_from"] for a in r["achievements"]) and r["qualifications"] and r["progress"] and all(
        not p["missing_requirements"] for p in r["progress"]))
    [qualification] = [a for a in record["achievements"] if a["built_from"]]
    assert qualification["achievement_id"] == "ach-cert-ds" and qualification["institution_id"] == home
    assert qualification["built_from"] == sorted([own["credential_id"], elsewhere["credential_id"]])
    [progress] = record["progress"]
    assert progress["programme_id"] == programme.programme_id and progress["missing_requirements"] == []
    [completed] = record["qualifications"]
    assert completed["status"] == "completed"
    full = (await driver.records.get(f"/learners/{learner}/record", headers=registrar)).json()
    assert {(a["sourceId"], a["targetId"]) for a in full["associations"]} == {
        (own["credential_id"], qualification["credential_id"]),
        (elsewhere["credential_id"], qualification["credential_id"])}

    # A revocation breaks it: stacking says so, the issuer revokes the qualification, the record shows both.
    revoked = await driver.issuer.post(f"/credentials/{own['credential_id']}/revoke", headers=home_headers,
                                       json={"reason": "awarded in error"})
    assert revoked.status_code == 200
    record = await driver.record(learner, registrar, timeout_s=30, until=lambda r: r["qualifications"][0][
        "status"] == "invalidated" and r["achievements"] and all(
        a["status"] == "revoked" for a in r["achievements"] if a["built_from"]))
    assert "awarded in error" in record["qualifications"][0]["reason"]
    full = (await driver.records.get(f"/learners/{learner}/record", headers=registrar)).json()
    assert full["associations"] == []

    # What-if for a learner who holds only the home credential: the recognition would complete it; nothing changes.
    other = f"learner-{uuid.uuid4().hex[:8]}"
    await driver.award(home_headers, other)
    path = f"/learners/{other}/programmes/{programme.programme_id}"

    async def progress_of_other():
        response = await driver.stacking.get(f"{path}/progress", headers=stacking_registrar)
        return response.json() if response.status_code == 200 else None

    before = await eventually(progress_of_other, "the other learner's progress")
    assert before["progress"]["missing_requirements"] == ["recognised"]
    asked = await driver.stacking.post(f"{path}/what-if", headers=stacking_registrar, json={
        "recognitions": [{"module_id": "mod-ml", "credits": {"value": 6, "framework": "ects"}}]})
    assert asked.status_code == 200 and asked.json()["progress"]["complete"] is True
    assert await progress_of_other() == before


async def test_a_registrar_awarded_programme_is_reported_complete_not_awarded_and_the_trace_id_follows(driver,
                                                                                                   running_stack):
    home, home_headers = await driver.institution(quality_assurance=ACCREDITED)
    programme = ProgrammePublishedData(
        programme_id=f"cert-{uuid.uuid4().hex[:6]}", institution_id=home, version=1, effective_from=date(2025, 1, 1),
        title="Certificate in Machine Learning", total_credits=CreditValue(value=6, framework="ects"),
        requirements=[Requirement(requirement_id="core", kind="required", options=["ach-ml-intro"])],
        award_mode="registrar")
    await driver.publish(ProgrammePublished(producer=home, data=programme))
    stacking_registrar = driver.registrar(home)

    async def programme_known():
        listed = (await driver.stacking.get("/programmes", headers=stacking_registrar)).json()
        return any(p["programme_id"] == programme.programme_id for p in listed)

    await eventually(programme_known, "stacking to accept the programme")
    learner, trace = f"learner-{uuid.uuid4().hex[:8]}", f"trace-{uuid.uuid4().hex}"
    awarded = await driver.issuer.post("/awards", headers={**home_headers, "X-Correlation-ID": trace}, json={
        "request_id": uuid.uuid4().hex, "learner_id": learner, "achievement_id": "ach-ml-intro"})
    assert awarded.status_code == 201 and awarded.headers["X-Correlation-ID"] == trace

    admin = running_stack.servers.admin

    def completed(records):
        return [r for r in records if decode(r.value).event_type.endswith("qualification.completed.v1")
                and decode(r.value).data.programme_id == programme.programme_id]

    [completion] = completed(await until_written(admin, PROGRESS.name, learner, completed))
    event = decode(completion.value)
    assert (event.data.award_mode, event.data.achievement_id) == ("registrar", None)
    # The trace id the institution sent with its HTTP request follows the award into stacking's events.
    assert event.correlation_id == trace
    assert all(decode(r.value).correlation_id == trace for r in await written(admin, PROGRESS.name, learner))
    # Once the issuer's qualification consumer has handled the completion, it has awarded nothing: a registrar will.
    await committed_past(admin, running_stack.servers.settings("issuer").group_id + ".qualifications", completion)
    credentials = [decode(r.value) for r in await written(admin, CREDENTIALS.name, learner)]
    assert [c.data.credential_id for c in credentials] == [awarded.json()["credential_id"]]
    record = await driver.record(learner, driver.registrar(home), until=lambda r: r["qualifications"])
    assert [(q["programme_id"], q["status"]) for q in record["qualifications"]] == [
        (programme.programme_id, "completed")]


async def test_a_module_a_registrar_grants_counts_toward_a_programme_with_a_minimum_grade(driver):
    """The README's path: a registrar grants a referred module without naming a grade; the decision states the
    grade as recognised (`pass`: the policy has no grading table) and stacking counts it against min_grade C. A
    policy with a grading table converts the credential's grade instead."""
    home, _ = await driver.institution(quality_assurance=ACCREDITED)
    programme = ProgrammePublishedData(
        programme_id=f"cert-{uuid.uuid4().hex[:6]}", institution_id=home, version=1, effective_from=date(2025, 1, 1),
        title="Certificate in Data Science", total_credits=CreditValue(value=6, framework="ects"), min_grade="C",
        modules=[Module(module_id="mod-ml", title="Machine learning", credits=CreditValue(value=6, framework="ects"),
                        level=Level(eqf=6), learning_outcomes=[LearningOutcome(
                            statement="Train and evaluate a classifier")])],
        requirements=[Requirement(requirement_id="methods", kind="elective", options=["mod-ml"], min_items=1)])
    policy = RecognitionPolicyPublishedData(institution_id=home, version=1, effective_from=date(2025, 1, 1),
                                            automatic_decisions=False)
    await driver.publish(ProgrammePublished(producer=home, data=programme),
                         RecognitionPolicyPublished(producer=home, data=policy))
    registrar = driver.registrar(home)

    async def known():
        rules = (await driver.recognition.get("/rules", headers=registrar)).json()
        listed = (await driver.stacking.get("/programmes", headers=registrar)).json()
        return rules["policy"] and programme.programme_id in rules["programmes"] and any(
            p["programme_id"] == programme.programme_id for p in listed)

    await eventually(known, "recognition and stacking to accept the programme and the policy")
    source, source_headers = await driver.institution(quality_assurance=ACCREDITED)

    async def granted_on(grade: str | None) -> tuple[str, dict]:
        learner = f"learner-{uuid.uuid4().hex[:8]}"
        credential = await driver.award(source_headers, learner, grade=grade)
        asked = RecognitionRequested(producer=home, learner_id=learner, data=RecognitionRequestedData(
            case_id=f"case-{uuid.uuid4().hex[:8]}", institution_id=home, programme_id=programme.programme_id,
            module_ids=["mod-ml"], credential_ids=[credential["credential_id"]]))
        await driver.publish(asked)

        async def referred():
            queue = (await driver.recognition.get("/cases", headers=registrar)).json()
            return [c for c in queue if c["case_id"] == asked.data.case_id and c["status"] == "awaiting-registrar"]

        await eventually(referred, "the case in the registrar's queue")
        decided = await driver.recognition.post(f"/cases/{asked.data.case_id}/decisions", headers=registrar, json={
            "registrar": "Mari Maasikas", "outcome": "granted", "recognised": [{"module_id": "mod-ml"}],
            "reasons": ["outcomes checked by hand"]})
        assert decided.status_code == 201, decided.text
        return learner, decided.json()

    learner, decision = await granted_on(grade=None)
    assert decision["recognised"][0]["grade"] == "pass"

    async def progress():
        response = await driver.stacking.get(f"/learners/{learner}/programmes/{programme.programme_id}/progress",
                                             headers=registrar)
        return response.json()["progress"] if response.status_code == 200 and response.json()[
            "progress"]["complete"] else None

    counted = await eventually(progress, "the recognised module to complete the programme")
    assert [(a["requirement_id"], a["source"]) for a in counted["allocations"]] == [("methods", "recognition")]
    assert counted["not_counted"] == []

    # With a grading table, the registrar's decision carries the credential's grade converted to the local scale.
    await driver.publish(RecognitionPolicyPublished(producer=home, data=policy.model_copy(update={
        "version": 2, "grading_table": {"A": "5", "B": "4"}})))
    await eventually(lambda: _policy_version(driver, registrar, 2), "recognition to receive policy version 2")
    _, converted = await granted_on(grade="B")
    assert converted["recognised"][0]["grade"] == "4"


async def _policy_version(driver, registrar, version):
    return ((await driver.recognition.get("/rules", headers=registrar)).json()["policy"] or {}).get("version") == version
