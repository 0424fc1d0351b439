"""`creditflow replay`: rebuild learner-record's records from offset 0 of every learner topic, with learner-record's
settings (creditflow.learner_record.replay says how the live service keeps serving meanwhile)."""

from __future__ import annotations

import asyncio


def replay() -> int:
    from creditflow.learner_record.app import HTTP_PORT
    from creditflow.learner_record.replay import replay as rebuild
    from creditflow.runtime.settings import Settings

    result = asyncio.run(rebuild(Settings.from_env("learner-record", HTTP_PORT)))
    print(f"replayed {result['events']} events in {result['seconds']} s ({result['events_per_second']} events/s); "
          f"{result['skipped']} undecodable records skipped; now serving {result['collection']} "
          f"(previous: {result['previous']}, kept for comparison; drop it when satisfied)")
    return 0
