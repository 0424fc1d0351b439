"""Bytes on the wire <-> events. JSON, UTF-8, one event per Kafka record."""

from __future__ import annotations

from pydantic import ConfigDict, TypeAdapter, ValidationError

from .catalogue import AnyEvent
from .envelope import Event

_ADAPTER: TypeAdapter[Event] = TypeAdapter(AnyEvent, config=ConfigDict(defer_build=True))


class UndecodableEvent(ValueError):
    """The bytes are not a valid event of the contract; `reason` says which field broke which rule."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _describe(error: ValidationError) -> str:
    parts = []
    for item in error.errors(include_url=False):
        location = ".".join(str(p) for p in item["loc"]) or "(event)"
        parts.append(f"{location}: {item['msg']}")
    return "; ".join(parts)


def decode(raw: bytes | None) -> Event:
    if raw is None:
        raise UndecodableEvent("record has no value (tombstone)")
    try:
        return _ADAPTER.validate_json(raw)
    except ValidationError as exc:
        raise UndecodableEvent(_describe(exc)) from exc


def encode(event: Event) -> bytes:
    return event.model_dump_json(exclude_none=False).encode()
