"""The `baodao` command: the front door that wires every command group; nothing imports it.

One module per group: `meetings` (body, meeting, report), `terms` (term, session, the term
record's reports, deputy mandate), `kiosks`, `users`, `enroll` (enroll, deputy, identify),
`bench` (bench, calibrate); `serve` and `db` live here.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import typer

from checkin.cli.bench import bench_app, calibrate
from checkin.cli.enroll import deputy_app, enroll_app, identify
from checkin.cli.kiosks import kiosk_app
from checkin.cli.meetings import body_app, meeting_app, report_app
from checkin.cli.secret import secret_app
from checkin.cli.terms import deputy_mandate, report_deputy, report_term, session_app, term_app
from checkin.cli.users import user_app
from checkin.errors import BaodaoError, ConfigError
from checkin.runtime import open_runtime
from kiosk_client.cli import run as kiosk_run
from models.db import session_scope

app = typer.Typer(
    name="baodao",
    help="Baodao 报到 — face-recognition meeting check-in and attendance supervision.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
db_app = typer.Typer(help="Database schema (Alembic migrations).", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(user_app, name="user")
kiosk_app.command("run")(kiosk_run)  # the kiosk program, beside register / revoke / list
app.add_typer(kiosk_app, name="kiosk")
app.add_typer(body_app, name="body")
app.add_typer(meeting_app, name="meeting")
app.add_typer(term_app, name="term")
app.add_typer(session_app, name="session")
report_app.command("term")(report_term)
report_app.command("deputy")(report_deputy)
app.add_typer(report_app, name="report")
deputy_app.command("mandate")(deputy_mandate)
app.add_typer(enroll_app, name="enroll")
app.add_typer(deputy_app, name="deputy")
app.command("identify")(identify)
app.add_typer(bench_app, name="bench")
app.add_typer(secret_app, name="secret")
app.command("calibrate")(calibrate)


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", help="Address to listen on"),
    port: int = typer.Option(8000, help="Port to listen on"),
    ssl_certfile: Path | None = typer.Option(
        None, help="Serve HTTPS with this certificate (PEM, chain after it): docs/deploy-https.md"
    ),
    ssl_keyfile: Path | None = typer.Option(None, help="The certificate's private key (PEM)"),
) -> None:
    """Start the service (migrates the database first); HTTPS with a certificate and key."""
    import uvicorn

    from checkin.accounts.service import ensure_admin
    from checkin.faces.engine import check_model
    from checkin.logs import setup_logging
    from checkin.web.app import create_app
    from enrollment.service import missing_templates

    check_tls(ssl_certfile, ssl_keyfile)  # before anything else: a bad pair is one line
    rt = open_runtime()
    setup_logging(rt.settings.log_level)
    model = rt.settings.face_model
    check_model(model)  # a missing or damaged model file: one line, exit 2
    with session_scope(rt.sessions) as session:
        password = ensure_admin(session)
        if password is not None:  # written before the commit: no admin without its password
            path = write_secret_file(rt.settings.data_dir / FIRST_PASSWORD_FILE, password)
        missing = missing_templates(session, model=model)
    if missing:
        typer.echo(
            f"注意：{len(missing)} 名在任代表没有 {model} 模型的人脸模板，报到机无法识别他们"
            "（baodao enroll missing 列出名单）。",
            err=True,
        )
    if password is not None:
        typer.echo(
            f"首次启动：已创建管理员账号 admin，一次性密码已写入 {path}（仅本机当前用户可读），"
            "首次登录后必须修改密码。/ First start: account admin created; its one-time "
            f"password is in {path} (mode 0600) and must be changed at the first login."
        )
    application = create_app(rt.settings, engine=rt.engine, warm_matcher=True)
    uvicorn.run(
        application,
        host=host,
        port=port,
        log_config=None,
        ws="websockets-sansio",
        ssl_certfile=str(ssl_certfile) if ssl_certfile else None,
        ssl_keyfile=str(ssl_keyfile) if ssl_keyfile else None,
    )


def check_tls(certfile: Path | None, keyfile: Path | None) -> None:
    """Both files or neither; they must load as a certificate and its key (ConfigError)."""
    import ssl

    if certfile is None and keyfile is None:
        return
    if certfile is None or keyfile is None:
        raise ConfigError("--ssl-certfile and --ssl-keyfile go together (HTTPS needs both)")
    for path in (certfile, keyfile):
        if not path.is_file():
            raise ConfigError(f"{path}: no such file")
    try:
        ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(certfile, keyfile)
    except (ssl.SSLError, OSError) as exc:
        raise ConfigError(
            f"{certfile} / {keyfile}: not a certificate and its private key ({exc})"
        ) from None


FIRST_PASSWORD_FILE = "admin-initial-password.txt"


def write_secret_file(path: Path, secret: str) -> Path:
    """Write a secret readable by the owner only (0600, also when the file existed)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        os.fchmod(f.fileno(), 0o600)
        f.write(secret + "\n")
    return path.resolve()


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply pending migrations (safe to run again)."""
    from models.db import current_revision

    rt = open_runtime()
    typer.echo(f"database at revision {current_revision(rt.engine)}")


def main() -> None:
    """Entry point: typed errors become one line on stderr and exit code 2."""
    from sqlalchemy.exc import IntegrityError

    try:
        app()
    except BaodaoError as exc:
        typer.echo(f"baodao: {' '.join(exc.message.split())}", err=True)
        sys.exit(2)
    except IntegrityError:  # a concurrent command or request created the same thing first
        typer.echo("baodao: conflicts with existing data (created concurrently?)", err=True)
        sys.exit(2)
