"""`make demo` at a small size against the running stack: afterwards the APIs show every recognition outcome, the
open cases overdue (the demo moved the operator clock and moved it back), and completed certificates, awarded by the
issuer and built from their components."""

import json
import subprocess
import sys
import uuid

import pytest
from e2e_driver import eventually

from creditflow.events.permissions import ADMIN
from creditflow.runtime.principals import password_file

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]


async def test_the_demo_seeds_every_outcome_overdue_cases_and_a_completed_certificate(driver, running_stack,
                                                                                        tmp_path):
    tag = uuid.uuid4().hex[:6]
    summary_file = tmp_path / "summary.json"
    env = {**running_stack.env["recognition"],  # its clock file, the identity key, the broker
           **{f"CREDITFLOW_{s.upper().replace('-', '_')}_URL": u for s, u in running_stack.urls.items()},
           "CREDITFLOW_KAFKA_ADMIN_PASSWORD_FILE": str(password_file(running_stack.servers.stack.secrets_dir, ADMIN)),
           "CREDITFLOW_STATE_DIR": str(tmp_path)}
    seeded = subprocess.run([sys.executable, "-m", "creditflow.cli.demo", "--learners", "10", "--tag", tag,
                             "--summary", str(summary_file)], env=env, capture_output=True, text=True, timeout=900)
    assert seeded.returncode == 0, seeded.stderr[-3000:]
    summary = json.loads(summary_file.read_text())
    tartu = summary["institutions"]["uni-tartu"]
    assert len(summary["institutions"]) >= 5 and summary["counts"]["bulk_awards"] >= 10
    registrar = driver.registrar(tartu)

    async def outcome(case_id: str) -> str:
        case = (await driver.recognition.get(f"/cases/{case_id}", headers=registrar)).json()
        return case["decisions"][-1]["data"]["outcome"]

    expected = {"granted": "granted", "agreement": "granted", "partial": "partial", "conditional": "conditional",
                "denied": "denied", "invalidated": "invalidated"}
    for scenario, wanted in expected.items():
        assert {await outcome(c) for c in summary["cases"][scenario]} == {wanted}, scenario
    referred = summary["cases"]["referred"]
    assert await outcome(referred[0]) == "granted" and await outcome(referred[1]) == "denied"  # by the registrar
    assert {await outcome(c) for c in referred[2:]} == {"referred"}
    queue = {c["case_id"]: c for c in (await driver.recognition.get("/cases", headers=registrar)).json()}
    assert queue[referred[1]]["status"] == "appealed"
    assert all(queue[c]["overdue"] for c in referred[2:]), "the open referred cases are overdue"

    for learner in summary["certified_learners"]:
        progress = (await driver.stacking.get(f"/learners/{learner}/programmes/{summary['programme']}/progress",
                                              headers=registrar)).json()["progress"]
        assert progress["complete"]
        record = await driver.record(learner, registrar, until=lambda r: any(
            a["achievement_id"] == "ach-cert-ds" for a in r["achievements"]))
        [certificate] = [a for a in record["achievements"] if a["achievement_id"] == "ach-cert-ds"]
        assert len(certificate["built_from"]) == 5  # four Tartu micro-credentials and the Edinburgh one recognised

    # The crowd's awards reach learner-record too.
    example = summary["example_learner"]
    holder = await eventually(lambda: _any_record(driver, example, summary["institutions"].values()),
                              "the example learner's record")
    assert holder["achievements"]


async def _any_record(driver, learner, institutions):
    for institution in institutions:
        found = await driver.records.get(f"/learners/{learner}/record", headers=driver.registrar(institution))
        if found.status_code == 200 and found.json()["record"]["achievements"]:
            return found.json()["record"]
    return None
