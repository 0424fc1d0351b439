"""`creditflow award` (one, or bulk from CSV or JSON lines, with progress) and `creditflow verify`: the issuer's
HTTP API from the command line."""

from __future__ import annotations

import csv
import hashlib
import json
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
from tqdm import tqdm

CHUNK = 100
FIELDS = ("request_id", "learner_id", "achievement_id", "grade", "awarded_at")
FORMATS = ("auto", "csv", "jsonl")


def detect_format(path: Path) -> str:
    """`jsonl` when the file's first non-blank character opens a JSON object, else `csv`: chosen by content, so a
    JSON-lines file named .json (or anything) is read as JSON lines."""
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                return "jsonl" if line.lstrip().startswith("{") else "csv"
    return "csv"


Row = dict[str, str] | str  # a row, or why the line could not be read


def rows(path: Path, file_format: str = "auto") -> Iterator[tuple[int, Row]]:
    """(line number, row) of a CSV file with a header, or of a JSON-lines file; an unreadable JSON line yields the
    reason instead of a row, so one bad line costs only itself."""
    chosen = detect_format(path) if file_format == "auto" else file_format
    with path.open(newline="", encoding="utf-8") as handle:
        if chosen == "jsonl":
            for number, line in enumerate(handle, start=1):
                if line.strip():
                    yield number, _json_row(line)
        else:
            for number, row in enumerate(csv.DictReader(handle), start=2):
                yield number, {k: v for k, v in row.items() if k and v not in (None, "")}


def _json_row(line: str) -> Row:
    try:
        row = json.loads(line.rstrip("\r\n"))
    except json.JSONDecodeError as exc:
        return f"not valid JSON ({exc.msg} at column {exc.colno})"
    return row if isinstance(row, dict) else f"not a JSON object (a {type(row).__name__})"


def request_of(row: dict[str, str]) -> dict[str, str]:
    """The award request of a row. Without a request_id column the row's content is its id, so re-running the same
    file never issues twice."""
    request = {k: str(v) for k, v in row.items() if k in FIELDS}
    if "request_id" not in request:
        canonical = json.dumps({k: request.get(k) for k in FIELDS if k != "awarded_at"}, sort_keys=True)
        request["request_id"] = "row-" + hashlib.sha256(canonical.encode()).hexdigest()[:32]
    return request


def bulk(path: Path, url: str, token: str, file_format: str = "auto") -> int:
    """Send every readable row, in chunks; report each refused or unreadable line with its number; exit 1 if any."""
    all_rows = list(rows(path, file_format))
    readable = [(number, row) for number, row in all_rows if isinstance(row, dict)]
    unreadable = [(number, why) for number, why in all_rows if isinstance(why, str)]
    for number, why in unreadable:
        print(f"line {number}: unreadable: {why}", file=sys.stderr)
    issued = duplicates = refused = 0
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"},
                      timeout=60) as client, tqdm(total=len(readable), unit="award",
                                                  desc=f"issuing {path.name}") as progress:
        for start in range(0, len(readable), CHUNK):
            chunk = readable[start : start + CHUNK]
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
    print(f"{issued} issued, {duplicates} already issued, {refused} refused, {len(unreadable)} unreadable")
    return 1 if refused or unreadable else 0


def _one(client: httpx.Client, number: int, row: dict[str, str]) -> tuple[int, dict]:
    response = client.post("/awards/bulk", json={"awards": [request_of(row)]})
    if response.status_code == 422:
        problems = [f"{e['field'].removeprefix('awards.0.')}: {e['rule']}" for e in response.json().get("errors", [])]
        return number, {"status": "refused", "problems": problems}
    response.raise_for_status()
    return number, response.json()[0]


def one(learner_id: str, achievement_id: str, grade: str | None, request_id: str | None, url: str | None,
        token: str) -> int:
    """One award; without a request id the award's content is its id, so running the command twice issues once."""
    row = {"learner_id": learner_id, "achievement_id": achievement_id, "grade": grade, "request_id": request_id}
    request = request_of({k: v for k, v in row.items() if v is not None})
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"},
                      timeout=60) as client:
        response = client.post("/awards", json=request)
    if response.status_code not in (200, 201):
        print(f"refused ({response.status_code}): {response.json().get('detail', response.text)}", file=sys.stderr)
        return 1
    result = response.json()
    print(f"{result['status']}: {result['credential_id']}")
    return 0


def verify(path: Path, url: str) -> int:
    """POST /verify with the file's credential: a JSON object, or a compact JWS as text. 0 when valid."""
    text = path.read_text(encoding="utf-8").strip()
    credential = json.loads(text) if text.startswith("{") else text
    response = httpx.post(f"{url}/verify", json={"credential": credential}, timeout=60)
    response.raise_for_status()
    result = response.json()
    print(result["status"] + "".join(f"\n  {reason}" for reason in result["reasons"]))
    return 0 if result["status"] == "valid" else 1
