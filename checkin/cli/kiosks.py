"""`baodao kiosk …`: register, bind, list and revoke kiosks (the kiosk client adds `run`)."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import select

from checkin import audit
from checkin.accounts.scope import Scope
from checkin.runtime import open_runtime
from models import Body, Kiosk
from models.db import session_scope

kiosk_app = typer.Typer(
    help="Kiosks: register (token shown once), bind, list, revoke.", no_args_is_help=True
)
BODY_OPT = typer.Option(..., "--body", help="会议机构（名称或编号）：终端只为该机构的会议签到")


@kiosk_app.command("register")
def kiosk_register(
    name: str,
    body: str = BODY_OPT,
    venue: str = typer.Option(None, help="Where the kiosk stands, e.g. 大会堂东门"),
) -> None:
    """Register a kiosk for one body's meetings and print its token once (stored hashed)."""
    from checkin.accounts.service import register_kiosk
    from checkin.meetings.service import get_body

    rt = open_runtime()
    with session_scope(rt.sessions) as session:
        body_id = get_body(session, body, scope=Scope.everything()).id
        kiosk, token = register_kiosk(
            session, name=name, body_id=body_id, venue=venue, scope=Scope.everything()
        )
        audit.record(
            session,
            actor=audit.Actor.cli(),
            action="kiosk.register",
            detail={"name": name, "venue": venue, "body_id": body_id},
        )
        kiosk_id = kiosk.id
    typer.echo(f"已登记签到终端 {name} (id {kiosk_id})。令牌只显示这一次，请妥善保存：")
    typer.echo(f"kiosk token: {token}")


@kiosk_app.command("bind")
def kiosk_bind(name: str, body: str = BODY_OPT) -> None:
    """Bind a kiosk to the body whose meetings it serves (kiosks from before binding must)."""
    from checkin.accounts.service import bind_kiosk
    from checkin.meetings.service import get_body

    rt = open_runtime()
    with session_scope(rt.sessions) as session:
        found = get_body(session, body, scope=Scope.everything())
        bind_kiosk(session, name=name, body_id=found.id, scope=Scope.everything())
        audit.record(
            session,
            actor=audit.Actor.cli(),
            action="kiosk.bind",
            detail={"name": name, "body_id": found.id},
        )
        body_name = found.name
    typer.echo(f"签到终端 {name} 现为「{body_name}」的会议签到 / kiosk bound")


@kiosk_app.command("revoke")
def kiosk_revoke(name: str) -> None:
    """Revoke a kiosk's token; its open and future connections are refused."""
    from checkin.accounts.service import revoke_kiosk

    rt = open_runtime()
    with session_scope(rt.sessions) as session:
        kiosk = revoke_kiosk(session, name=name, scope=Scope.everything())
        audit.record(session, actor=audit.Actor.cli(), action="kiosk.revoke", detail={"name": name})
        kiosk_id = kiosk.id
    typer.echo(f"已吊销签到终端 {name} (id {kiosk_id}) 的令牌 / kiosk token revoked")


@kiosk_app.command("list")
def kiosk_list() -> None:
    """List kiosks with their body, state and when they were last seen."""
    rt = open_runtime()
    with session_scope(rt.sessions) as session:
        kiosks = session.scalars(select(Kiosk).order_by(Kiosk.name)).all()
        bodies = dict(session.execute(select(Body.id, Body.name)).all())
        table = Table("id", "name", "venue", "body", "state", "last seen (UTC)")
        for k in kiosks:
            table.add_row(
                str(k.id),
                k.name,
                k.venue or "",
                bodies.get(k.body_id, "") if k.body_id is not None else "",
                "revoked" if k.revoked_at else ("active" if k.body_id else "unbound"),
                k.last_seen_at.strftime("%Y-%m-%d %H:%M:%S") if k.last_seen_at else "never",
            )
    Console().print(table)
