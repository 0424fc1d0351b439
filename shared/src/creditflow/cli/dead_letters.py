"""`creditflow dead-letters list|show|redrive|discard`: what the consumers could not process, and the operator's way
out (docs/operations.md, "Dead letters").

A letter is named by its offset on the dead-letter topic (one partition). Handling one writes a marker record on the
same topic (header `dlq.handled` = the letter's offset, with the action, who and why), so the topic stays the one
append-only log of what went wrong and what was done about it; `list` shows letters no marker names. The operator's
consumer group `creditflow.operator.dead-letters` commits the offset below which every letter is handled, so a listing
reads only from there on however long the topic grows.

Redriving publishes the original record (its key, value and headers without the dlq.* ones) to its source topic,
as the Kafka admin; for a reference letter (a record too large to copy) the bytes are read back from the source topic
at the letter's partition and offset and checked against the hash in the letter. Every consumer group of that topic
reads it again; consumers are idempotent by event_id, so those that processed it once change nothing, and one that
still cannot process it dead-letters it again.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

OPERATOR_GROUP = "creditflow.operator.dead-letters"
HANDLED = "dlq.handled"


@dataclass(frozen=True)
class Letter:
    offset: int
    key: bytes | None
    value: bytes
    headers: dict[str, str]

    @property
    def reference(self) -> bool:
        return self.headers.get("dlq.reference") == "true"

    @property
    def source(self) -> tuple[str, int, int]:
        return (self.headers.get("dlq.source.topic", "?"), int(self.headers.get("dlq.source.partition", -1)),
                int(self.headers.get("dlq.source.offset", -1)))

    @property
    def size(self) -> int:
        """The original record's size: a reference letter says it, any other letter is the original."""
        return json.loads(self.value)["size"] if self.reference else len(self.value)


def _headers(record: Any) -> dict[str, str]:
    return {k: v.decode(errors="replace") for k, v in (record.headers or ())}


async def _read(login: Any, from_start: bool = False) -> tuple[list[Letter], dict[int, dict[str, str]]]:
    """(letters, markers by the offset they handle). From the operator group's committed offset on, then committing
    the offset of the first letter still open (or the end): below it everything is handled. `from_start`: from
    offset 0, committing nothing."""
    from aiokafka import AIOKafkaConsumer, TopicPartition
    from aiokafka.structs import OffsetAndMetadata

    from creditflow.events import DEAD_LETTER_TOPIC

    partition = TopicPartition(DEAD_LETTER_TOPIC, 0)
    consumer = AIOKafkaConsumer(**login.aiokafka(), group_id=OPERATOR_GROUP, enable_auto_commit=False,
                                auto_offset_reset="earliest")
    await consumer.start()
    try:
        consumer.assign([partition])
        consumer.seek(partition, 0 if from_start else await consumer.committed(partition) or 0)
        end = (await consumer.end_offsets([partition]))[partition]
        letters, markers = [], {}
        while await consumer.position(partition) < end:
            for record in (await consumer.getmany(partition, timeout_ms=1000)).get(partition, []):
                headers = _headers(record)
                if HANDLED in headers:
                    markers[int(headers[HANDLED])] = headers
                elif record.offset < end:
                    letters.append(Letter(record.offset, record.key, record.value or b"", headers))
        if not from_start:
            pending = [letter.offset for letter in letters if letter.offset not in markers]
            await consumer.commit({partition: OffsetAndMetadata(min(pending, default=end), "")})
    finally:
        await consumer.stop()
    return letters, markers


async def _find(login: Any, offset: int) -> Letter:
    letters, markers = await _read(login)
    found = next((letter for letter in letters if letter.offset == offset and offset not in markers), None)
    if found is None:
        _, markers = await _read(login, from_start=True)  # below the low-water mark: say what was done to it
        marker = markers.get(offset)
        raise SystemExit(f"dead letter {offset}: " + (
            f"already {marker.get('dlq.action')} by {marker.get('dlq.by')} at {marker.get('dlq.at')}" if marker
            else "no open dead letter has this id (`creditflow dead-letters list` shows them)"))
    return found


async def _original(login: Any, letter: Letter) -> tuple[bytes | None, bytes, list[tuple[str, bytes]]]:
    """(key, value, headers) of the record the letter stands for."""
    if not letter.reference:
        return letter.key, letter.value, [(k, v.encode()) for k, v in letter.headers.items()
                                          if not k.startswith("dlq.")]
    import asyncio

    from aiokafka import AIOKafkaConsumer, TopicPartition

    reference = json.loads(letter.value)
    partition = TopicPartition(reference["topic"], reference["partition"])
    consumer = AIOKafkaConsumer(**login.aiokafka(), group_id=None, enable_auto_commit=False,
                                fetch_max_bytes=64 << 20, max_partition_fetch_bytes=64 << 20)
    await consumer.start()
    try:
        consumer.assign([partition])
        consumer.seek(partition, reference["offset"])
        record = await asyncio.wait_for(consumer.getone(partition), timeout=30)
    finally:
        await consumer.stop()
    value = record.value or b""
    if record.offset != reference["offset"] or hashlib.sha256(value).hexdigest() != reference["sha256"]:
        raise SystemExit(f"dead letter {letter.offset}: the record at {reference['topic']}/{reference['partition']}/"
                         f"{reference['offset']} is no longer the one dead-lettered (its SHA-256 differs)")
    return record.key, value, list(record.headers or ())


