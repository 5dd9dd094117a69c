"""Staff accounts and kiosks: passwords, login throttling, signed session tokens, kiosk tokens.

No web code: the FastAPI dependencies that read tokens from requests live in checkin.web.deps.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from checkin import audit
from checkin.accounts.scope import Scope, scope_of, set_scope, within
from checkin.errors import Conflict, InvalidInput, NotFound, TooManyAttempts, Unauthorized
from models import Body, Kiosk, Role, User, utcnow

TOKEN_MAX_AGE_S = 12 * 3600
PASSWORD_MIN_CHARS = 10
_hasher = PasswordHasher()
_dummy_hash: str | None = None


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def check_password_policy(password: str, *, username: str) -> None:
    """At least 10 characters and not the username; raises InvalidInput otherwise."""
    if len(password) < PASSWORD_MIN_CHARS:
        raise InvalidInput(
            f"密码至少 {PASSWORD_MIN_CHARS} 个字符 "
            f"(password must have at least {PASSWORD_MIN_CHARS} characters)"
        )
    if password.strip().casefold() == username.strip().casefold():
        raise InvalidInput("密码不能与用户名相同 (password must not be the username)")


def temporary_password() -> str:
    """A random password for someone else to use once (16 characters)."""
    return secrets.token_urlsafe(12)


def create_user(
    session: Session,
    *,
    username: str,
    password: str,
    role: Role,
    must_change_password: bool = False,
    body_ids: list[int] | None = None,
    granted_by: Scope | None = None,
) -> User:
    """Create a staff account; raises Conflict if the username is taken.

    `must_change_password` is for passwords chosen by someone else than the owner.
    `body_ids` limits the account to those bodies and their descendants (None: the whole
    tree); `granted_by` is the creating admin's scope, which the new one may not exceed.
    """
    check_password_policy(password, username=username)
    if session.scalar(select(User).where(User.username == username)) is not None:
        raise Conflict(f"user {username!r} already exists")
    user = User(
        username=username,
        password_hash=hash_password(password),
        role=role,
        must_change_password=must_change_password,
    )
    session.add(user)
    session.flush()  # a concurrent create of the same name fails here: IntegrityError → 409
    set_scope(session, user, body_ids)
    if granted_by is not None and not within(granted_by, scope_of(session, user)):
        raise NotFound("没有这个会议机构 (a body outside your scope)")
    return user


def change_scope(
    session: Session,
    *,
    user: User,
    body_ids: list[int] | None,
    granted_by: Scope,
    actor: audit.Actor,
) -> None:
    """Give an account another scope, no wider than the granting admin's; audited."""
    set_scope(session, user, body_ids)
    if not within(granted_by, scope_of(session, user)):
        raise NotFound("没有这个会议机构 (a body outside your scope)")
    audit.record(
        session,
        actor=actor,
        action="user.scope",
        detail={"username": user.username, "body_ids": body_ids},
    )


def get_user(session: Session, user_id: int, *, scope: Scope) -> User:
    """An account whose scope lies within `scope` (a township admin manages its township's
    accounts, never the county's); NotFound otherwise."""
    user = session.get(User, user_id)
    if user is None or not within(scope, scope_of(session, user)):
        raise NotFound(f"没有编号为 {user_id} 的用户 (no user {user_id})")
    return user


def get_user_by_name(session: Session, username: str) -> User:
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        raise NotFound(f"没有用户 {username} (no user {username!r})")
    return user


def get_all_users(session: Session, *, scope: Scope) -> list[User]:
    """The accounts whose scope lies within `scope`."""
    users = session.scalars(select(User).order_by(User.id))
    return [u for u in users if within(scope, scope_of(session, u))]


@dataclass(frozen=True)
class LoginPolicy:
    """Consecutive wrong passwords before an account is locked, and for how long."""

    max_failures: int = 5
    lockout_seconds: int = 300


def _retry_after(until: datetime, now: datetime) -> int:
    return max(1, math.ceil((until - now).total_seconds()))


def _locked_message(seconds: int) -> str:
    return f"密码错误次数过多，请 {seconds} 秒后再试 (too many wrong passwords, retry later)"


