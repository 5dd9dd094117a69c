"""`baodao kiosk …`: register, list and revoke kiosks (the kiosk client adds `run`)."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import select

from checkin import audit
from checkin.runtime import open_runtime
from models import Kiosk
from models.db import session_scope

kiosk_app = typer.Typer(
    help="Kiosks: register (token shown once), list, revoke.", no_args_is_help=True
)


@kiosk_app.command("register")
def kiosk_register(
    name: str,
    venue: str = typer.Option(None, help="Where the kiosk stands, e.g. 大会堂东门"),
) -> None:
    """Register a kiosk and print its token once (only its hash is stored)."""
    from checkin.accounts.service import register_kiosk

    rt = open_runtime()
    with session_scope(rt.sessions) as session:
        kiosk, token = register_kiosk(session, name=name, venue=venue)
        audit.record(
            session,
            actor=audit.Actor.cli(),
            action="kiosk.register",
            detail={"name": name, "venue": venue},
        )
        kiosk_id = kiosk.id
    typer.echo(f"已登记签到终端 {name} (id {kiosk_id})。令牌只显示这一次，请妥善保存：")
    typer.echo(f"kiosk token: {token}")


@kiosk_app.command("revoke")
def kiosk_revoke(name: str) -> None:
    """Revoke a kiosk's token; its open and future connections are refused."""
    from checkin.accounts.service import revoke_kiosk

    rt = open_runtime()
    with session_scope(rt.sessions) as session:
        kiosk = revoke_kiosk(session, name=name)
        audit.record(session, actor=audit.Actor.cli(), action="kiosk.revoke", detail={"name": name})
        kiosk_id = kiosk.id
    typer.echo(f"已吊销签到终端 {name} (id {kiosk_id}) 的令牌 / kiosk token revoked")


@kiosk_app.command("list")
def kiosk_list() -> None:
    """List kiosks with their state and when they were last seen."""
    rt = open_runtime()
    with session_scope(rt.sessions) as session:
        kiosks = session.scalars(select(Kiosk).order_by(Kiosk.name)).all()
        table = Table("id", "name", "venue", "state", "last seen (UTC)")
        for k in kiosks:
            table.add_row(
                str(k.id),
                k.name,
                k.venue or "",
                "revoked" if k.revoked_at else "active",
                k.last_seen_at.strftime("%Y-%m-%d %H:%M:%S") if k.last_seen_at else "never",
            )
    Console().print(table)
