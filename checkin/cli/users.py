"""`baodao user …`: create, list, deactivate, activate and reset staff accounts (audited)."""

from __future__ import annotations

import getpass
import sys

import typer
from rich.console import Console
from rich.table import Table

from checkin import audit
from checkin.accounts import service as accounts
from checkin.accounts.scope import Scope
from checkin.errors import InvalidInput
from checkin.meetings.service import get_body
from checkin.runtime import open_runtime
from models import Role
from models.db import session_scope

user_app = typer.Typer(help="Staff accounts (admin, secretariat).", no_args_is_help=True)


@user_app.command("create")
def user_create(
    username: str,
    role: Role = typer.Option(..., help="admin or secretariat"),
    body: list[str] = typer.Option(
        [],
        "--body",
        help="会议机构 (id or name) the account is limited to, with the bodies below it "
        "(repeat for several); none: the whole tree",
    ),
) -> None:
    """Create a staff account; the password is read from a prompt, or stdin when piped.

    The owner must change it at the first login (≥ 10 characters, not the username).
    """
    if sys.stdin.isatty():
        password = getpass.getpass("Password: ")
        if getpass.getpass("Repeat: ") != password:
            raise InvalidInput("passwords differ")
    else:
        password = sys.stdin.readline().rstrip("\n")
    rt = open_runtime()
    with session_scope(rt.sessions) as session:
        everything = Scope.everything()
        body_ids = [get_body(session, b, scope=everything).id for b in body] or None
        user = accounts.create_user(
            session,
            username=username,
            password=password,
            role=role,
            must_change_password=True,
            body_ids=body_ids,
        )
        audit.record(
            session,
            actor=audit.Actor.cli(),
            action="user.create",
            detail={"username": username, "role": role.value, "body_ids": body_ids},
        )
    typer.echo(f"created {user.role.value} {user.username} (password to be changed at first login)")


@user_app.command("list")
def user_list() -> None:
    """Every account: role, active, whether the password must still be changed."""
    rt = open_runtime()
    table = Table("id", "用户名", "角色", "状态", "须改密码")
    with rt.sessions() as session:
        for u in accounts.get_all_users(session, scope=Scope.everything()):
            table.add_row(
                str(u.id),
                u.username,
                u.role.value,
                "启用" if u.active else "停用",
                "是" if u.must_change_password else "",
            )
    Console().print(table)


@user_app.command("deactivate")
def user_deactivate(username: str) -> None:
    """Deactivate an account: every token it holds stops working at once."""
    rt = open_runtime()
    with session_scope(rt.sessions) as session:
        user = accounts.get_user_by_name(session, username)
        accounts.set_active(session, user=user, active=False, actor=audit.Actor.cli())
    typer.echo(f"已停用 {username} (deactivated; its sessions are revoked)")


@user_app.command("activate")
def user_activate(username: str) -> None:
    """Reactivate an account."""
    rt = open_runtime()
    with session_scope(rt.sessions) as session:
        user = accounts.get_user_by_name(session, username)
        accounts.set_active(session, user=user, active=True, actor=audit.Actor.cli())
    typer.echo(f"已启用 {username} (activated)")


@user_app.command("reset-password")
def user_reset_password(username: str) -> None:
    """Set a temporary password (printed once); it must be changed at the next login."""
    rt = open_runtime()
    with session_scope(rt.sessions) as session:
        user = accounts.get_user_by_name(session, username)
        password = accounts.reset_password(session, user=user, actor=audit.Actor.cli())
    typer.echo(f"已重置 {username} 的密码，临时密码只显示这一次，首次登录后必须修改：")
    typer.echo(f"temporary password: {password}")
