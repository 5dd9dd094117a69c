"""The secret key: the keyring face templates are read with, and its rotation.

The key lives in `BAODAO_SECRET_KEY` or in `<data_dir>/secret.key` (0600). A rotation
(`baodao secret rotate`) writes the new key to `secret.key.next` first, re-encrypts every
template in one transaction, then renames `secret.key.next` over `secret.key`. While the
`.next` file exists, templates are encrypted with it and decrypted with either key, so a
crash at any step leaves every template readable; running the command again finishes it.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from checkin import audit
from checkin.errors import ConfigError
from checkin.settings import Settings
from models import FaceTemplate
from models.crypto import TemplateCipher
from models.db import scrub, session_scope

KEY_FILE = "secret.key"
NEXT_FILE = "secret.key.next"


def write_private(path: Path, text: str) -> None:
    """Write a file atomically with mode 0600: a temporary file, fsync, rename, fsync folder."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    try:
        os.write(fd, text.encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    _sync_folder(path.parent)


def _sync_folder(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _read(path: Path) -> str | None:
    try:
        text = path.read_text().strip()
    except FileNotFoundError:
        return None
    return text or None


def keyring(settings: Settings) -> list[str]:
    """The secrets templates are decrypted with; the first one encrypts."""
    if settings.secret_key is not None:
        return [settings.secret_key.get_secret_value()]
    # Read directly when present: this runs before every encryption (see template_cipher).
    current = _read(settings.data_dir / KEY_FILE) or settings.resolved_secret()
    pending = _read(settings.data_dir / NEXT_FILE)
    return [pending, current] if pending and pending != current else [current]


def template_cipher(settings: Settings) -> TemplateCipher:
    """The template cipher of a process; it re-reads the key files when a template does not
    decrypt or before it encrypts, so it follows a rotation done by another process."""
    keys = keyring(settings)
    if settings.secret_key is not None:
        return TemplateCipher(*keys)
    return TemplateCipher(*keys, source=lambda: keyring(settings))


@dataclass(frozen=True)
class Rotation:
    """What `rotate` did."""

    templates: int
    key_file: Path
    resumed: bool  # an interrupted rotation was finished


def rotate(
    settings: Settings,
    engine: Engine,
    sessions: sessionmaker[Session],
    *,
    new_key_file: Path | None = None,
    actor: audit.Actor,
) -> Rotation:
    """Make a new secret key and re-encrypt every face template with it, in one transaction.

    With the key in the data folder, the new key replaces it (see the module docstring for
    why a crash leaves everything readable). With BAODAO_SECRET_KEY set, the environment
    cannot be rewritten: `new_key_file` receives the new key, and the operator sets the
    variable to it and restarts the service; without `new_key_file` this is refused.
    """
    if settings.secret_key is not None:
        if new_key_file is None:
            raise ConfigError(
                "BAODAO_SECRET_KEY 由环境变量提供，无法自动替换：请用 --new-key-file 文件 "
                "写出新密钥，再把环境变量改为该密钥并重启服务 (the key comes from the environment: "
                "use --new-key-file, then set BAODAO_SECRET_KEY to the new key and restart)"
            )
        old = [settings.secret_key.get_secret_value()]
        pending_file = new_key_file
    else:
        old = [settings.resolved_secret()]
        pending_file = settings.data_dir / NEXT_FILE
    resumed = _read(pending_file)
    new = resumed or secrets.token_urlsafe(48)
    if not resumed:
        write_private(pending_file, new)
    try:
        count = _reencrypt(sessions, TemplateCipher(new, *old), actor=actor)
    except BaseException:
        if not resumed:  # nothing was committed: back to the old key alone
            pending_file.unlink(missing_ok=True)
        raise
    scrub(engine)  # the old ciphertexts must not linger in the WAL
    if settings.secret_key is None:
        key_file = settings.data_dir / KEY_FILE
        os.replace(pending_file, key_file)
        _sync_folder(key_file.parent)
    else:
        key_file = pending_file
    return Rotation(count, key_file, resumed is not None)


def _reencrypt(
    sessions: sessionmaker[Session], cipher: TemplateCipher, *, actor: audit.Actor
) -> int:
    with session_scope(sessions) as session:
        rows = session.scalars(select(FaceTemplate).order_by(FaceTemplate.id)).all()
        unreadable = 0
        for row in rows:
            try:
                row.encoding = cipher.reencrypt(row.encoding)
            except ValueError:
                unreadable += 1
        if unreadable:
            raise ConfigError(
                f"{unreadable} 个人脸模板无法用当前密钥解密，未做任何更改 "
                f"({unreadable} templates do not decrypt with the current key; nothing changed)"
            )
        audit.record(session, actor=actor, action="secret.rotate", detail={"templates": len(rows)})
    return len(rows)
