"""Kiosks and meetings: which kiosk may check people in where, and when its clock is believed.

- `kiosk_may_serve` is the one binding rule (a kiosk serves its own body's meetings).
- `standing` re-checks a kiosk connection (token, binding, newest connection, meeting state);
  the socket calls it at hello and before every frame, the recorder inside the transaction.
- `begin_connection` / `end_connection` keep, per kiosk, when its latest connection ended;
  the gap up to the next connection is the kiosk's `Outage`.
- `checkin_time` decides the time a check-in is recorded at: a buffered frame's capture
  time only when it lies inside that outage, the arrival time otherwise.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import or_, update
from sqlalchemy.orm import Session

from checkin.errors import BaodaoError
from models import Kiosk, Meeting, MeetingState


class Refusal(StrEnum):
    """Why a kiosk connection must end (the socket maps each to a close code)."""

    BAD_TOKEN = "bad_token"  # unknown or revoked token
    NOT_BOUND = "not_bound"  # no body, or another body than the meeting's
    REPLACED = "replaced"  # a newer connection with the same token
    UNKNOWN_MEETING = "unknown_meeting"  # no such meeting, or closed


@dataclass(frozen=True)
class Refused:
    kind: Refusal
    message: str


class KioskRefused(BaodaoError):
    """A kiosk connection must end now (raised by the frame pipeline, closed by the socket)."""

    code = "kiosk_refused"

    def __init__(self, refused: Refused) -> None:
        super().__init__(refused.message, code=refused.kind.value)
        self.refused = refused


def kiosk_may_serve(kiosk: Kiosk, meeting: Meeting) -> bool:
    """The binding rule: a kiosk checks people in only at meetings of the body it serves.

    Kiosks registered before binding existed (no body) serve nothing until bound.
    """
    return kiosk.body_id is not None and kiosk.body_id == meeting.body_id


def judge(
    kiosk: Kiosk | None, meeting: Meeting | None, *, connection: str | None = None
) -> Refused | None:
    """None when this kiosk (connection) may go on serving this meeting; else why not.

    A draft meeting is served (the kiosk may be set up before the window opens) but
    records no face check-in (see `attendance.record_attendance`).
    """
    if kiosk is None or kiosk.revoked_at is not None:
        return Refused(Refusal.BAD_TOKEN, "bad or revoked kiosk token")
    if connection is not None and kiosk.connection != connection:
        return Refused(Refusal.REPLACED, "replaced by a newer connection of this kiosk")
    if meeting is None:
        return Refused(Refusal.UNKNOWN_MEETING, "unknown or closed meeting")
    if meeting.state is MeetingState.CLOSED:
        return Refused(Refusal.UNKNOWN_MEETING, f"meeting {meeting.id} is closed (会议已结束签到)")
    if not kiosk_may_serve(kiosk, meeting):
        if kiosk.body_id is None:
            return Refused(
                Refusal.NOT_BOUND,
                f"kiosk {kiosk.name} is not bound to a body: run `baodao kiosk bind "
                f"{kiosk.name} --body …` (签到终端未绑定会议机构)",
            )
        return Refused(
            Refusal.NOT_BOUND,
            f"kiosk {kiosk.name} does not serve meeting {meeting.id}'s body (终端不属于本会议机构)",
        )
    return None


def standing(
    session: Session, *, kiosk_id: int, meeting_id: int, connection: str | None
) -> Refused | None:
    """`judge` from the database as it is now (two primary-key reads)."""
    return judge(
        session.get(Kiosk, kiosk_id), session.get(Meeting, meeting_id), connection=connection
    )


@dataclass(frozen=True)
class Outage:
    """When a kiosk was away from the server before this connection: from `start` to `end`."""

    start: datetime  # end of its previous connection (never before it was last seen)
    end: datetime  # start of this connection

    def __contains__(self, at: datetime) -> bool:
        return self.start <= at <= self.end


def begin_connection(kiosk: Kiosk, *, at: datetime, since: datetime | None = None) -> Outage:
    """Start a connection of `kiosk` at `at` (the caller commits); returns its outage.

    `since` is the last message of a connection this one replaces, if known. The new
    connection id makes any older connection of this kiosk refuse its next frame.
    """
    known = [kiosk.created_at, kiosk.disconnected_at, kiosk.last_seen_at, since]
    start = max(t for t in known if t is not None)
    kiosk.connection = secrets.token_hex(16)
    kiosk.last_seen_at = at
    return Outage(min(start, at), at)


def end_connection(session: Session, *, kiosk_id: int, last_message_at: datetime) -> None:
    """Record the end of a connection: the time of the last message received on it.

    Only moves the time forward, so an older connection ending late cannot widen the next
    outage.
    """
    for column in (Kiosk.disconnected_at, Kiosk.last_seen_at):
        session.execute(
            update(Kiosk)
            .where(Kiosk.id == kiosk_id, or_(column.is_(None), column < last_message_at))
            .values({column: last_message_at})
        )


def touch(session: Session, *, kiosk_id: int, at: datetime) -> None:
    """Note that the kiosk was seen at `at` (forward only)."""
    session.execute(
        update(Kiosk)
        .where(Kiosk.id == kiosk_id, or_(Kiosk.last_seen_at.is_(None), Kiosk.last_seen_at < at))
        .values(last_seen_at=at)
    )


class TimeSource(StrEnum):
    SERVER = "server"  # a live frame: the server's clock when it was processed
    CAPTURE = "capture"  # a buffered frame captured inside the kiosk's outage
    ARRIVAL = "arrival"  # a buffered frame whose capture time cannot be believed


@dataclass(frozen=True)
class CheckinTime:
    """The time a face check-in is recorded at, and why (stored with the evidence)."""

    at: datetime
    source: TimeSource
    note: str | None = None


def checkin_time(
    captured_at: datetime, *, buffered: bool, outage: Outage | None, now: datetime
) -> CheckinTime:
    """When a frame's check-in counts.

    Args:
        captured_at: the time the kiosk says it captured the frame.
        buffered: the kiosk says the frame was captured while it was offline.
        outage: the kiosk's outage before this connection (None: unknown, trust nothing).
        now: the server's time when the frame is processed.

    Returns:
        Live frames: `now`. Buffered frames: `captured_at` when it lies inside the outage
        (after the end of the kiosk's previous connection, before this one began, so never
        in the future); otherwise `now`, the arrival time, with a note saying why. Whether
        that time lies in the meeting's window is `record_attendance`'s question.
    """
    if not buffered:
        return CheckinTime(now, TimeSource.SERVER)
    if outage is not None and captured_at in outage:
        return CheckinTime(captured_at, TimeSource.CAPTURE)
    if outage is not None and captured_at < outage.start:
        note = "captured_at before the kiosk's outage began (the kiosk was online then)"
    else:
        note = "captured_at after this connection began (or in the future)"
    return CheckinTime(now, TimeSource.ARRIVAL, note)
