"""The short subset of the fault matrix (issue #17), on one broker with two learner-record processes: kill -9 of an
instance while it consumes, a consumer rebalance (the killed instance replaced by a new one), duplicate delivery (the
same records published again). Then a checker folds the topic from offset 0 and compares it with the projection and
with the load generator's record of every write the broker accepted: lost, duplicated and wrong entries must be 0."""

from __future__ import annotations

import pytest
from chaos_checker import add_an_instance, clean, duplicate_delivery, kill_an_instance, run_scenario

pytestmark = pytest.mark.integration


async def test_kill_rebalance_and_duplicate_delivery_lose_duplicate_and_corrupt_nothing(servers, tmp_path):
    # An instance killed -9 mid-batch, a new member joining (the group rebalances: one removed, one added), records
    # delivered twice; all against two processes on the session's broker.
    counts = await run_scenario(servers, tmp_path, [kill_an_instance, add_an_instance, duplicate_delivery])
    assert counts["delivered more than once"] > 0  # the duplicates really were delivered again
    assert clean(counts), counts