def authenticate(
    session: Session,
    *,
    username: str,
    password: str,
    policy: LoginPolicy,
    address: str = "",
    now: datetime | None = None,
) -> User:
    """The active user with these credentials, counting wrong passwords per account.

    Raises Unauthorized (wrong name or password, inactive account) or TooManyAttempts (the
    account is locked). Failures and the lock are written to `session` (and audited): the
    caller commits the session even when this raises.
    """
    global _dummy_hash
    now = now or utcnow()
    user = session.scalar(select(User).where(User.username == username))
    actor = audit.Actor(username[:80], user_id=user.id if user is not None else None)
    if user is not None:
        _refuse_if_locked(user, now)
    if user is None:
        # Same work as a real check, so the answer time does not tell which names exist.
        _dummy_hash = _dummy_hash or hash_password(temporary_password())
        verify_password(_dummy_hash, password)
        ok = False
    else:
        ok = verify_password(user.password_hash, password)
    if ok and user is not None and user.active:
        user.failed_logins, user.locked_until = 0, None
        audit.record(session, actor=actor, action="auth.login", detail={"address": address})
        return user
    reason = "unknown_user" if user is None else "inactive" if ok else "wrong_password"
    audit.record(
        session,
        actor=actor,
        action="auth.login_failed",
        detail={"address": address, "reason": reason},
    )
    if user is not None and not ok:
        _count_failure(session, user, policy=policy, address=address, now=now)
    raise Unauthorized("用户名或密码错误 (wrong username or password)")


def _refuse_if_locked(user: User, now: datetime) -> None:
    if user.locked_until is not None and user.locked_until > now:
        wait = _retry_after(user.locked_until, now)
        raise TooManyAttempts(_locked_message(wait), retry_after=wait)


def _count_failure(
    session: Session, user: User, *, policy: LoginPolicy, address: str, now: datetime
) -> None:
    """One more wrong password for the account; at the limit, lock it (TooManyAttempts)."""
    failures = session.execute(  # atomic: several serve processes may count at once
        update(User)
        .where(User.id == user.id)
        .values(failed_logins=User.failed_logins + 1)
        .returning(User.failed_logins)
    ).scalar_one()
    if failures >= policy.max_failures:
        until = now + timedelta(seconds=policy.lockout_seconds)
        session.execute(update(User).where(User.id == user.id).values(locked_until=until))
        audit.record(
            session,
            actor=audit.Actor(user.username, user_id=user.id),
            action="auth.locked",
            detail={"address": address, "failures": failures, "until": until.isoformat()},
        )
        raise TooManyAttempts(
            _locked_message(policy.lockout_seconds), retry_after=policy.lockout_seconds
        )


def revoke_tokens(user: User) -> None:
    """Invalidate every session token issued to the account so far."""
    user.token_version = User.token_version + 1


def change_password(
    session: Session,
    *,
    user: User,
    old: str,
    new: str,
    policy: LoginPolicy,
    address: str = "",
    now: datetime | None = None,
) -> None:
    """The owner's own change: old password, policy, new tokens; audited.

    A wrong old password counts as a wrong login (a stolen session must not become a way to
    guess the password): the caller commits `session` even when this raises.
    """
    now = now or utcnow()
    _refuse_if_locked(user, now)
    if not verify_password(user.password_hash, old):
        _count_failure(session, user, policy=policy, address=address, now=now)
        raise InvalidInput("原密码不正确 (the current password is wrong)", code="wrong_password")
    check_password_policy(new, username=user.username)
    if old == new:
        raise InvalidInput("新密码不能与原密码相同 (choose a new password)")
    user.password_hash = hash_password(new)
    user.must_change_password = False
    revoke_tokens(user)
    audit.record(
        session, actor=audit.Actor(user.username, user_id=user.id), action="user.password_change"
    )
    session.flush()
    session.refresh(user)


def reset_password(session: Session, *, user: User, actor: audit.Actor) -> str:
    """A new temporary password (returned once) that must be changed at the next login."""
    password = temporary_password()
    user.password_hash = hash_password(password)
    user.must_change_password = True
    user.failed_logins, user.locked_until = 0, None
    revoke_tokens(user)
    audit.record(
        session, actor=actor, action="user.reset_password", detail={"username": user.username}
    )
    session.flush()
    session.refresh(user)
    return password


def set_active(session: Session, *, user: User, active: bool, actor: audit.Actor) -> None:
    """Deactivate (revoking every token) or reactivate an account; audited.

    The last active admin cannot be deactivated: nobody could manage accounts any more.
    """
    last_admin = Conflict("不能停用最后一个启用的管理员账号 (cannot deactivate the last admin)")
    if not active and user.active and user.role is Role.ADMIN:
        # FOR UPDATE (PostgreSQL): two admins deactivating each other take turns.
        admins = session.scalars(
            select(User.id).where(User.role == Role.ADMIN, User.active).with_for_update()
        ).all()
        if len(admins) <= 1:
            raise last_admin
    if user.active == active:
        return
    user.active = active
    if not active:
        revoke_tokens(user)
        session.flush()
        # Counted again inside the write (SQLite serialises writers, so a concurrent
        # deactivation committed meanwhile is seen here): never zero admins.
        remaining = session.scalar(
            select(func.count()).select_from(User).where(User.role == Role.ADMIN, User.active)
        )
        if user.role is Role.ADMIN and not remaining:
            raise last_admin
    else:
        user.failed_logins, user.locked_until = 0, None
    audit.record(
        session,
        actor=actor,
        action="user.activate" if active else "user.deactivate",
        detail={"username": user.username},
    )
    session.flush()
    session.refresh(user)


