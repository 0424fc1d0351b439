"""The `creditflow` command line: starts without the heavy modules, and its token commands drive the token registry
every service follows (docs/decisions/0002)."""

import json
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from creditflow.cli.world import InvalidWorld, load
from creditflow.events.permissions import ADMIN
from creditflow.runtime.principals import password_file
from e2e_driver import eventually

# The web framework, the database and Kafka clients, JSON-LD, and the contract's models: none is needed to parse a
# command line, so `--help` of any command imports none of them.
HEAVY = ("fastapi", "starlette", "pymongo", "aiokafka", "faststream", "confluent_kafka", "pyld", "pydantic", "httpx",
         "yaml", "structlog")
SUBCOMMANDS = ("token create", "token list", "token revoke", "apply", "institution register", "institution show",
               "achievement publish", "achievement list", "programme publish", "programme list", "policy publish",
               "policy list", "agreement publish", "agreement list", "enrol", "award", "revoke", "verify", "replay",
               "kafka-principal", "topics describe", "topics tail", "completion")

# Runs the command in-process and reports the top-level modules it imported, at exit.
PROBE = """
import atexit, json, sys
atexit.register(lambda: print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})), file=sys.stderr))
from creditflow.cli.main import main
sys.exit(main(sys.argv[1:]))
"""
# Asks every subcommand for its help in one process, then reports what was imported.
HELP_PROBE = """
import contextlib, io, json, sys
from creditflow.cli.main import main
for command in sys.argv[1:]:
    with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):
        main([*command.split(), "--help"])
print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))
"""


def imported(*args: str, env: dict[str, str] | None = None) -> tuple[subprocess.CompletedProcess, set[str]]:
    done = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True, env=env, timeout=60)
    return done, set(json.loads(done.stderr.strip().splitlines()[-1]))


def test_help_imports_no_web_database_or_kafka_module():
    done, modules = imported("--help")
    assert done.returncode == 0 and "token create" in done.stdout
    assert modules.isdisjoint(HEAVY), modules & set(HEAVY)


