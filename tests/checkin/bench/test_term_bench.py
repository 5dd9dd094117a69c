"""`baodao bench term` builds its county at run time and reports the timings (small run)."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from checkin.cli import app


def test_bench_term_small() -> None:
    args = ["bench", "term", "--deputies", "34", "--meetings", "5", "--sessions", "2"]
    result = CliRunner().invoke(app, [*args, "--repeat", "1", "--json"])
    assert result.exit_code == 0, (result.output, result.exception)
    data = json.loads(result.output)
    assert (data["deputies"], data["meetings"], data["rows"]) == (34, 5, 170)
    for key in ("baseline_query_s", "build_s", "page_s", "xlsx_s"):
        assert data[key] > 0
    assert data["page_bytes"] > 10_000 and data["xlsx_bytes"] > 5_000
    ratio = data["page_s"] / data["baseline_query_s"]  # both rounded to 0.1 ms
    assert data["page_vs_baseline"] == pytest.approx(ratio, rel=0.1)
    assert data["command"].startswith("baodao bench term --deputies 34 --meetings 5")
    table = CliRunner().invoke(app, [*args, "--repeat", "1"])
    assert table.exit_code == 0 and "目标 < 2 s" in table.output
