"""The `baodao` console command (minimal; the lead merges the other subcommands in)."""

from __future__ import annotations

import typer

from checkin.bench.cli import bench_app, calibrate

app = typer.Typer(help="报到 Baodao：人面识别会议报到监督系统", no_args_is_help=True)
app.add_typer(bench_app, name="bench")
app.command("calibrate")(calibrate)


def main() -> None:
    """Entry point of the `baodao` console script."""
    app()
