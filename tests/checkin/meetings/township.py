"""A township term built through the services: 43 deputies, 3 sessions × 2 plenaries.

The script of who did what is written out in SCRIPT below, so the tests can state their
expectations by hand from it. T042 retires on 2025-12-31 (after the third session's meetings
were created: on their rosters, outside the mandate); T043 is elected in a by-election on
2025-06-01 (after the first session: on no roster of it).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from checkin.accounts.scope import Scope
from checkin.audit import Actor
from checkin.meetings import service, terms
from checkin.meetings.attendance import record_attendance
from enrollment.service import retire
from models import Body, CheckinMethod, Deputy, Meeting

ZONE = "Asia/Shanghai"
TZ = ZoneInfo(ZONE)
CLERK = Actor("clerk")
KIOSK = Actor("kiosk-1")
BODY = "青山镇人民代表大会"
AS_OF = datetime(2026, 6, 1, tzinfo=TZ)
RETIRED, ELECTED = "T042", "T043"
RETIRED_AT = datetime(2025, 12, 31, tzinfo=TZ)
ELECTED_AT = datetime(2025, 6, 1, tzinfo=TZ)
# (session number, first day, plenary start times on that day and the next)
SESSIONS = [
    (1, date(2025, 3, 10), ["09:00", "14:30"]),
    (2, date(2025, 9, 15), ["09:00", "09:00+1"]),
    (3, date(2026, 3, 9), ["09:00", "14:30"]),
]
# meeting key -> {deputy: what happened}; everyone else on the roster checks in on time.
# absent: nothing; leave:R; manual:R; late (face, 20 minutes after the start);
# left (on time, then 中途退场 at 10:30); undone (checked in, then the check-in undone)
SCRIPT: dict[str, dict[str, str]] = {
    "1-1": {
        "T001": "absent",
        "T002": "absent",
        "T003": "absent",
        "T006": "manual:戴口罩未识别",
        RETIRED: "absent",
    },
    "1-2": {"T001": "absent", "T002": "absent", "T003": "late", "T006": "left"},
    "2-1": {
        "T002": "absent",
        "T004": "leave:出国考察",
        "T005": "leave:住院治疗",
        "T007": "late",
        ELECTED: "absent",
    },
    "2-2": {"T002": "absent", "T004": "leave:出国考察", "T005": "absent", ELECTED: "absent"},
    "3-1": {"T003": "absent", "T008": "undone", RETIRED: "absent"},
    "3-2": {"T003": "absent", RETIRED: "absent"},
}


@dataclass
class Township:
    body_id: int
    term_id: int
    session_ids: list[int]
    meetings: dict[str, int]  # "2-1" -> meeting id
    numbers: list[str]


def _deputy(session: Session, body: Body, i: int) -> Deputy:
    d = Deputy(
        number=f"T{i:03}", name=f"代表{i:02}", unit=f"青山镇第{i % 7 + 1}村", body_id=body.id
    )
    session.add(d)
    session.flush()
    return d


def _at(day: date, hhmm: str) -> datetime:
    hhmm, _, plus = hhmm.partition("+")
    h, m = map(int, hhmm.split(":"))
    return datetime(day.year, day.month, day.day, h, m, tzinfo=TZ) + timedelta(days=int(plus or 0))


def _play(session: Session, meeting: Meeting, script: dict[str, str]) -> None:
    start = meeting.starts_at
    service.open_window(session, meeting=meeting, actor=CLERK, at=start - timedelta(hours=1))
    for entry in meeting_roster(session, meeting):
        number = entry.number
        what, _, reason = script.get(number, "present").partition(":")
        if what == "absent":
            continue
        if what == "leave":
            service.set_leave(
                session, meeting=meeting, deputy_id=entry.id, reason=reason, actor=CLERK
            )
            continue
        if what == "manual":
            service.manual_checkin(
                session,
                meeting=meeting,
                deputy_id=entry.id,
                reason=reason,
                actor=CLERK,
                at=start - timedelta(minutes=5),
            )
            continue
        at = start + timedelta(minutes=20) if what == "late" else start - timedelta(minutes=10)
        record_attendance(
            session,
            meeting=meeting,
            deputy_id=entry.id,
            at=at,
            method=CheckinMethod.FACE,
            actor=KIOSK,
            evidence={"distance": 0.3},
        )
        if what == "left":
            service.mark_departure(
                session,
                meeting=meeting,
                deputy_id=entry.id,
                actor=CLERK,
                at=start + timedelta(minutes=90),
            )
        if what == "undone":
            service.undo_checkin(
                session, meeting=meeting, deputy_id=entry.id, reason="误识别", actor=CLERK
            )
    service.close_window(session, meeting=meeting, actor=CLERK, at=start + timedelta(hours=3))


def meeting_roster(session: Session, meeting: Meeting) -> list[Deputy]:
    from checkin.meetings.status import roster_lines

    return [ln.person for ln in roster_lines(session, meeting.id)]


def build(session: Session) -> Township:
    """The township term, every change through the services (the caller commits)."""
    body = service.create_body(session, name=BODY, actor=CLERK, scope=Scope.everything())
    for i in range(1, 43):
        _deputy(session, body, i)
    term = terms.create_term(
        session,
        body_id=body.id,
        number=18,
        starts_on=date(2025, 1, 1),
        ends_on=date(2029, 12, 31),
        actor=CLERK,
        scope=Scope.everything(),
    )
    meetings: dict[str, int] = {}
    session_ids = []
    for number, day, times in SESSIONS:
        if number == 2:  # the by-election happened before the second session
            elected = _deputy(session, body, 43)
            terms.update_mandate(session, deputy=elected, elected_at=ELECTED_AT, actor=CLERK)
        cs = terms.create_session(
            session,
            term_id=term.id,
            number=number,
            starts_on=day,
            ends_on=day + timedelta(days=1),
            actor=CLERK,
            scope=Scope.everything(),
        )
        session_ids.append(cs.id)
        for p, hhmm in enumerate(times, start=1):
            start = _at(day, hhmm)
            m = service.create_meeting(
                session,
                body_id=body.id,
                title=f"第{terms.chinese_numeral(p)}次全体会议",
                starts_at=start,
                window_opens_at=start - timedelta(hours=1),
                actor=CLERK,
                scope=Scope.everything(),
            )
            terms.attach_meeting(
                session,
                congress_session_id=cs.id,
                meeting_id=m.id,
                zone=ZONE,
                actor=CLERK,
                scope=Scope.everything(),
            )
            meetings[f"{number}-{p}"] = m.id
        if number == 3:  # retired after the meetings were set up, effective 2025-12-31
            retire(session, number=RETIRED, actor=CLERK, at=RETIRED_AT, scope=Scope.everything())
        for p in range(1, len(times) + 1):
            key = f"{number}-{p}"
            m = service.get_meeting(session, meetings[key], scope=Scope.everything())
            _play(session, m, SCRIPT[key])
    session.flush()
    return Township(
        body_id=body.id,
        term_id=term.id,
        session_ids=session_ids,
        meetings=meetings,
        numbers=[f"T{i:03}" for i in range(1, 44)],
    )
