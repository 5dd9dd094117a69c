"""Login, logout, password change, staff accounts and kiosk registration."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Form, Request, Response
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from checkin import audit
from checkin.accounts import service as accounts
from checkin.accounts.scope import granted_bodies
from checkin.accounts.service import LoginPolicy
from checkin.accounts.throttle import AddressThrottle
from checkin.errors import InvalidInput, TooManyAttempts, Unauthorized
from checkin.protocol import Int64
from checkin.settings import Settings
from checkin.web.deps import (
    SESSION_COOKIE,
    AdminUser,
    CurrentUser,
    ScopeDep,
    SessionDep,
    session_token,
)
from models import Kiosk, Role, User, utcnow
from models.db import session_scope

router = APIRouter(prefix="/api", tags=["accounts"])


class UserRead(BaseModel):
    id: int
    username: str
    role: Role
    active: bool
    must_change_password: bool
    all_bodies: bool = True  # the whole body tree
    body_ids: list[int] = []  # else these bodies (and their descendants)


class UserCreate(BaseModel):
    username: str = Field(min_length=1, max_length=80)
    password: str = Field(min_length=accounts.PASSWORD_MIN_CHARS, max_length=200)
    role: Role
    # None: the whole tree (only an admin with the whole tree may grant it)
    body_ids: list[Int64] | None = None


class ScopeUpdate(BaseModel):
    body_ids: list[Int64] | None = None  # None: the whole tree


class LoginRead(BaseModel):
    token: str
    csrf_token: str  # send as X-CSRF-Token with writes authenticated by the cookie
    user: UserRead


class PasswordChange(BaseModel):
    old_password: str = Field(min_length=1, max_length=200)
    new_password: str = Field(min_length=1, max_length=200)


class PasswordReset(BaseModel):
    user: UserRead
    password: str  # temporary: shown once, must be changed at the next login


class KioskCreate(BaseModel):
    name: str = Field(min_length=1, max_length=80)
    body_id: Int64 = Field(ge=1, description="the body whose meetings it serves")
    venue: str | None = Field(None, max_length=200)


class KioskUpdate(BaseModel):
    body_id: Int64 = Field(ge=1)


class KioskRead(BaseModel):
    id: int
    name: str
    venue: str | None
    body_id: int | None  # None: registered before binding; refused until bound
    revoked: bool
    online: bool = False  # a connection is open and was heard from in the last minute
    last_seen_at: datetime | None = None  # its last message (frame, ping) received


class KioskCreated(KioskRead):
    token: str
    pair_url: str  # `<server>/kiosk#pair=<token>`: what the QR code holds, for the browser kiosk
    qr_svg: str  # that URL as a QR code (SVG), shown once with the token


def pairing_qr(url: str) -> str:
    """The pairing URL as an SVG QR code (error correction M, quiet zone kept)."""
    import qrcode
    import qrcode.image.svg

    qr = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=4)
    qr.add_data(url)
    qr.make(fit=True)
    img = qr.make_image(image_factory=qrcode.image.svg.SvgPathImage)
    text: str = img.to_string(encoding="unicode")
    return text[text.index("<svg") :]


def _user_read(user: User, session: Session | None = None) -> UserRead:
    granted = granted_bodies(session, user.id) if session is not None else []
    return UserRead(
        id=user.id,
        username=user.username,
        role=user.role,
        active=user.active,
        must_change_password=user.must_change_password,
        all_bodies=user.all_bodies,
        body_ids=[] if user.all_bodies else granted,
    )


ONLINE_WITHIN = timedelta(seconds=60)


def kiosk_online(k: Kiosk, now: datetime | None = None) -> bool:
    """A connection is open (begun after the last one ended) and heard from lately."""
    now = now or utcnow()
    if k.revoked_at is not None or k.last_seen_at is None:
        return False
    open_now = k.disconnected_at is None or k.last_seen_at > k.disconnected_at
    return open_now and now - k.last_seen_at <= ONLINE_WITHIN


def _kiosk_read(k: Kiosk) -> KioskRead:
    return KioskRead(
        id=k.id,
        name=k.name,
        venue=k.venue,
        body_id=k.body_id,
        revoked=k.revoked_at is not None,
        online=kiosk_online(k),
        last_seen_at=k.last_seen_at,
    )


def _actor(user: User) -> audit.Actor:
    return audit.Actor(user.username, user_id=user.id)


def address_throttle(request: Request) -> AddressThrottle:
    """The app's per-address failed-login counter (in memory, created on first use)."""
    state = request.app.state
    throttle: AddressThrottle | None = getattr(state, "login_throttle", None)
    if throttle is None:
        settings: Settings = state.settings
        throttle = state.login_throttle = AddressThrottle(
            max_failures=settings.login_address_max_failures,
            window_s=settings.login_lockout_seconds,
        )
    return throttle


