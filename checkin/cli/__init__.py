"""The `baodao` command: the front door that wires every command group; nothing imports it.

One module per group: `meetings` (body, meeting, report), `kiosks`, `enroll` (enroll,
deputy, identify), `bench` (bench, calibrate); `serve`, `db` and `user` live here.
"""

from __future__ import annotations

import getpass
import sys

import typer

from checkin.cli.bench import bench_app, calibrate
from checkin.cli.enroll import deputy_app, enroll_app, identify
from checkin.cli.kiosks import kiosk_app
from checkin.cli.meetings import body_app, meeting_app, report_app
from checkin.cli.secret import secret_app
from checkin.errors import BaodaoError
from checkin.runtime import open_runtime
from kiosk_client.cli import run as kiosk_run
from models import Role
from models.db import session_scope

app = typer.Typer(
    name="baodao",
    help="Baodao 报到 — face-recognition meeting check-in and attendance supervision.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
db_app = typer.Typer(help="Database schema (Alembic migrations).", no_args_is_help=True)
user_app = typer.Typer(help="Staff accounts (admin, secretariat).", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(user_app, name="user")
kiosk_app.command("run")(kiosk_run)  # the kiosk program, beside register / revoke / list
app.add_typer(kiosk_app, name="kiosk")
app.add_typer(body_app, name="body")
app.add_typer(meeting_app, name="meeting")
app.add_typer(report_app, name="report")
app.add_typer(enroll_app, name="enroll")
app.add_typer(deputy_app, name="deputy")
app.command("identify")(identify)
app.add_typer(bench_app, name="bench")
app.add_typer(secret_app, name="secret")
app.command("calibrate")(calibrate)


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print one clear line to stderr; return the Exit to raise."""
    typer.echo(f"baodao: {' '.join(message.split())}", err=True)
    return typer.Exit(code)


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", help="Address to listen on"),
    port: int = typer.Option(8000, help="Port to listen on"),
) -> None:
    """Start the service (migrates the database first)."""
    import uvicorn

    from checkin.accounts.service import ensure_admin
    from checkin.logs import setup_logging
    from checkin.web.app import create_app

    rt = open_runtime()
    setup_logging(rt.settings.log_level)
    with session_scope(rt.sessions) as session:
        password = ensure_admin(session)
    if password is not None:
        typer.echo(
            f"首次启动：已创建管理员账号 admin，一次性密码 / one-time admin password: {password}"
        )
    application = create_app(rt.settings, engine=rt.engine, warm_matcher=True)
    uvicorn.run(application, host=host, port=port, log_config=None, ws="websockets-sansio")


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply pending migrations (safe to run again)."""
    from models.db import current_revision

    rt = open_runtime()
    typer.echo(f"database at revision {current_revision(rt.engine)}")


@user_app.command("create")
def user_create(
    username: str,
    role: Role = typer.Option(..., help="admin or secretariat"),
) -> None:
    """Create a staff account; the password is read from a prompt, or stdin when piped."""
    from checkin import audit
    from checkin.accounts import service as accounts

    if sys.stdin.isatty():
        password = getpass.getpass("Password: ")
        if getpass.getpass("Repeat: ") != password:
            raise fail("passwords differ")
    else:
        password = sys.stdin.readline().rstrip("\n")
    rt = open_runtime()
    with session_scope(rt.sessions) as session:
        user = accounts.create_user(session, username=username, password=password, role=role)
        audit.record(
            session,
            actor=audit.Actor.cli(),
            action="user.create",
            detail={"username": username, "role": role.value},
        )
    typer.echo(f"created {user.role.value} {user.username}")


def main() -> None:
    """Entry point: typed errors become one line on stderr and exit code 2."""
    try:
        app()
    except BaodaoError as exc:
        typer.echo(f"baodao: {' '.join(exc.message.split())}", err=True)
        sys.exit(2)
