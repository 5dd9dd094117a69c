"""FastAPI dependencies: the request's database session, the logged-in user, role checks."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from checkin.errors import Forbidden, Unauthorized
from models import Role, User
from models.db import session_scope

SESSION_COOKIE = "baodao_session"


def get_session(request: Request) -> Iterator[Session]:
    """A request-scoped session; commits when the route returns without error."""
    with session_scope(request.app.state.sessions) as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]


def _token_from(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip()
    return request.cookies.get(SESSION_COOKIE)


def current_user(request: Request, session: SessionDep) -> User:
    token = _token_from(request)
    uid = request.app.state.signer.user_id(token) if token else None
    user = session.get(User, uid) if uid is not None else None
    if user is None or not user.active:
        raise Unauthorized("请先登录 (login required)")
    return user


CurrentUser = Annotated[User, Depends(current_user)]


@dataclass(frozen=True)
class RoleCheck:
    """A dependency that admits only the given roles; `roles` is readable by tests."""

    roles: frozenset[Role]

    def __call__(self, user: CurrentUser) -> User:
        if user.role not in self.roles:
            raise Forbidden(f"需要权限 (requires role {' or '.join(sorted(self.roles))})")
        return user


def require_roles(*roles: Role) -> Callable[..., User]:
    return RoleCheck(frozenset(roles))


AdminUser = Annotated[User, Depends(require_roles(Role.ADMIN))]
StaffUser = Annotated[User, Depends(require_roles(Role.ADMIN, Role.SECRETARIAT))]
