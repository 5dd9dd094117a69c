"""`baodao secret rotate`: a new secret key, every face template re-encrypted with it."""

from __future__ import annotations

from pathlib import Path

import typer

from checkin import audit
from checkin.keys import rotate
from checkin.runtime import open_runtime

secret_app = typer.Typer(help="The secret key (encrypts face templates, signs sessions).")


@secret_app.callback()
def _group() -> None:
    """The secret key (encrypts face templates, signs sessions)."""


@secret_app.command("rotate")
def secret_rotate(
    new_key_file: Path = typer.Option(
        None,
        "--new-key-file",
        help="只在 BAODAO_SECRET_KEY 由环境变量提供时使用：新密钥写入此文件（0600）",
    ),
) -> None:
    """Create a new secret key and re-encrypt every face template with it (one transaction).

    The key in the data folder is replaced atomically; a running service picks it up by
    itself. Staff sessions signed with the old key end when the service restarts.
    """
    rt = open_runtime()
    done = rotate(
        rt.settings, rt.engine, rt.sessions, new_key_file=new_key_file, actor=audit.Actor.cli()
    )
    if done.resumed:
        typer.echo("发现上次未完成的密钥轮换，已完成 / finished an interrupted rotation")
    typer.echo(f"已用新密钥重新加密 {done.templates} 个人脸模板 / templates re-encrypted")
    if rt.settings.secret_key is not None:
        typer.echo(
            f"新密钥已写入 {done.key_file}：请把 BAODAO_SECRET_KEY 改为该文件内容并重启服务 "
            f"(set BAODAO_SECRET_KEY to the content of {done.key_file} and restart serve)"
        )
    else:
        typer.echo(f"新密钥已写入 {done.key_file} (0600) / new key written")
