"""The `baodao` console command (minimal: the lead's full version replaces this file)."""

from __future__ import annotations

import typer

from kiosk_client.cli import kiosk_app

app = typer.Typer(help="Baodao（报到）会议报到与出席监督", no_args_is_help=True)
app.add_typer(kiosk_app, name="kiosk")


def main() -> None:
    """Entry point of the `baodao` script."""
    app()