def _login_answer(request: Request, response: Response, user: User) -> LoginRead:
    """A new session token as cookie and in the body."""
    token = request.app.state.signer.issue(user)
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=accounts.TOKEN_MAX_AGE_S,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return LoginRead(
        token=token,
        csrf_token=request.app.state.signer.csrf_token(token),
        user=_user_read(user),
    )


@router.post("/auth/login", responses={429: {"description": "too many wrong passwords"}})
def login(
    request: Request,
    response: Response,
    username: Annotated[str, Form(max_length=200)],
    password: Annotated[str, Form(max_length=200)],
) -> LoginRead:
    """Form login: sets the HttpOnly session cookie and returns a bearer token for scripts.

    Wrong passwords are counted per account (in the database) and per address (in memory):
    past the limits the answer is 429 with Retry-After, even for the right password.
    """
    settings: Settings = request.app.state.settings
    address = request.client.host if request.client else ""
    throttle = address_throttle(request)
    throttle.check(address)
    policy = LoginPolicy(settings.login_max_failures, settings.login_lockout_seconds)
    failure: Unauthorized | TooManyAttempts | None = None
    # Its own transaction: the count of failures is committed although the answer is an error.
    with session_scope(request.app.state.sessions) as session:
        try:
            user = accounts.authenticate(
                session, username=username, password=password, policy=policy, address=address
            )
        except (Unauthorized, TooManyAttempts) as exc:
            failure = exc
        else:
            answer = _login_answer(request, response, user)
    if failure is not None:
        if isinstance(failure, Unauthorized):
            throttle.failed(address)
        raise failure
    throttle.succeeded(address)
    return answer


@router.post("/auth/logout")
def logout(request: Request, response: Response, session: SessionDep) -> dict[str, bool]:
    """End the session: every token of the account stops working, on every device."""
    user = accounts.user_for_token(session, request.app.state.signer, session_token(request))
    if user is not None:
        accounts.revoke_tokens(user)
        audit.record(session, actor=_actor(user), action="auth.logout")
    response.delete_cookie(SESSION_COOKIE)
    return {"ok": True}


@router.get("/auth/me")
def me(user: CurrentUser, session: SessionDep) -> UserRead:
    """The account, with its scope."""
    return _user_read(user, session)


@router.post("/auth/password")
def change_password(
    body: PasswordChange,
    request: Request,
    response: Response,
    user: CurrentUser,
    session: SessionDep,
) -> LoginRead:
    """Change one's own password (≥ 10 characters, not the username).

    Every older token of the account is revoked; the answer carries the new one. Wrong old
    passwords count toward the account's lock like wrong logins (429 when locked).
    """
    settings: Settings = request.app.state.settings
    try:
        accounts.change_password(
            session,
            user=user,
            old=body.old_password,
            new=body.new_password,
            policy=LoginPolicy(settings.login_max_failures, settings.login_lockout_seconds),
            address=request.client.host if request.client else "",
        )
    except (InvalidInput, TooManyAttempts):
        session.commit()  # keep the count of wrong old passwords
        raise
    return _login_answer(request, response, user)


@router.get("/users")
def list_users(_: AdminUser, scope: ScopeDep, session: SessionDep) -> list[UserRead]:
    """The accounts within the admin's scope."""
    return [_user_read(u, session) for u in accounts.get_all_users(session, scope=scope)]


@router.post("/users", status_code=201)
def create_user(
    body: UserCreate, admin: AdminUser, scope: ScopeDep, session: SessionDep
) -> UserRead:
    """A new staff account (its owner must change the password at the first login), with a
    scope no wider than the creating admin's."""
    if body.body_ids is None and not scope.whole_tree:
        raise InvalidInput("请选择账号可管理的会议机构 (choose the account's bodies)")
    user = accounts.create_user(
        session,
        username=body.username,
        password=body.password,
        role=body.role,
        must_change_password=True,
        body_ids=body.body_ids,
        granted_by=scope,
    )
    audit.record(
        session,
        actor=_actor(admin),
        action="user.create",
        detail={"username": user.username, "role": user.role.value, "body_ids": body.body_ids},
    )
    return _user_read(user, session)


