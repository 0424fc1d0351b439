"""`creditflow apply` and the integrators' subcommands against the running stack: a world file is published once
however often it is applied, a bad one names every problem and sends nothing, and an institution publishes with its
own Kafka login."""

import json
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import yaml
from e2e_driver import eventually

EXAMPLES = Path(__file__).parent.parent / "examples"


def example_for_this_run(name: str, folder: Path) -> tuple[Path, dict[str, str]]:
    """The example with its institutions' ids made unique to this run (the examples name their programmes and
    agreements after their institution, so the ids of those change with them)."""
    text = (EXAMPLES / name).read_text()
    run = uuid.uuid4().hex[:6]
    ids = {i["institution_id"]: f"{i['institution_id']}-{run}" for i in yaml.safe_load(text)["institutions"]}
    for old, new in ids.items():
        text = text.replace(old, new)
    path = folder / name
    path.write_text(text)
    return path, ids


def records(driver, *topics: str) -> dict[str, int]:
    described = driver.cli("topics", "describe", *topics)
    assert described.returncode == 0, described.stderr
    return {line.split()[0]: int(line.split()[2]) for line in described.stdout.splitlines()[1:]}


@pytest.mark.e2e
async def test_applying_an_example_twice_publishes_once_and_the_services_show_it(driver, tmp_path):
    path, ids = example_for_this_run("university.yaml", tmp_path)
    institution_id = ids["uni-tartu"]

    first = driver.cli("apply", "-f", str(path))
    assert first.returncode == 0, first.stderr
    assert first.stdout.splitlines()[-1] == "9 published, 0 unchanged, 0 differing, 0 refused"

    written_by_apply = (f"creditflow.inbound.{institution_id}", "creditflow.registry.institutions",
                        "creditflow.registry.achievements", "creditflow.identity.tokens")
    before = records(driver, *written_by_apply)
    second = driver.cli("apply", "-f", str(path))
    assert second.returncode == 0, second.stderr
    assert second.stdout.splitlines()[-1] == "0 published, 9 unchanged, 0 differing, 0 refused"
    assert records(driver, *written_by_apply) == before

    assert (await driver.issuer.get(f"/institutions/{institution_id}")).status_code == 200
    registrar = driver.registrar(institution_id)

    async def programme():
        listed = (await driver.stacking.get("/programmes", headers=registrar)).json()
        return [(p["programme_id"], p["version"]) for p in listed]

    assert await eventually(programme, "stacking to hold the programme") == [(f"{institution_id}-ds-cert", 1)]

    async def rules():
        found = (await driver.recognition.get("/rules", headers=registrar)).json()
        return found if found["policy"] and len(found["agreements"]) == 2 else None

    found = await eventually(rules, "recognition to hold the policy and both agreements")
    assert found["policy"]["max_recognised_share"] == 0.34
    assert {a["module_id"] for a in found["agreements"]} == {"m-python", "m-visualisation"}
    listed = driver.cli("achievement", "list", "--institution", institution_id)
    assert [line.split()[0] for line in listed.stdout.splitlines()[1:]] == [
        f"{institution_id}/{a}" for a in ("ut-data-ethics", "ut-ds-cert", "ut-ml-intro", "ut-stats-ds")]


@pytest.mark.e2e
async def test_a_bad_world_file_names_each_problem_and_publishes_nothing(driver, tmp_path):
    institution_id = f"uni-{uuid.uuid4().hex[:8]}"
    world = tmp_path / "world.yaml"
    world.write_text(f"""
institutions:
  - {{institution_id: {institution_id}, name: Tallinn University, country: EE, credit_frameworks: [ects]}}
programmes:
  - programme_id: {institution_id}-teachers
    institution_id: {institution_id}
    version: 1
    effective_from: 2026-09-01
    title: Teacher education
    total_credits: {{value: 60, framework: ects}}
    modules:
      - {{module_id: m1, title: Didactics, credits: {{value: 6, framework: ects}}}}
      - {{module_id: m2, title: Practice, credits: {{value: 0, framework: ects}}}}
    requirments: []
policies:
  - {{institution_id: uni-elsewhere, version: 1, effective_from: 2026-01-01}}
""")
    done = driver.cli("apply", "-f", str(world))

    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        f"{world}: programmes[0].modules[1].credits.value: Input should be greater than 0",
        f"{world}: programmes[0].requirments: unknown field: the contract has no such field",
        f"{world}: policies[0].institution_id: uni-elsewhere is not one of this file's institutions",
        f"{world}: 3 problem(s); nothing was published",
    ]
    assert (await driver.issuer.get(f"/institutions/{institution_id}")).status_code == 404
    untouched = driver.cli("topics", "describe", f"creditflow.inbound.{institution_id}")
    assert untouched.returncode != 0 and "no topic" in untouched.stderr


