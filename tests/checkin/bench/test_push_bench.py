"""The live-push benchmark runs end to end on a small load (its figures come from the full run).

It reads the live socket's messages as the big screen does: a protocol change the bench does
not follow (it once waited for `status` while the server sent `delta`) fails here, not in a
15-minute benchmark run.
"""

from __future__ import annotations

import pytest

from checkin.bench.live_push import run_push_bench

pytestmark = pytest.mark.slow


def test_the_push_benchmark_sees_every_checkin_on_every_screen() -> None:
    result = run_push_bench(clients=3, checkins=4)
    assert result["baseline_1_client"]["messages"] == 2  # checkins // 2, one screen
    loaded = result["3_clients"]
    assert loaded["clients"] == 3 and loaded["messages"] == 3 * 4
    assert loaded["sequence_gaps"] == 0 and loaded["p95_ms"] > 0
