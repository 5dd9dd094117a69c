"""FastAPI dependencies: the request's database session, the logged-in user, role checks."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from checkin.accounts.scope import Scope, scope_of
from checkin.accounts.service import user_for_token
from checkin.errors import Forbidden, Unauthorized
from models import Role, User
from models.db import session_scope

SESSION_COOKIE = "baodao_session"
CSRF_HEADER = "x-csrf-token"


def get_session(request: Request) -> Iterator[Session]:
    """A request-scoped session; commits when the route returns without error."""
    with session_scope(request.app.state.sessions) as session:
        yield session


# scope="function": the commit happens before the response is sent, so a failed commit (a
# unique constraint lost to a concurrent request) is answered, not hidden behind a 200.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]


def bearer(headers: Mapping[str, str]) -> str | None:
    """The token of an `Authorization: Bearer` header."""
    value = headers.get("authorization", "")
    return (value[7:].strip() or None) if value.lower().startswith("bearer ") else None


def session_token(request: Request) -> str | None:
    """The request's session token: bearer header first, else the session cookie."""
    return bearer(request.headers) or request.cookies.get(SESSION_COOKIE) or None


def current_user(request: Request, session: SessionDep) -> User:
    user = user_for_token(session, request.app.state.signer, session_token(request))
    if user is None:
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


def current_scope(user: CurrentUser, session: SessionDep) -> Scope:
    """The logged-in account's scope (read per request), for every service call."""
    return scope_of(session, user)


ScopeDep = Annotated[Scope, Depends(current_scope)]