@router.put("/users/{user_id}/scope")
def set_user_scope(
    user_id: Int64, body: ScopeUpdate, admin: AdminUser, scope: ScopeDep, session: SessionDep
) -> UserRead:
    """The bodies an account may see and change (null: the whole tree); audited."""
    user = accounts.get_user(session, user_id, scope=scope)
    accounts.change_scope(
        session, user=user, body_ids=body.body_ids, granted_by=scope, actor=_actor(admin)
    )
    return _user_read(user, session)


@router.post("/users/{user_id}/deactivate")
def deactivate_user(
    user_id: Int64, admin: AdminUser, scope: ScopeDep, session: SessionDep
) -> UserRead:
    """Deactivate an account and revoke its tokens (409 for the last active admin)."""
    user = accounts.get_user(session, user_id, scope=scope)
    accounts.set_active(session, user=user, active=False, actor=_actor(admin))
    return _user_read(user, session)


@router.post("/users/{user_id}/activate")
def activate_user(
    user_id: Int64, admin: AdminUser, scope: ScopeDep, session: SessionDep
) -> UserRead:
    user = accounts.get_user(session, user_id, scope=scope)
    accounts.set_active(session, user=user, active=True, actor=_actor(admin))
    return _user_read(user, session)


@router.post("/users/{user_id}/reset-password")
def reset_password(
    user_id: Int64, admin: AdminUser, scope: ScopeDep, session: SessionDep
) -> PasswordReset:
    """A temporary password (in this answer only); the owner must change it at next login."""
    user = accounts.get_user(session, user_id, scope=scope)
    password = accounts.reset_password(session, user=user, actor=_actor(admin))
    return PasswordReset(user=_user_read(user, session), password=password)


@router.get("/kiosks")
def list_kiosks(_: AdminUser, scope: ScopeDep, session: SessionDep) -> list[KioskRead]:
    """The kiosks bound to bodies in the admin's scope, with online status."""
    return [_kiosk_read(k) for k in accounts.get_all_kiosks(session, scope=scope)]


@router.post("/kiosks", status_code=201)
def register_kiosk(
    body: KioskCreate, request: Request, admin: AdminUser, scope: ScopeDep, session: SessionDep
) -> KioskCreated:
    """Register a kiosk for a body in the admin's scope; the token is in this response only."""
    kiosk, token = accounts.register_kiosk(
        session, name=body.name, body_id=body.body_id, venue=body.venue, scope=scope
    )
    audit.record(
        session,
        actor=_actor(admin),
        action="kiosk.register",
        detail={"kiosk": kiosk.name, "body_id": kiosk.body_id},
    )
    url = f"{str(request.base_url).rstrip('/')}/kiosk#pair={token}"
    return KioskCreated(
        **_kiosk_read(kiosk).model_dump(), token=token, pair_url=url, qr_svg=pairing_qr(url)
    )


@router.patch("/kiosks/{name}")
def bind_kiosk(
    name: str, body: KioskUpdate, admin: AdminUser, scope: ScopeDep, session: SessionDep
) -> KioskRead:
    """Bind a kiosk to the body whose meetings it serves (open connections end at their
    next frame if the new body does not hold their meeting)."""
    kiosk = accounts.bind_kiosk(session, name=name, body_id=body.body_id, scope=scope)
    audit.record(
        session,
        actor=audit.Actor(admin.username, user_id=admin.id),
        action="kiosk.bind",
        detail={"kiosk": kiosk.name, "body_id": kiosk.body_id},
    )
    return _kiosk_read(kiosk)


@router.delete("/kiosks/{name}")
def revoke_kiosk(name: str, admin: AdminUser, scope: ScopeDep, session: SessionDep) -> KioskRead:
    kiosk = accounts.revoke_kiosk(session, name=name, scope=scope)
    audit.record(
        session,
        actor=_actor(admin),
        action="kiosk.revoke",
        detail={"kiosk": kiosk.name},
    )
    return _kiosk_read(kiosk)
