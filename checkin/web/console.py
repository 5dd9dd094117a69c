"""The web console (Simplified Chinese): 代表管理, 批量导入, 会议机构, 新建会议, 签到终端, 账号.

Each page is a shell rendered here with the bodies of the account's scope; its script
(`static/console.js`) does the work through the REST API, which enforces role and scope
(checkin.accounts.scope) — the pages only save clicks. Pages answer a logged-out visitor
with the redirect to /login and a secretariat account on an admin page with 403.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from checkin.accounts.scope import scope_of
from checkin.meetings import service
from checkin.web.pages import _page, _staff, console_nav
from models import Role

router = APIRouter(include_in_schema=False)

ROLE_LABELS = {Role.ADMIN: "管理员", Role.SECRETARIAT: "秘书处"}


def _console(request: Request, template: str, page: str, *, admin: bool = True) -> Response:
    user = _staff(request)
    if isinstance(user, RedirectResponse):
        return user
    if admin and user.role is not Role.ADMIN:
        return HTMLResponse("<h1>需要管理员权限</h1><p><a href='/meetings'>返回</a></p>", 403)
    with request.app.state.sessions() as session:
        scope = scope_of(session, user)
        bodies: list[dict[str, Any]] = [
            {"id": b.id, "name": b.name, "kind": b.kind.value, "parent_id": b.parent_id, "depth": d}
            for b, d in service.body_paths(service.get_all_bodies(session, scope=scope))
        ]
    context: dict[str, Any] = {
        "user": user,
        "role_label": ROLE_LABELS[user.role],
        "scope_label": "全部会议机构"
        if scope.whole_tree
        else "、".join(b["name"] for b in bodies if b["depth"] == 0),
        "nav": console_nav(user),
        "here": request.url.path,
        "page": page,
        "bodies": bodies,
        "whole_tree": scope.whole_tree,
    }
    return _page(request, template, context)


@router.get("/console")
def console_home(request: Request) -> RedirectResponse:
    user = _staff(request)
    if isinstance(user, RedirectResponse):
        return user
    home = "/console/deputies" if user.role is Role.ADMIN else "/console/meetings/new"
    return RedirectResponse(home, status_code=303)


@router.get("/console/deputies")
def deputies_page(request: Request) -> Response:
    """代表管理: list, search, filter; add, edit, move, retire; photos; delete face data."""
    return _console(request, "console_deputies.html", "deputies")


@router.get("/console/import")
def import_page(request: Request) -> Response:
    """批量导入: roster + ZIP of photos, progress, per-row results, error report, look-alikes."""
    return _console(request, "console_import.html", "import")


@router.get("/console/bodies")
def bodies_page(request: Request) -> Response:
    """会议机构: the body tree and creating bodies."""
    return _console(request, "console_bodies.html", "bodies")


@router.get("/console/meetings/new")
def new_meeting_page(request: Request) -> Response:
    """新建会议: window, quorum rule, roster preview; then 列席 / staff."""
    return _console(request, "console_meeting.html", "meeting", admin=False)


@router.get("/console/kiosks")
def kiosks_page(request: Request) -> Response:
    """签到终端: register (token and QR code shown once), revoke, online status."""
    return _console(request, "console_kiosks.html", "kiosks")


@router.get("/console/accounts")
def accounts_page(request: Request) -> Response:
    """账号: accounts, roles, scopes, reset password, deactivate."""
    return _console(request, "console_accounts.html", "accounts")