def test_no_subcommand_help_imports_a_heavy_module():
    done = subprocess.run([sys.executable, "-c", HELP_PROBE, *SUBCOMMANDS], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    modules = set(json.loads(done.stdout))
    assert modules.isdisjoint(HEAVY), modules & set(HEAVY)


def test_the_frameworks_offered_are_the_contracts():
    from creditflow.cli.main import FRAMEWORKS
    from creditflow.events import CreditFramework

    assert set(FRAMEWORKS) == {f.value for f in CreditFramework}


@pytest.mark.e2e
def test_token_create_signs_without_the_web_framework_or_the_database_client(running_stack):
    admin = password_file(running_stack.servers.stack.secrets_dir, ADMIN)
    done, modules = imported("token", "create", "--operator", "--person", "ops@example.org",
                             env={**running_stack.env["issuer"], "CREDITFLOW_KAFKA_ADMIN_PASSWORD_FILE": str(admin)})
    assert done.returncode == 0, done.stderr
    # Recording the token in the registry needs the Kafka client and the contract, imported after signing; nothing
    # else heavy: not even PyJWT (X.509) or structlog.
    assert modules.isdisjoint({"fastapi", "starlette", "pymongo", "faststream", "httpx", "pyld", "confluent_kafka",
                               "jwt", "structlog", "yaml"}), modules


def test_completion_script_knows_the_subcommands():
    done = subprocess.run([sys.executable, "-m", "creditflow.cli", "completion", "bash"], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0 and "complete" in done.stdout
    assert all(word in done.stdout for word in ("token", "award", "revoke", "replay", "verify", "apply", "programme",
                                                "policy", "agreement", "enrol", "topics", "institution"))


def test_bad_arguments_are_named():
    done = subprocess.run([sys.executable, "-m", "creditflow.cli", "token", "create", "--institution", "uni-x",
                           "--person", "p@x"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "--institution needs at least one --role" in done.stderr


# ------------------------------------------------------------------------------------------------ against the stack


@pytest.mark.e2e
async def test_a_token_is_listed_and_once_revoked_refused_by_every_service(driver):
    institution_id, _ = await driver.institution()
    created = driver.cli("token", "create", "--institution", institution_id, "--person", "mari@ut.ee",
                         "--name", "Mari Maasikas", "--role", "registrar", "--expires", "2d")
    assert created.returncode == 0, created.stderr
    headers = {"Authorization": f"Bearer {created.stdout.strip()}"}
    # One route per service that a registrar may use: the token is accepted everywhere (learner-record's unknown
    # learner is 404, not 401).
    probes = {
        "issuer": (driver.issuer, "/credentials/urn:uuid:none"),
        "learner-record": (driver.records, "/learners/nobody/record"),
        "recognition": (driver.recognition, "/cases"),
        "stacking": (driver.stacking, "/programmes"),
    }
    for service, (client, path) in probes.items():
        assert (await client.get(path, headers=headers)).status_code in (200, 404), service

    listed = driver.cli("token", "list", "--institution", institution_id)
    [row] = listed.stdout.splitlines()[1:]
    jti = row.split()[0]
    assert row.split()[1:] == ["mari@ut.ee", institution_id, "registrar", *row.split()[4:6], "active"]

    revoked = driver.cli("token", "revoke", jti, "--reason", "left the registry office", "--by", "ops@example.org")
    assert revoked.returncode == 0, revoked.stderr

    for service, (client, path) in probes.items():
        async def refused():
            answer = await client.get(path, headers=headers)
            return answer.status_code == 401 and answer.json()["detail"] == "the token has been revoked"

        await eventually(refused, f"{service} to refuse the revoked token", timeout_s=20)
    assert driver.cli("token", "list", "--institution", institution_id).stdout.split()[-1] == "revoked"
    again = driver.cli("token", "revoke", jti, "--reason", "twice")
    assert again.returncode == 1 and "already revoked: left the registry office" in again.stderr


@pytest.mark.e2e
async def test_replay_rebuilds_learner_records_equal_to_the_live_ones_and_switches_to_them(driver):
    # An achievement id of its own: programmes earlier tests published list the driver's default achievement among
    # their options, so stacking would publish this learner's progress toward them at any moment, changing the
    # record (seen: `partial` turned true between the live read and the replayed one, in 2 of 3 full runs).
    achievement_id = f"ach-replay-{uuid.uuid4().hex[:8]}"
    institution_id, headers = await driver.institution(achievement_id=achievement_id)
    learner = f"learner-{uuid.uuid4().hex[:8]}"
    kept = await driver.award(headers, learner, grade="A", achievement_id=achievement_id)
    withdrawn = await driver.award(headers, learner, achievement_id=achievement_id)
    revoked = await driver.issuer.post(f"/credentials/{withdrawn['credential_id']}/revoke", headers=headers,
                                       json={"reason": "awarded in error"})
    assert revoked.status_code == 200, revoked.text
    registrar = driver.registrar(institution_id)

    def settled(record):
        by_id = {a["credential_id"]: a for a in record["achievements"]}
        return (by_id.keys() == {kept["credential_id"], withdrawn["credential_id"]}
                and by_id[withdrawn["credential_id"]]["status"] == "revoked"
                and all(a["verification"] == "verified" for a in by_id.values()))

    await driver.record(learner, registrar, until=settled)
    path = f"/learners/{learner}/record"
    live = (await driver.records.get(path, headers=registrar)).json()

    done = driver.cli("replay", settings_of="learner-record")

    assert done.returncode == 0 and done.stdout.startswith("replayed "), done.stderr
    serving = done.stdout.split("now serving ", 1)[1].split()[0]
    assert serving.startswith("learner_records_") and f"(previous: {serving}" not in done.stdout
    # The service now answers from the rebuilt collection, with the same record as before.
    assert (await driver.records.get(path, headers=registrar)).json() == live


# ------------------------------------------------------------------------------------------------ world files


EXAMPLES = Path(__file__).parent.parent / "examples"


@pytest.mark.parametrize("example", sorted(p.name for p in EXAMPLES.glob("*.yaml")))
def test_every_example_is_a_valid_world(example):
    world = load(EXAMPLES / example)
    assert world.institutions and world.achievements


def test_a_world_file_in_json_with_duplicates_and_a_bad_section_names_each(tmp_path):
    world = tmp_path / "world.json"
    institution = {"institution_id": "uni-x", "name": "X", "country": "EE", "credit_frameworks": ["ects"]}
    agreement = {"agreement_id": "ag-1", "institution_id": "uni-x", "source_institution_id": "mooc",
                 "source_achievement_id": "a", "programme_id": "p", "module_id": "m",
                 "credits": {"value": 5, "framework": "ects"}, "effective_from": "2026-01-01"}
    world.write_text(json.dumps({"institutions": [institution], "agreements": [agreement, agreement],
                                 "programmes": {"programme_id": "p"}}))
    with pytest.raises(InvalidWorld) as refused:
        load(world)
    assert refused.value.problems == [
        f"{world}: programmes: must be a list",
        f"{world}: agreements[1]: duplicate of agreements[0] (same agreement_id)",
    ]


def test_a_file_that_does_not_parse_says_where(tmp_path):
    world = tmp_path / "world.yaml"
    world.write_text("institutions:\n  - institution_id: [uni-x\n")
    with pytest.raises(InvalidWorld) as refused:
        load(world)
    [problem] = refused.value.problems
    assert problem.startswith(f"{world}: not valid YAML: ") and "line 2" in problem
