"""The operator clock on real processes: recognition, run as a development stack with a clock file, marks a case
overdue once the operator moves its clock past the four-month deadline, and says so in /metrics; a production
recognition refuses a moved clock at start-up."""

import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from e2e_driver import eventually
from test_recognition_e2e import ask, receiving_institution

pytestmark = pytest.mark.e2e


def offset_metric(text: str) -> str:
    [line] = [line for line in text.splitlines() if line.startswith("creditflow_clock_offset_seconds{")]
    return line


async def test_a_referred_case_becomes_overdue_when_the_operator_moves_the_clock(driver, running_stack):
    receiver, programme_id, registrar = await receiving_institution(driver)
    unaccredited, headers = await driver.institution()  # quality not verifiable: referred to a registrar
    learner = f"learner-{uuid.uuid4().hex[:8]}"
    credential = await driver.award(headers, learner)
    asked = ask(learner, receiver, programme_id, credential["credential_id"])
    await driver.publish(asked)

    async def queued():
        return [c for c in (await driver.recognition.get("/cases", headers=registrar)).json()
                if c["case_id"] == asked.data.case_id]

    [case] = await eventually(queued, "the referred case in the registrar's queue")
    assert case["latest_outcome"] == "referred" and not case["overdue"]

    clock_file = Path(running_stack.env["recognition"]["CREDITFLOW_CLOCK_FILE"])
    operator = {"Authorization": f"Bearer {driver.token()}"}
    clock_file.write_text("+125d\n")  # four months and a few days on
    try:
        [case] = await eventually(lambda: _overdue(queued), "the sweep to mark the case overdue")
        metrics = (await driver.recognition.get("/metrics", headers=operator)).text
        assert offset_metric(metrics) == f'creditflow_clock_offset_seconds{{environment="development"}} {125 * 86400}'
    finally:
        clock_file.unlink()
    assert offset_metric((await driver.recognition.get("/metrics", headers=operator)).text).endswith(" 0")
    # The notice was published and stays: the case is still flagged overdue after the clock went back.
    [case] = await queued()
    assert case["overdue"]


async def _overdue(queued):
    return [c for c in await queued() if c["overdue"]]


def test_a_production_recognition_refuses_a_moved_clock_at_start_up():
    started = subprocess.run([sys.executable, "-m", "creditflow.recognition"], capture_output=True, text=True,
                             timeout=60, env={"PATH": "", "CREDITFLOW_ENV": "production",
                                              "CREDITFLOW_CLOCK_OFFSET": "+125d"})
    assert started.returncode != 0
    assert "CREDITFLOW_CLOCK_OFFSET: Value error, a moved clock is refused in production" in started.stderr
