"""Login, logout, password change, staff accounts and kiosk registration."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request, Response
from pydantic import BaseModel, Field
from sqlalchemy import select

from checkin import audit
from checkin.accounts import service as accounts
from checkin.accounts.service import LoginPolicy
from checkin.accounts.throttle import AddressThrottle
from checkin.errors import InvalidInput, TooManyAttempts, Unauthorized
from checkin.protocol import Int64
from checkin.settings import Settings
from checkin.web.deps import (
    SESSION_COOKIE,
    AdminUser,
    CurrentUser,
    SessionDep,
    session_token,
)
from models import Kiosk, Role, User
from models.db import session_scope

router = APIRouter(prefix="/api", tags=["accounts"])


class UserRead(BaseModel):
    id: int
    username: str
    role: Role
    active: bool
    must_change_password: bool


class UserCreate(BaseModel):
    username: str = Field(min_length=1, max_length=80)
    password: str = Field(min_length=accounts.PASSWORD_MIN_CHARS, max_length=200)
    role: Role


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


class KioskCreated(KioskRead):
    token: str


def _user_read(user: User) -> UserRead:
    return UserRead(
        id=user.id,
        username=user.username,
        role=user.role,
        active=user.active,
        must_change_password=user.must_change_password,
    )


def _kiosk_read(k: Kiosk) -> KioskRead:
    return KioskRead(
        id=k.id, name=k.name, venue=k.venue, body_id=k.body_id, revoked=k.revoked_at is not None
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
def me(user: CurrentUser) -> UserRead:
    return _user_read(user)


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
def list_users(_: AdminUser, session: SessionDep) -> list[UserRead]:
    return [_user_read(u) for u in accounts.get_all_users(session)]


@router.post("/users", status_code=201)
def create_user(body: UserCreate, admin: AdminUser, session: SessionDep) -> UserRead:
    """A new staff account; its owner must change the password at the first login."""
    user = accounts.create_user(
        session,
        username=body.username,
        password=body.password,
        role=body.role,
        must_change_password=True,
    )
    audit.record(
        session,
        actor=_actor(admin),
        action="user.create",
        detail={"username": user.username, "role": user.role.value},
    )
    return _user_read(user)


@router.post("/users/{user_id}/deactivate")
def deactivate_user(user_id: Int64, admin: AdminUser, session: SessionDep) -> UserRead:
    """Deactivate an account and revoke its tokens (409 for the last active admin)."""
    user = accounts.get_user(session, user_id)
    accounts.set_active(session, user=user, active=False, actor=_actor(admin))
    return _user_read(user)


@router.post("/users/{user_id}/activate")
def activate_user(user_id: Int64, admin: AdminUser, session: SessionDep) -> UserRead:
    user = accounts.get_user(session, user_id)
    accounts.set_active(session, user=user, active=True, actor=_actor(admin))
    return _user_read(user)


@router.post("/users/{user_id}/reset-password")
def reset_password(user_id: Int64, admin: AdminUser, session: SessionDep) -> PasswordReset:
    """A temporary password (in this answer only); the owner must change it at next login."""
    user = accounts.get_user(session, user_id)
    password = accounts.reset_password(session, user=user, actor=_actor(admin))
    return PasswordReset(user=_user_read(user), password=password)


@router.get("/kiosks")
def list_kiosks(_: AdminUser, session: SessionDep) -> list[KioskRead]:
    return [_kiosk_read(k) for k in session.scalars(select(Kiosk).order_by(Kiosk.id))]


@router.post("/kiosks", status_code=201)
def register_kiosk(body: KioskCreate, admin: AdminUser, session: SessionDep) -> KioskCreated:
    """Register a kiosk; the token is in this response only."""
    kiosk, token = accounts.register_kiosk(
        session, name=body.name, body_id=body.body_id, venue=body.venue
    )
    audit.record(
        session,
        actor=_actor(admin),
        action="kiosk.register",
        detail={"kiosk": kiosk.name, "body_id": kiosk.body_id},
    )
    return KioskCreated(**_kiosk_read(kiosk).model_dump(), token=token)


@router.patch("/kiosks/{name}")
def bind_kiosk(name: str, body: KioskUpdate, admin: AdminUser, session: SessionDep) -> KioskRead:
    """Bind a kiosk to the body whose meetings it serves (open connections end at their
    next frame if the new body does not hold their meeting)."""
    kiosk = accounts.bind_kiosk(session, name=name, body_id=body.body_id)
    audit.record(
        session,
        actor=audit.Actor(admin.username, user_id=admin.id),
        action="kiosk.bind",
        detail={"kiosk": kiosk.name, "body_id": kiosk.body_id},
    )
    return _kiosk_read(kiosk)


@router.delete("/kiosks/{name}")
def revoke_kiosk(name: str, admin: AdminUser, session: SessionDep) -> KioskRead:
    kiosk = accounts.revoke_kiosk(session, name=name)
    audit.record(
        session,
        actor=_actor(admin),
        action="kiosk.revoke",
        detail={"kiosk": kiosk.name},
    )
    return _kiosk_read(kiosk)