@pytest.mark.e2e
async def test_an_institution_publishes_a_programme_and_enrols_with_its_own_kafka_login(driver, tmp_path):
    institution_id, _ = await driver.institution()
    login = await driver.kafka_login(institution_id)
    programme_id = f"{institution_id}-ml"
    programme = tmp_path / "programme.json"
    programme.write_text(json.dumps({
        "programme_id": programme_id, "institution_id": institution_id, "version": 1,
        "effective_from": "2026-01-01", "title": "Machine learning micro-programme",
        "total_credits": {"value": 6, "framework": "ects"},
        "requirements": [{"requirement_id": "core", "kind": "required", "options": ["ach-ml-intro"]}]}))
    # The institution's own login and no admin password: the record can only have been written as the institution.
    env = {**driver.stack.env["issuer"], "CREDITFLOW_KAFKA_USERNAME": login.username,
           "CREDITFLOW_KAFKA_PASSWORD": login.secret(), "CREDITFLOW_KAFKA_ADMIN_PASSWORD_FILE": str(tmp_path / "none")}

    def cli(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "creditflow.cli", *args], env=env, capture_output=True,
                              text=True, timeout=120)

    published = cli("programme", "publish", "-f", str(programme))
    assert published.returncode == 0, published.stderr
    learner = f"learner-{uuid.uuid4().hex[:8]}"
    enrolled = cli("enrol", "--learner", learner, "--programme", programme_id, "--institution", institution_id,
                   "--started-on", "2026-09-01")
    assert enrolled.returncode == 0, enrolled.stderr

    registrar = driver.registrar(institution_id)

    async def listed():
        return [p["programme_id"] for p in (await driver.stacking.get("/programmes", headers=registrar)).json()]

    assert await eventually(listed, "stacking to accept the programme") == [programme_id]

    async def enrolment():
        tail = driver.cli("topics", "tail", "creditflow.learner.progress", "-n", "200")
        return [json.loads(line)["value"] for line in tail.stdout.splitlines()
                if json.loads(line)["key"] == learner]

    [event, *_] = await eventually(enrolment, "the enrolment on the progress topic")
    assert (event["event_type"], event["data"]["started_on"]) == ("creditflow.stacking.learner.enrolled.v1",
                                                                   "2026-09-01")


@pytest.mark.e2e
async def test_an_institution_is_registered_publishes_an_achievement_and_revokes_an_award_from_the_cli(driver,
                                                                                                       tmp_path):
    institution_id = f"uni-{uuid.uuid4().hex[:8]}"
    registered = driver.cli("institution", "register", "--id", institution_id, "--name", "Tallinn University",
                            "--country", "EE", "--framework", "ects", "--token", driver.token())
    assert registered.returncode == 0, registered.stderr
    shown = driver.cli("institution", "show", institution_id)
    assert shown.returncode == 0 and json.loads(shown.stdout)["name"] == "Tallinn University"

    achievement = tmp_path / "achievement.yaml"
    achievement.write_text(yaml.safe_dump({"institution_id": institution_id, **{
        k: v for k, v in yaml.safe_load((EXAMPLES / "university.yaml").read_text())["achievements"][0].items()
        if k not in ("institution_id", "part_of")}}))
    integration = driver.token(institution_id, "issuer-integration")
    published = driver.cli("achievement", "publish", "-f", str(achievement), "--token", integration)
    assert published.returncode == 0, published.stderr

    awarded = driver.cli("award", "--learner", "learner-ada", "--achievement", "ut-ml-intro", "--token", integration)
    assert awarded.returncode == 0, awarded.stderr
    credential_id = awarded.stdout.split()[-1]
    revoked = driver.cli("revoke", credential_id, "--reason", "awarded in error", "--token", integration)
    assert revoked.returncode == 0, revoked.stderr
    assert json.loads(revoked.stdout)["status"] == "revoked"
    again = driver.cli("revoke", credential_id, "--reason", "twice", "--token", integration)
    assert again.returncode == 1 and "already revoked" in again.stderr
