"""Login, logout, staff accounts and kiosk registration."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request, Response
from pydantic import BaseModel, Field
from sqlalchemy import select

from checkin import audit
from checkin.accounts import service as accounts
from checkin.web.deps import SESSION_COOKIE, AdminUser, CurrentUser, SessionDep
from models import Kiosk, Role, User

router = APIRouter(prefix="/api", tags=["accounts"])


class UserRead(BaseModel):
    id: int
    username: str
    role: Role
    active: bool


class UserCreate(BaseModel):
    username: str = Field(min_length=1, max_length=80)
    password: str = Field(min_length=8, max_length=200)
    role: Role


class LoginRead(BaseModel):
    token: str
    user: UserRead


class KioskCreate(BaseModel):
    name: str = Field(min_length=1, max_length=80)
    body_id: int = Field(ge=1, le=2**31 - 1, description="the body whose meetings it serves")
    venue: str | None = None


class KioskUpdate(BaseModel):
    body_id: int = Field(ge=1, le=2**31 - 1)


class KioskRead(BaseModel):
    id: int
    name: str
    venue: str | None
    body_id: int | None  # None: registered before binding; refused until bound
    revoked: bool


class KioskCreated(KioskRead):
    token: str


def _user_read(user: User) -> UserRead:
    return UserRead(id=user.id, username=user.username, role=user.role, active=user.active)


def _kiosk_read(k: Kiosk) -> KioskRead:
    return KioskRead(
        id=k.id, name=k.name, venue=k.venue, body_id=k.body_id, revoked=k.revoked_at is not None
    )


@router.post("/auth/login")
def login(
    request: Request,
    response: Response,
    session: SessionDep,
    username: Annotated[str, Form()],
    password: Annotated[str, Form()],
) -> LoginRead:
    """Form login: sets the HttpOnly session cookie and returns a bearer token for scripts."""
    user = accounts.authenticate(session, username=username, password=password)
    token = request.app.state.signer.issue(user)
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=accounts.TOKEN_MAX_AGE_S,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return LoginRead(token=token, user=_user_read(user))


@router.post("/auth/logout")
def logout(response: Response) -> dict[str, bool]:
    response.delete_cookie(SESSION_COOKIE)
    return {"ok": True}


@router.get("/auth/me")
def me(user: CurrentUser) -> UserRead:
    return _user_read(user)


@router.get("/users")
def list_users(_: AdminUser, session: SessionDep) -> list[UserRead]:
    return [_user_read(u) for u in session.scalars(select(User).order_by(User.id))]


@router.post("/users", status_code=201)
def create_user(body: UserCreate, admin: AdminUser, session: SessionDep) -> UserRead:
    user = accounts.create_user(
        session, username=body.username, password=body.password, role=body.role
    )
    audit.record(
        session,
        actor=audit.Actor(admin.username, user_id=admin.id),
        action="user.create",
        detail={"username": user.username, "role": user.role.value},
    )
    return _user_read(user)


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
        actor=audit.Actor(admin.username, user_id=admin.id),
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
        actor=audit.Actor(admin.username, user_id=admin.id),
        action="kiosk.revoke",
        detail={"kiosk": kiosk.name},
    )
    return _kiosk_read(kiosk)
