"""Secretariat services: bodies, meetings, rosters, window, leave, make-up, undo, departure.

Every change is audited in the caller's transaction; the caller commits, then publishes
MeetingChanged (routes do it, the CLI does it through Redis when configured).

Every read and write takes the caller's `Scope` (checkin.accounts.scope): a body, meeting or
person outside it is NotFound. Functions taking a `Meeting` rely on it having been read
through `get_meeting` with the caller's scope.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from checkin import audit
from checkin.accounts.scope import Scope
from checkin.errors import Conflict, InvalidInput, NotFound
from checkin.meetings.attendance import record_attendance, undo_attendance
from checkin.meetings.quorum import QuorumRuleError, Rule
from models import (
    Attendance,
    Body,
    BodyKind,
    CheckinMethod,
    Deputy,
    DeputyStatus,
    Meeting,
    MeetingState,
    PersonKind,
    QuorumRule,
    RosterEntry,
    RosterRole,
    utcnow,
)

# --- bodies -------------------------------------------------------------------------


def create_body(
    session: Session,
    *,
    name: str,
    kind: BodyKind = BodyKind.CONGRESS,
    actor: audit.Actor,
    scope: Scope,
    parent_id: int | None = None,
) -> Body:
    """Create a congress or presidium, under `parent_id` (a township congress under the
    county's, a 主席团 under its congress); Conflict if the name is taken.

    Only the whole tree may create a top-level body; others create below a body they cover.
    """
    name = name.strip()
    if not name:
        raise InvalidInput("名称不能为空 (a body needs a name)")
    if parent_id is not None:
        get_body(session, parent_id, scope=scope)
    elif not scope.whole_tree:
        raise InvalidInput("请选择上级会议机构 (a body in your scope must have a parent)")
    if session.scalar(select(Body).where(Body.name == name)) is not None:
        raise Conflict(f"「{name}」已存在 (body already exists)")
    body = Body(name=name, kind=kind, parent_id=parent_id)
    session.add(body)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="body.create",
        detail={"name": name, "kind": kind, "parent_id": parent_id},
    )
    return body


def get_body(session: Session, key: str | int, *, scope: Scope) -> Body:
    """A body by id or by exact name, if the scope covers it."""
    body = None
    if isinstance(key, int) or str(key).isdigit():
        body = session.get(Body, int(key))
    if body is None:
        body = session.scalar(select(Body).where(Body.name == str(key)))
    if body is None or not scope.covers(body.id):
        raise NotFound(f"没有这个会议机构 (no body {key!r})")
    return body


def get_all_bodies(session: Session, *, scope: Scope) -> list[Body]:
    return list(session.scalars(select(Body).where(scope.where(Body.id)).order_by(Body.id)))


def body_paths(bodies: list[Body]) -> list[tuple[Body, int]]:
    """The bodies in tree order (each after its parent), with their depth, for lists."""
    ids = {b.id for b in bodies}
    children: dict[int | None, list[Body]] = {}
    for b in bodies:
        children.setdefault(b.parent_id if b.parent_id in ids else None, []).append(b)
    out: list[tuple[Body, int]] = []

    def walk(parent: int | None, depth: int) -> None:
        for b in children.get(parent, []):
            out.append((b, depth))
            walk(b.id, depth + 1)

    walk(None, 0)
    return out


# --- meetings -----------------------------------------------------------------------


def _rule(kind: QuorumRule | str, numerator: int | None, denominator: int | None) -> Rule:
    try:
        return Rule(QuorumRule(kind).value, numerator, denominator)
    except (QuorumRuleError, ValueError) as exc:
        raise InvalidInput(str(exc)) from None


def create_meeting(
    session: Session,
    *,
    body_id: int,
    title: str,
    starts_at: datetime,
    actor: audit.Actor,
    scope: Scope,
    window_opens_at: datetime | None = None,
    window_closes_at: datetime | None = None,
    rule: QuorumRule | str = QuorumRule.TWO_THIRDS,
    numerator: int | None = None,
    denominator: int | None = None,
    deputy_ids: list[int] | None = None,
) -> Meeting:
    """Create a meeting; the roster is the body's seated deputies unless `deputy_ids` is given
    (each a person the scope covers)."""
    body = get_body(session, body_id, scope=scope)
    if not title.strip():
        raise InvalidInput("会议名称不能为空 (a meeting needs a title)")
    for t in (starts_at, window_opens_at, window_closes_at):
        if t is not None and t.tzinfo is None:
            raise InvalidInput("时间必须带时区 (times need a time zone)")
    if window_opens_at and window_closes_at and window_closes_at <= window_opens_at:
        raise InvalidInput("签到截止时间必须晚于开始时间 (window closes before it opens)")
    r = _rule(rule, numerator, denominator)
    meeting = Meeting(
        body_id=body.id,
        title=title.strip(),
        starts_at=starts_at,
        window_opens_at=window_opens_at,
        window_closes_at=window_closes_at,
        quorum_rule=QuorumRule(r.kind),
        quorum_numerator=r.numerator,
        quorum_denominator=r.denominator,
    )
    session.add(meeting)
    session.flush()
    if deputy_ids is None:
        deputy_ids = list(
            session.scalars(
                select(Deputy.id)
                .where(
                    Deputy.body_id == body.id,
                    Deputy.status == DeputyStatus.SEATED,
                    Deputy.kind == PersonKind.DEPUTY,
                )
                .order_by(Deputy.number)
            )
        )
    else:  # given ids: each must be a person the scope covers (one query)
        wanted = list(dict.fromkeys(deputy_ids))
        found = dict(
            session.execute(select(Deputy.id, Deputy.body_id).where(Deputy.id.in_(wanted))).all()
        )
        for deputy_id in wanted:
            if deputy_id not in found or not scope.covers(found[deputy_id]):
                raise NotFound(f"没有这位代表 (no person {deputy_id!r})")
        deputy_ids = wanted
    session.add_all(RosterEntry(meeting_id=meeting.id, deputy_id=d) for d in deputy_ids)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="meeting.create",
        meeting_id=meeting.id,
        detail={"title": meeting.title, "rule": r.kind, "roster": len(deputy_ids)},
    )
    return meeting


def get_meeting(session: Session, meeting_id: int, *, scope: Scope) -> Meeting:
    """The meeting, if the scope covers its body; NotFound otherwise."""
    meeting = session.get(Meeting, meeting_id)
    if meeting is None or not scope.covers(meeting.body_id):
        raise NotFound(f"没有这个会议 (no meeting {meeting_id})")
    return meeting


def get_all_meetings(session: Session, *, scope: Scope) -> list[Meeting]:
    return list(
        session.scalars(
            select(Meeting)
            .where(scope.where(Meeting.body_id))
            .order_by(Meeting.starts_at.desc(), Meeting.id)
        )
    )


def find_person(session: Session, key: str | int, *, scope: Scope) -> Deputy:
    """A person by database id (int) or by 代表编号 (str), if the scope covers their body."""
    person = (
        session.get(Deputy, key)
        if isinstance(key, int)
        else session.scalar(select(Deputy).where(Deputy.number == key))
    )
    if person is None or not scope.covers(person.body_id):
        raise NotFound(f"没有这位代表 (no person {key!r})")
    return person


def _entry(session: Session, meeting: Meeting, deputy_id: int) -> RosterEntry:
    entry = session.scalar(
        select(RosterEntry).where(
            RosterEntry.meeting_id == meeting.id, RosterEntry.deputy_id == deputy_id
        )
    )
    if entry is None:
        raise NotFound(f"此人不在本次会议名单上 (person {deputy_id} not on the roster)")
    return entry


def _active_attendance(session: Session, meeting: Meeting, deputy_id: int) -> Attendance | None:
    row = session.scalar(
        select(Attendance).where(
            Attendance.meeting_id == meeting.id, Attendance.deputy_id == deputy_id
        )
    )
    return row if row is not None and row.undone_at is None else None


def add_to_roster(
    session: Session,
    *,
    meeting: Meeting,
    deputy_id: int,
    role: RosterRole = RosterRole.DEPUTY,
    actor: audit.Actor,
    scope: Scope,
) -> RosterEntry:
    """Put a person the scope covers on the roster as deputy, 列席 (nonvoting) or staff."""
    find_person(session, deputy_id, scope=scope)
    entry = RosterEntry(meeting_id=meeting.id, deputy_id=deputy_id, role=role)
    try:
        with session.begin_nested():
            session.add(entry)
    except IntegrityError:
        raise Conflict(f"此人已在名单上 (person {deputy_id} already on the roster)") from None
    audit.record(
        session,
        actor=actor,
        action="roster.add",
        meeting_id=meeting.id,
        deputy_id=deputy_id,
        detail={"role": role.value},
    )
    return entry


def resolve_people(
    session: Session, ids: list[int | None], numbers: list[str | None], *, scope: Scope
) -> list[int]:
    """Database ids for pairs (id or 代表编号) in one read each; NotFound names the first
    person unknown or outside `scope`."""
    want_ids = {i for i in ids if i is not None}
    want_numbers = {n.strip() for i, n in zip(ids, numbers, strict=True) if i is None and n}
    known_ids = set(
        session.scalars(
            select(Deputy.id).where(Deputy.id.in_(want_ids), scope.where(Deputy.body_id))
        )
    )
    rows = session.execute(
        select(Deputy.number, Deputy.id).where(
            Deputy.number.in_(want_numbers), scope.where(Deputy.body_id)
        )
    )
    by_number: dict[str, int] = dict(rows.all())
    out: list[int] = []
    for i, n in zip(ids, numbers, strict=True):
        if i is not None:
            if i not in known_ids:
                raise NotFound(f"没有这位代表 (no person {i!r})")
            out.append(i)
        elif n and n.strip() in by_number:
            out.append(by_number[n.strip()])
        else:
            raise NotFound(f"没有这位代表 (no person {n!r})")
    return out


@dataclass(frozen=True)
class BulkResult:
    added: int
    removed: int
    already_on: list[int]
    not_on: list[int]
    roster: int


def bulk_roster(
    session: Session,
    *,
    meeting: Meeting,
    add: list[tuple[int, RosterRole]],
    remove: list[int],
    actor: audit.Actor,
) -> BulkResult:
    """Many roster changes in the caller's transaction: people already on the roster are
    left as they are, people not on it are not removed; removing someone checked in is
    refused (Conflict, nothing changes). Every change is audited."""
    entries = {
        e.deputy_id: e
        for e in session.scalars(select(RosterEntry).where(RosterEntry.meeting_id == meeting.id))
    }
    checked_in = set(
        session.scalars(
            select(Attendance.deputy_id).where(
                Attendance.meeting_id == meeting.id, Attendance.undone_at.is_(None)
            )
        )
    )
    already_on = [pid for pid, _ in add if pid in entries]
    not_on = [pid for pid in remove if pid not in entries]
    busy = [pid for pid in remove if pid in checked_in]
    if busy:
        raise Conflict(
            f"{len(busy)} 人已签到，请先撤销签到 (checked in: undo first; ids {busy[:10]})"
        )
    added = 0
    for pid, role in add:
        if pid in entries:
            continue
        entries[pid] = RosterEntry(meeting_id=meeting.id, deputy_id=pid, role=role)
        session.add(entries[pid])
        audit.record(
            session,
            actor=actor,
            action="roster.add",
            meeting_id=meeting.id,
            deputy_id=pid,
            detail={"role": role.value, "bulk": True},
        )
        added += 1
    removed = 0
    for pid in dict.fromkeys(remove):
        entry = entries.pop(pid, None)
        if entry is None:
            continue
        session.delete(entry)
        audit.record(
            session,
            actor=actor,
            action="roster.remove",
            meeting_id=meeting.id,
            deputy_id=pid,
            detail={"role": entry.role.value, "bulk": True},
        )
        removed += 1
    session.flush()
    return BulkResult(added, removed, already_on, not_on, len(entries))


def remove_from_roster(
    session: Session, *, meeting: Meeting, deputy_id: int, actor: audit.Actor
) -> None:
    """Take a person off the roster; refused once they have checked in (undo first)."""
    entry = _entry(session, meeting, deputy_id)
    if _active_attendance(session, meeting, deputy_id) is not None:
        raise Conflict("此人已签到，请先撤销签到 (checked in: undo the check-in first)")
    session.delete(entry)
    audit.record(
        session,
        actor=actor,
        action="roster.remove",
        meeting_id=meeting.id,
        deputy_id=deputy_id,
        detail={"role": entry.role.value},
    )
    session.flush()


def open_window(
    session: Session, *, meeting: Meeting, actor: audit.Actor, at: datetime | None = None
) -> Meeting:
    """Open the check-in window now (keeps an earlier planned opening, drops a past closing)."""
    at = at or utcnow()
    if meeting.window_opens_at is None or meeting.window_opens_at > at:
        meeting.window_opens_at = at
    if meeting.window_closes_at is not None and meeting.window_closes_at <= at:
        meeting.window_closes_at = None
    meeting.state = MeetingState.OPEN
    audit.record(
        session, actor=actor, action="window.open", meeting_id=meeting.id, detail={"at": str(at)}
    )
    session.flush()
    return meeting


def close_window(
    session: Session, *, meeting: Meeting, actor: audit.Actor, at: datetime | None = None
) -> Meeting:
    """Close the check-in window now; staff can still make up check-ins by hand."""
    at = at or utcnow()
    if meeting.window_opens_at is None or meeting.window_opens_at > at:
        meeting.window_opens_at = at
    meeting.window_closes_at = at
    meeting.state = MeetingState.CLOSED
    audit.record(
        session, actor=actor, action="window.close", meeting_id=meeting.id, detail={"at": str(at)}
    )
    session.flush()
    return meeting


def set_leave(
    session: Session,
    *,
    meeting: Meeting,
    deputy_id: int,
    reason: str | None,
    actor: audit.Actor,
    on_leave: bool = True,
) -> RosterEntry:
    """Register approved leave (reason required) or cancel it."""
    entry = _entry(session, meeting, deputy_id)
    if on_leave and not (reason and reason.strip()):
        raise InvalidInput("请假必须填写原因 (leave needs a reason)")
    entry.on_leave = on_leave
    entry.leave_reason = reason.strip() if on_leave and reason else None
    audit.record(
        session,
        actor=actor,
        action="leave.register" if on_leave else "leave.cancel",
        meeting_id=meeting.id,
        deputy_id=deputy_id,
        detail={"reason": reason},
    )
    session.flush()
    return entry


def manual_checkin(
    session: Session,
    *,
    meeting: Meeting,
    deputy_id: int,
    reason: str,
    actor: audit.Actor,
    at: datetime | None = None,
) -> Attendance:
    """手动补签到 (reason required); Conflict if already checked in."""
    recorded = record_attendance(
        session,
        meeting=meeting,
        deputy_id=deputy_id,
        at=at or utcnow(),
        method=CheckinMethod.MANUAL,
        actor=actor,
        reason=reason.strip() if reason else reason,
    )
    if not recorded.created:
        t = recorded.attendance.checked_in_at
        raise Conflict(f"已于 {t.isoformat(timespec='seconds')} 签到 (already checked in)")
    return recorded.attendance


def undo_checkin(
    session: Session, *, meeting: Meeting, deputy_id: int, reason: str, actor: audit.Actor
) -> Attendance:
    """Undo a check-in (reason required); a departure mark goes with it."""
    row = undo_attendance(session, meeting=meeting, deputy_id=deputy_id, actor=actor, reason=reason)
    _entry(session, meeting, deputy_id).left_at = None
    return row


def mark_departure(
    session: Session,
    *,
    meeting: Meeting,
    deputy_id: int,
    actor: audit.Actor,
    at: datetime | None = None,
    reason: str | None = None,
) -> RosterEntry:
    """中途退场: only someone checked in and still here can leave."""
    entry = _entry(session, meeting, deputy_id)
    if _active_attendance(session, meeting, deputy_id) is None:
        raise Conflict("此人尚未签到 (not checked in)")
    if entry.left_at is not None:
        raise Conflict("此人已退场 (already left)")
    entry.left_at = at or utcnow()
    audit.record(
        session,
        actor=actor,
        action="departure",
        meeting_id=meeting.id,
        deputy_id=deputy_id,
        detail={"at": entry.left_at.isoformat(), "reason": reason},
    )
    session.flush()
    return entry


def mark_return(
    session: Session, *, meeting: Meeting, deputy_id: int, actor: audit.Actor
) -> RosterEntry:
    """A departed person came back: present again."""
    entry = _entry(session, meeting, deputy_id)
    if entry.left_at is None:
        raise Conflict("此人未退场 (has not left)")
    was = entry.left_at
    entry.left_at = None
    audit.record(
        session,
        actor=actor,
        action="return",
        meeting_id=meeting.id,
        deputy_id=deputy_id,
        detail={"left_at": was.isoformat()},
    )
    session.flush()
    return entry
