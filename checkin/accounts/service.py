"""Staff accounts and kiosks: password hashing, signed session tokens, kiosk tokens.

No web code: the FastAPI dependencies that read tokens from requests live in checkin.web.deps.
"""

from __future__ import annotations

import hashlib
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy import select
from sqlalchemy.orm import Session

from checkin.errors import Conflict, InvalidInput, NotFound, Unauthorized
from models import Body, Kiosk, Role, User, utcnow

TOKEN_MAX_AGE_S = 12 * 3600
_hasher = PasswordHasher()


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def create_user(session: Session, *, username: str, password: str, role: Role) -> User:
    """Create a staff account; raises Conflict if the username is taken."""
    if len(password) < 8:
        raise InvalidInput("password must have at least 8 characters")
    if session.scalar(select(User).where(User.username == username)) is not None:
        raise Conflict(f"user {username!r} already exists")
    user = User(username=username, password_hash=hash_password(password), role=role)
    session.add(user)
    session.flush()
    return user


def authenticate(session: Session, *, username: str, password: str) -> User:
    """The active user with these credentials; raises Unauthorized otherwise."""
    user = session.scalar(select(User).where(User.username == username))
    if user is None or not user.active or not verify_password(user.password_hash, password):
        raise Unauthorized("用户名或密码错误 (wrong username or password)")
    return user


def ensure_admin(session: Session) -> str | None:
    """On an empty database, create user `admin` and return its one-time password."""
    if session.scalar(select(User).where(User.role == Role.ADMIN)) is not None:
        return None
    password = secrets.token_urlsafe(12)
    create_user(session, username="admin", password=password, role=Role.ADMIN)
    return password


class TokenSigner:
    """Signs the user id into a session cookie / bearer token."""

    def __init__(self, secret: str) -> None:
        self._s = URLSafeTimedSerializer(secret, salt="baodao-session")

    def issue(self, user: User) -> str:
        return self._s.dumps({"uid": user.id})

    def user_id(self, token: str) -> int | None:
        try:
            data = self._s.loads(token, max_age=TOKEN_MAX_AGE_S)
        except BadSignature:
            return None
        uid = data.get("uid") if isinstance(data, dict) else None
        return uid if isinstance(uid, int) else None


def hash_kiosk_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def register_kiosk(
    session: Session, *, name: str, body_id: int, venue: str | None = None
) -> tuple[Kiosk, str]:
    """Create a kiosk serving one body's meetings; returns it with its token (shown once,
    stored hashed)."""
    _check_body(session, body_id)
    if session.scalar(select(Kiosk).where(Kiosk.name == name)) is not None:
        raise Conflict(f"kiosk {name!r} already exists")
    token = "bk_" + secrets.token_urlsafe(32)
    kiosk = Kiosk(name=name, venue=venue, token_hash=hash_kiosk_token(token), body_id=body_id)
    session.add(kiosk)
    session.flush()
    return kiosk, token


def bind_kiosk(session: Session, *, name: str, body_id: int) -> Kiosk:
    """Make a kiosk serve another body's meetings (its open connections end at their next
    frame); kiosks registered before binding existed must be bound before they serve."""
    _check_body(session, body_id)
    kiosk = session.scalar(select(Kiosk).where(Kiosk.name == name))
    if kiosk is None:
        raise NotFound(f"no kiosk named {name!r}")
    kiosk.body_id = body_id
    session.flush()
    return kiosk


def _check_body(session: Session, body_id: int) -> None:
    if session.get(Body, body_id) is None:
        raise NotFound(f"没有这个会议机构 (no body {body_id})")


def revoke_kiosk(session: Session, *, name: str) -> Kiosk:
    kiosk = session.scalar(select(Kiosk).where(Kiosk.name == name))
    if kiosk is None:
        raise NotFound(f"no kiosk named {name!r}")
    kiosk.revoked_at = kiosk.revoked_at or utcnow()
    return kiosk


def kiosk_for_token(session: Session, token: str) -> Kiosk | None:
    """The kiosk with this token, unless unknown or revoked."""
    kiosk = session.scalar(select(Kiosk).where(Kiosk.token_hash == hash_kiosk_token(token)))
    if kiosk is None or kiosk.revoked_at is not None:
        return None
    return kiosk
