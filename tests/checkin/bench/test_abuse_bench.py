"""The abuse benchmark runs end to end on a small attack (its figures come from the full run)."""

from __future__ import annotations

import pytest

from checkin.bench.abuse import run_abuse_bench

pytestmark = pytest.mark.slow


def test_the_abuse_benchmark_reports_a_refused_attack() -> None:
    result = run_abuse_bench(sockets=5, uploads=2, upload_mb=5, seconds=2.0)
    attack = result["attack"]
    assert attack["uploads"] >= 2 and set(attack["upload_statuses"]) == {"401"}
    assert attack["sockets_opened"] >= 5
    assert result["files_spooled_to_tmp_during_attack"] == []
    assert result["idle"]["healthz"]["n"] > 0 and attack["healthz"]["n"] > 0
    assert set(result["goals"]) == {"peak_rss_under_400_mb", "healthz_p95_under_200_ms"}
