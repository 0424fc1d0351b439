"""Regenerate the committed contract artefacts: one JSON Schema per event, and the AsyncAPI document.

    python -m creditflow.events.generate --schemas DIR --asyncapi FILE
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from . import EVENT_CLASSES, type_of
from .asyncapi import document

SCHEMAS_DIR = Path(__file__).parent / "schemas"


def event_schemas() -> dict[str, dict]:
    return {type_of(cls): cls.model_json_schema(mode="validation") for cls in EVENT_CLASSES}


def dumps(value: dict) -> str:
    return json.dumps(value, indent=2, sort_keys=True) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--schemas", type=Path, default=SCHEMAS_DIR)
    parser.add_argument("--asyncapi", type=Path, required=True)
    args = parser.parse_args()
    args.schemas.mkdir(parents=True, exist_ok=True)
    for event_type, schema in event_schemas().items():
        (args.schemas / f"{event_type}.json").write_text(dumps(schema))
    args.asyncapi.parent.mkdir(parents=True, exist_ok=True)
    args.asyncapi.write_text(dumps(document()))
    print(f"wrote {len(EVENT_CLASSES)} schemas to {args.schemas} and {args.asyncapi}")


if __name__ == "__main__":
    main()