def ensure_admin(session: Session) -> str | None:
    """On an empty database, create user `admin` and return its one-time password.

    The password must be changed at the first login.
    """
    if session.scalar(select(User).where(User.role == Role.ADMIN)) is not None:
        return None
    password = temporary_password()
    create_user(
        session, username="admin", password=password, role=Role.ADMIN, must_change_password=True
    )
    return password


class TokenSigner:
    """Signs the user id and token version into a session cookie / bearer token."""

    def __init__(self, secret: str) -> None:
        self._s = URLSafeTimedSerializer(secret, salt="baodao-session")
        self._csrf_key = hashlib.sha256(b"baodao-csrf\x00" + secret.encode()).digest()

    def issue(self, user: User) -> str:
        return self._s.dumps({"uid": user.id, "v": user.token_version})

    def read(self, token: str) -> tuple[int, int] | None:
        """(user id, token version) of a valid signature, else None."""
        try:
            data = self._s.loads(token, max_age=TOKEN_MAX_AGE_S)
        except BadSignature:
            return None
        if not isinstance(data, dict):
            return None
        uid, version = data.get("uid"), data.get("v", 0)
        if not isinstance(uid, int) or not isinstance(version, int):
            return None
        return uid, version

    def user_id(self, token: str) -> int | None:
        read = self.read(token)
        return read[0] if read else None

    def csrf_token(self, session_token: str) -> str:
        """The token pages send back in `X-CSRF-Token` with cookie-authenticated writes."""
        return hmac.new(self._csrf_key, session_token.encode(), hashlib.sha256).hexdigest()

    def csrf_ok(self, session_token: str, sent: str) -> bool:
        return hmac.compare_digest(self.csrf_token(session_token), sent)


def user_for_token(session: Session, signer: TokenSigner, token: str | None) -> User | None:
    """The active account a session token belongs to, unless revoked since it was issued."""
    read = signer.read(token) if token else None
    if read is None:
        return None
    uid, version = read
    user = session.get(User, uid)
    if user is None or not user.active or user.token_version != version:
        return None
    return user


def hash_kiosk_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def register_kiosk(
    session: Session, *, name: str, body_id: int, scope: Scope, venue: str | None = None
) -> tuple[Kiosk, str]:
    """Create a kiosk serving one body's meetings; returns it with its token (shown once,
    stored hashed)."""
    _check_body(session, body_id, scope)
    if session.scalar(select(Kiosk).where(Kiosk.name == name)) is not None:
        raise Conflict(f"kiosk {name!r} already exists")
    token = "bk_" + secrets.token_urlsafe(32)
    kiosk = Kiosk(name=name, venue=venue, token_hash=hash_kiosk_token(token), body_id=body_id)
    session.add(kiosk)
    session.flush()
    return kiosk, token


def bind_kiosk(session: Session, *, name: str, body_id: int, scope: Scope) -> Kiosk:
    """Make a kiosk serve another body's meetings (its open connections end at their next
    frame); kiosks registered before binding existed must be bound before they serve."""
    _check_body(session, body_id, scope)
    kiosk = get_kiosk(session, name=name, scope=scope)
    kiosk.body_id = body_id
    session.flush()
    return kiosk


def _check_body(session: Session, body_id: int, scope: Scope) -> None:
    if session.get(Body, body_id) is None or not scope.covers(body_id):
        raise NotFound(f"没有这个会议机构 (no body {body_id})")


def get_kiosk(session: Session, *, name: str, scope: Scope) -> Kiosk:
    """A kiosk bound to a body in the scope (unbound ones: the whole tree only)."""
    kiosk = session.scalar(select(Kiosk).where(Kiosk.name == name))
    if kiosk is None or not scope.covers(kiosk.body_id):
        raise NotFound("没有这个签到终端 (no such kiosk)")
    return kiosk


def get_all_kiosks(session: Session, *, scope: Scope) -> list[Kiosk]:
    return list(session.scalars(select(Kiosk).where(scope.where(Kiosk.body_id)).order_by(Kiosk.id)))


def revoke_kiosk(session: Session, *, name: str, scope: Scope) -> Kiosk:
    kiosk = get_kiosk(session, name=name, scope=scope)
    kiosk.revoked_at = kiosk.revoked_at or utcnow()
    return kiosk


def kiosk_for_token(session: Session, token: str) -> Kiosk | None:
    """The kiosk with this token, unless unknown or revoked."""
    kiosk = session.scalar(select(Kiosk).where(Kiosk.token_hash == hash_kiosk_token(token)))
    if kiosk is None or kiosk.revoked_at is not None:
        return None
    return kiosk
