"""`creditflow`: the issuer's command line.

    creditflow token create --institution uni-tartu     a bearer token for one institution (printed once)
    creditflow token create --operator                  a token that may register institutions
    creditflow issue --file awards.csv --token TOKEN    bulk awards from CSV or JSON lines, with progress
    creditflow kafka-principal create --institution uni-tartu   its Kafka login, inbound topic and ACLs
    creditflow kafka-principal rotate --institution uni-tartu   a new password (the old one stops working)
    creditflow kafka-principal revoke --institution uni-tartu   delete its login and ACLs

kafka-principal acts as the Kafka admin: CREDITFLOW_KAFKA_BOOTSTRAP, CREDITFLOW_KAFKA_USERNAME (creditflow-admin)
and CREDITFLOW_KAFKA_PASSWORD or CREDITFLOW_KAFKA_PASSWORD_FILE (for SASL_SSL also CREDITFLOW_KAFKA_SECURITY_PROTOCOL
and CREDITFLOW_KAFKA_CA_FILE). A new password is printed once, or written to --password-file (mode 0600).
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import hashlib
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
from creditflow.events.permissions import ADMIN, KAFKA_INSTITUTION_ID, inbound_topic, institution_principal
from creditflow.runtime.principals import KafkaAdmin, new_password
from creditflow.runtime.settings import KafkaLogin
from creditflow.runtime.tokens import create_token
from tqdm import tqdm

from .app import HTTP_PORT

CHUNK = 100
FIELDS = ("request_id", "learner_id", "achievement_id", "grade", "awarded_at")


def rows(path: Path) -> Iterator[tuple[int, dict[str, str]]]:
    """(line number, row) of a CSV file with a header, or of a JSON-lines file (.jsonl / .ndjson)."""
    with path.open(newline="", encoding="utf-8") as handle:
        if path.suffix in (".jsonl", ".ndjson"):
            for number, line in enumerate(handle, start=1):
                if line.strip():
                    yield number, json.loads(line)
        else:
            for number, row in enumerate(csv.DictReader(handle), start=2):
                yield number, {k: v for k, v in row.items() if k and v not in (None, "")}


def request_of(row: dict[str, str]) -> dict[str, str]:
    """The award request of a row. Without a request_id column the row's content is its id, so re-running the same
    file never issues twice."""
    request = {k: str(v) for k, v in row.items() if k in FIELDS}
    if "request_id" not in request:
        canonical = json.dumps({k: request.get(k) for k in FIELDS if k != "awarded_at"}, sort_keys=True)
        request["request_id"] = "row-" + hashlib.sha256(canonical.encode()).hexdigest()[:32]
    return request


def issue(path: Path, url: str, token: str) -> int:
    all_rows = list(rows(path))
    issued = duplicates = refused = 0
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=60) as client, tqdm(
        total=len(all_rows), unit="award", desc=f"issuing {path.name}"
    ) as progress:
        for start in range(0, len(all_rows), CHUNK):
            chunk = all_rows[start : start + CHUNK]
            response = client.post("/awards/bulk", json={"awards": [request_of(r) for _, r in chunk]})
            if response.status_code == 422:
                # The chunk was refused as a whole (a malformed row): send rows one by one to name the bad ones.
                results = [_one(client, number, row) for number, row in chunk]
            else:
                response.raise_for_status()
                results = [(chunk[item["index"]][0], item) for item in response.json()]
            for number, item in results:
                if item["status"] == "issued":
                    issued += 1
                elif item["status"] == "duplicate":
                    duplicates += 1
                else:
                    refused += 1
                    tqdm.write(f"line {number}: refused: {'; '.join(item['problems'])}", file=sys.stderr)
            progress.update(len(chunk))
    print(f"{issued} issued, {duplicates} already issued, {refused} refused")
    return 1 if refused else 0


def _one(client: httpx.Client, number: int, row: dict[str, str]) -> tuple[int, dict]:
    response = client.post("/awards/bulk", json={"awards": [request_of(row)]})
    if response.status_code == 422:
        problems = [f"{e['field'].removeprefix('awards.0.')}: {e['rule']}" for e in response.json().get("errors", [])]
        return number, {"status": "refused", "problems": problems}
    response.raise_for_status()
    return number, response.json()[0]


def kafka_principal(action: str, institution_id: str, password_file: Path | None) -> int:
    """Create, rotate or revoke an institution's Kafka principal (the admin's login comes from the environment)."""
    if not KAFKA_INSTITUTION_ID.match(institution_id):
        raise SystemExit(f"--institution: {institution_id!r} cannot name a Kafka principal and topic: letters, digits, "
                         "'-' and '_' only, starting with a letter or digit")
    admin = KafkaAdmin(KafkaLogin.from_env(os.environ, ADMIN))
    principal = institution_principal(institution_id)
    if action == "revoke":
        admin.revoke_institution(institution_id)
        print(f"revoked {principal}: its login and ACLs are deleted; {inbound_topic(institution_id)} keeps what it "
              "published")
        return 0
    exists = admin.user_exists(principal)
    if action == "create" and exists:
        raise SystemExit(f"{principal} already exists: `creditflow kafka-principal rotate` gives it a new password")
    if action == "rotate" and not exists:
        raise SystemExit(f"{principal} does not exist: `creditflow kafka-principal create` first")
    password = new_password()
    admin.create_institution(institution_id, password)  # idempotent for the topic and ACLs; sets the password
    print(f"principal  {principal}\ntopic      {inbound_topic(institution_id)}  (write only; nothing else)")
    if password_file is not None:
        with os.fdopen(os.open(password_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as handle:
            handle.write(password + "\n")
        print(f"password   written to {password_file} (mode 0600)")
    else:
        print(f"password   {password}\n(shown once: hand it to the institution over a secure channel)")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="creditflow", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    token = commands.add_parser("token", help="manage bearer tokens").add_subparsers(dest="action", required=True)
    create = token.add_parser("create", help="create a bearer token")
    who = create.add_mutually_exclusive_group(required=True)
    who.add_argument("--institution", help="the institution the token acts for")
    who.add_argument("--operator", action="store_true", help="a token that may register institutions")
    bulk = commands.add_parser("issue", help="issue awards from a CSV or JSON-lines file")
    bulk.add_argument("--file", type=Path, required=True)
    bulk.add_argument("--url", default=os.environ.get("CREDITFLOW_ISSUER_URL", f"http://127.0.0.1:{HTTP_PORT}"))
    bulk.add_argument("--token", default=os.environ.get("CREDITFLOW_TOKEN"), help="or CREDITFLOW_TOKEN")
    principal = commands.add_parser("kafka-principal", help="an institution's Kafka login (operator, as Kafka admin)")
    principal.add_argument("action", choices=["create", "rotate", "revoke"])
    principal.add_argument("--institution", required=True, help="the institution the principal publishes for")
    principal.add_argument("--password-file", type=Path, help="write the new password here instead of printing it")
    args = parser.parse_args(argv)
    if args.command == "kafka-principal":
        return kafka_principal(args.action, args.institution, args.password_file)
    if args.command == "token":
        print(asyncio.run(create_token("issuer", None if args.operator else args.institution)))
        return 0
    if not args.token:
        parser.error("issue needs --token or CREDITFLOW_TOKEN")
    return issue(args.file, args.url, args.token)


if __name__ == "__main__":
    sys.exit(main())