async def _mark(login: Any, letter: Letter, action: str, by: str, reason: str) -> None:
    from aiokafka import AIOKafkaProducer

    from creditflow.events import DEAD_LETTER_TOPIC

    headers = {HANDLED: str(letter.offset), "dlq.action": action, "dlq.by": by, "dlq.reason": reason[:4000],
               "dlq.at": datetime.now(UTC).isoformat()}
    producer = AIOKafkaProducer(**login.aiokafka(), acks="all", enable_idempotence=True)
    await producer.start()
    try:
        await producer.send_and_wait(DEAD_LETTER_TOPIC, b"", key=letter.key,
                                     headers=[(k, v.encode()) for k, v in headers.items()])
    finally:
        await producer.stop()


async def _redrive(login: Any, letter: Letter, by: str) -> str:
    from aiokafka import AIOKafkaProducer

    key, value, headers = await _original(login, letter)
    topic, partition, _ = letter.source
    # The source partition, not the key's hash: a record keyed by another topic's rule must land where it was.
    producer = AIOKafkaProducer(**login.aiokafka(), acks="all", enable_idempotence=True,
                                max_request_size=max(1 << 20, len(value) + (64 << 10)))
    await producer.start()
    try:
        sent = await producer.send_and_wait(topic, value, key=key, partition=partition, headers=headers)
    finally:
        await producer.stop()
    await _mark(login, letter, "redriven", by, f"re-published to {topic}/{sent.partition}/{sent.offset}")
    return f"{topic}/{sent.partition}/{sent.offset}"


def _login() -> Any:
    from creditflow.runtime.settings import admin_login

    return admin_login(os.environ)


def listing(show_all: bool) -> int:
    import asyncio

    login = _login()
    letters, markers = asyncio.run(_read(login, from_start=show_all))
    if not show_all:
        letters = [letter for letter in letters if letter.offset not in markers]
    print(f"{'ID':>6}  {'SOURCE (topic/partition/offset)':<48} {'GROUP':<34} {'SIZE':>8}  REASON")
    for letter in letters:
        topic, partition, offset = letter.source
        state = f"[{markers[letter.offset].get('dlq.action')}] " if letter.offset in markers else ""
        kind = "[reference] " if letter.reference else ""
        reason = letter.headers.get("dlq.reason", "").replace("\n", " ")
        print(f"{letter.offset:>6}  {f'{topic}/{partition}/{offset}':<48} "
              f"{letter.headers.get('dlq.consumer.group', '?'):<34} {letter.size:>8}  {state}{kind}{reason[:160]}")
    print(f"{len(letters)} dead letter(s){'' if show_all else ' to handle'}", file=sys.stderr)
    return 0


def show(offset: int) -> int:
    import asyncio

    letter = asyncio.run(_find(_login(), offset))
    topic, partition, source_offset = letter.source
    print(f"id          {letter.offset}\nsource      {topic}/{partition}/{source_offset}\n"
          f"group       {letter.headers.get('dlq.consumer.group', '?')}\nsize        {letter.size}\n"
          f"key         {letter.key.decode(errors='replace') if letter.key is not None else '(none)'}\n"
          f"reason      {letter.headers.get('dlq.reason', '')}")
    for name, value in sorted(letter.headers.items()):
        if not name.startswith("dlq.reason"):
            print(f"header      {name}: {value}")
    try:
        body = json.dumps(json.loads(letter.value), indent=2, ensure_ascii=False)
    except ValueError:
        body = repr(letter.value[:2000]) + (f" … ({len(letter.value)} bytes)" if len(letter.value) > 2000 else "")
    print(("reference (the record stays on its topic):\n" if letter.reference else "value:\n") + body)
    return 0


def redrive(offset: int, by: str) -> int:
    import asyncio

    login = _login()

    async def run() -> str:
        return await _redrive(login, await _find(login, offset), by)

    print(f"dead letter {offset} re-published to {asyncio.run(run())}")
    return 0


def discard(offset: int, reason: str, by: str) -> int:
    import asyncio

    login = _login()

    async def run() -> None:
        await _mark(login, await _find(login, offset), "discarded", by, reason)

    asyncio.run(run())
    print(f"dead letter {offset} discarded: {reason}")
    return 0


def add_parser(commands: Any) -> None:
    """`creditflow dead-letters ...` on the command line's subparsers (only the standard library is used here)."""
    letters = commands.add_parser("dead-letters", help="list, show, re-drive or discard dead letters (as Kafka admin)")
    actions = letters.add_subparsers(dest="action", required=True, metavar="ACTION")
    listed = actions.add_parser("list", help="letters still to handle: id, source, consumer group, size, reason")
    listed.add_argument("--all", action="store_true", help="handled letters too, with what was done")
    actions.add_parser("show", help="one letter: where it came from, why, its headers and value").add_argument(
        "id", type=int, help="the letter's id (its offset on the dead-letter topic; list shows it)")
    redriven = actions.add_parser("redrive", help="re-publish the original record to its source topic")
    redriven.add_argument("id", type=int)
    redriven.add_argument("--by", help="who re-drives it (default: your user name)")
    discarded = actions.add_parser("discard", help="mark a letter handled without re-publishing it")
    discarded.add_argument("id", type=int)
    discarded.add_argument("--reason", required=True, help="why it needs nothing more")
    discarded.add_argument("--by", help="who discards it (default: your user name)")


def run(args: Any) -> int:
    import getpass

    if args.action == "list":
        return listing(args.all)
    if args.action == "show":
        return show(args.id)
    if args.action == "redrive":
        return redrive(args.id, args.by or getpass.getuser())
    return discard(args.id, args.reason, args.by or getpass.getuser())
