"""What a kiosk may ask over HTTP with its own token: the meetings it may serve.

The browser kiosk (`/kiosk`) pairs with a kiosk token and then lets whoever sets it up pick
the meeting; this route lists the meetings of the kiosk's body that are not closed. It is
authenticated by the kiosk token as a bearer header (`Authorization: Bearer bk_…`), never by
a staff session and never by a query parameter; the gate lets it through to check that here.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel
from sqlalchemy import select

from checkin.accounts.service import kiosk_for_token
from checkin.errors import Unauthorized
from checkin.meetings.attendance import window_state
from checkin.settings import Settings
from checkin.web.deps import SessionDep, bearer
from models import Body, Meeting, MeetingState, utcnow

router = APIRouter(prefix="/api/kiosk", tags=["kiosk"])
KIOSK_ROUTES = frozenset({("GET", "/api/kiosk/meetings")})  # the gate's exception


class KioskMeeting(BaseModel):
    id: int
    title: str
    starts_at: datetime
    state: str
    window_open: bool


class KioskMeetings(BaseModel):
    kiosk: str
    body: str | None
    meetings: list[KioskMeeting]
    # How the page checks its exit PIN: SHA-256 (hex) of "baodao-kiosk-exit:" + the PIN
    # (BAODAO_KIOSK_EXIT_PIN), or "token" when no PIN is set and the page asks for the token.
    exit: Literal["pin", "token"]
    exit_pin_sha256: str | None = None


def exit_pin_digest(pin: str) -> str:
    """The digest the page compares a typed PIN with (it never receives the PIN itself)."""
    return hashlib.sha256(f"baodao-kiosk-exit:{pin}".encode()).hexdigest()


@router.get("/meetings", responses={401: {"description": "no, bad or revoked kiosk token"}})
def kiosk_meetings(request: Request, session: SessionDep) -> KioskMeetings:
    """The meetings this kiosk may serve: its body's meetings that are not closed, newest first."""
    token = bearer(request.headers)
    kiosk = kiosk_for_token(session, token) if token else None
    if kiosk is None:
        raise Unauthorized("终端令牌无效或已吊销 (bad or revoked kiosk token)")
    settings: Settings = request.app.state.settings
    body = session.get(Body, kiosk.body_id) if kiosk.body_id is not None else None
    meetings = (
        session.scalars(
            select(Meeting)
            .where(Meeting.body_id == kiosk.body_id, Meeting.state != MeetingState.CLOSED)
            .order_by(Meeting.starts_at.desc(), Meeting.id.desc())
        ).all()
        if body is not None
        else []
    )
    now = utcnow()
    pin = settings.kiosk_exit_pin
    return KioskMeetings(
        kiosk=kiosk.name,
        body=body.name if body is not None else None,
        meetings=[
            KioskMeeting(
                id=m.id,
                title=m.title,
                starts_at=m.starts_at,
                state=m.state.value,
                window_open=m.state is MeetingState.OPEN and window_state(m, now) == "open",
            )
            for m in meetings
        ],
        exit="pin" if pin is not None else "token",
        exit_pin_sha256=exit_pin_digest(pin.get_secret_value()) if pin is not None else None,
    )
