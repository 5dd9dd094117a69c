"""Terms (届), their sessions (第N次会议), meetings attached to a session, deputies' mandates.

Every change is audited in the caller's transaction; the caller commits.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import Enum
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from checkin import audit
from checkin.accounts.scope import Scope
from checkin.errors import Conflict, InvalidInput, NotFound
from models import Body, BodyKind, CongressSession, Deputy, Meeting, MeetingKind, Term

KIND_LABELS = {
    MeetingKind.PLENARY: "全体会议",
    MeetingKind.PRESIDIUM: "主席团会议",
    MeetingKind.GROUP: "代表团/小组会议",
    MeetingKind.OTHER: "其他会议",
}
_DIGITS = "零一二三四五六七八九"


class Unset(Enum):
    """ "Leave this field as it is" (update_mandate's defaults)."""

    UNSET = "unset"


UNSET = Unset.UNSET


def chinese_numeral(n: int) -> str:
    """1 → 一, 10 → 十, 18 → 十八, 21 → 二十一, 105 → 一百零五 (1..999)."""
    if not 0 < n < 1000:
        raise InvalidInput(f"序号须在 1 到 999 之间 (number {n} out of range)")
    hundreds, rest = divmod(n, 100)
    tens, ones = divmod(rest, 10)
    out = f"{_DIGITS[hundreds]}百" if hundreds else ""
    if tens:
        out += ("" if tens == 1 and not hundreds else _DIGITS[tens]) + "十"
    elif hundreds and ones:
        out += "零"
    return out + (_DIGITS[ones] if ones else "")


def _dates(starts_on: date, ends_on: date | None) -> None:
    if ends_on is not None and ends_on < starts_on:
        raise InvalidInput("结束日期不能早于开始日期 (ends before it starts)")


def _number(n: int) -> int:
    if not 0 < n < 1000:
        raise InvalidInput(f"序号须在 1 到 999 之间 (number {n} out of range)")
    return n


def _overlaps(a0: date, a1: date | None, b0: date, b1: date | None) -> bool:
    return (a1 is None or b0 <= a1) and (b1 is None or a0 <= b1)


# --- terms --------------------------------------------------------------------------


def create_term(
    session: Session,
    *,
    body_id: int,
    number: int,
    starts_on: date,
    actor: audit.Actor,
    scope: Scope,
    ends_on: date | None = None,
    title: str | None = None,
) -> Term:
    """A term (第N届) of a congress; its dates may not overlap another term of the body."""
    body = session.get(Body, body_id)
    if body is None or not scope.covers(body.id):
        raise NotFound(f"没有这个会议机构 (no body {body_id})")
    if body.kind is not BodyKind.CONGRESS:
        raise InvalidInput("届次属于人民代表大会，主席团没有届次 (terms belong to a congress)")
    _number(number)
    _dates(starts_on, ends_on)
    title = (title or "").strip() or f"第{chinese_numeral(number)}届"
    for other in session.scalars(select(Term).where(Term.body_id == body_id)):
        if other.number == number:
            raise Conflict(f"{body.name}已有{other.title} (term {number} exists)")
        if _overlaps(starts_on, ends_on, other.starts_on, other.ends_on):
            raise Conflict(f"任期与{other.title}（{other.starts_on} 起）重叠 (overlapping terms)")
    term = Term(body_id=body_id, number=number, title=title, starts_on=starts_on, ends_on=ends_on)
    try:
        with session.begin_nested():
            session.add(term)
    except IntegrityError:  # a concurrent create of the same number
        raise Conflict(f"{body.name}已有第{number}届 (term {number} exists)") from None
    audit.record(
        session,
        actor=actor,
        action="term.create",
        detail={"body_id": body_id, "number": number, "starts_on": str(starts_on)},
    )
    return term


def get_term(session: Session, term_id: int, *, scope: Scope | None = None) -> Term:
    """The term (if `scope` covers its body); NotFound otherwise. `scope` None: an internal
    read of a term the caller already holds."""
    term = session.get(Term, term_id)
    if term is None or (scope is not None and not scope.covers(term.body_id)):
        raise NotFound(f"没有这个届次 (no term {term_id})")
    return term


def get_all_terms(session: Session, *, scope: Scope, body_id: int | None = None) -> list[Term]:
    """Terms in the scope, newest first, optionally of one body."""
    query = (
        select(Term).where(scope.where(Term.body_id)).order_by(Term.body_id, Term.starts_on.desc())
    )
    if body_id is not None:
        query = query.where(Term.body_id == body_id)
    return list(session.scalars(query))


def term_name(term: Term) -> str:
    """某镇第十八届人民代表大会: the body's name with the term's title, said once."""
    name = term.body.name
    if term.title in name:
        return name
    for suffix in ("人民代表大会", "人大"):
        if name.endswith(suffix):
            return f"{name.removesuffix(suffix)}{term.title}{suffix}"
    return f"{name}{term.title}"


# --- sessions -----------------------------------------------------------------------


def create_session(
    session: Session,
    *,
    term_id: int,
    number: int,
    starts_on: date,
    actor: audit.Actor,
    scope: Scope,
    ends_on: date | None = None,
    title: str | None = None,
) -> CongressSession:
    """A session (第N次会议) of a term, within the term's dates."""
    term = get_term(session, term_id, scope=scope)
    _number(number)
    _dates(starts_on, ends_on)
    if starts_on < term.starts_on or (
        term.ends_on is not None
        and (starts_on > term.ends_on or (ends_on or starts_on) > term.ends_on)
    ):
        raise InvalidInput(
            f"会期须在{term.title}任期内（{term.starts_on} 至 {term.ends_on or '今'}）"
            " (session outside the term)"
        )
    title = (title or "").strip() or f"第{chinese_numeral(number)}次会议"
    if session.scalar(
        select(CongressSession.id).where(
            CongressSession.term_id == term_id, CongressSession.number == number
        )
    ):
        raise Conflict(f"{term.title}已有{title} (session {number} exists)")
    cs = CongressSession(
        term_id=term_id, number=number, title=title, starts_on=starts_on, ends_on=ends_on
    )
    try:
        with session.begin_nested():
            session.add(cs)
    except IntegrityError:
        raise Conflict(f"{term.title}已有第{number}次会议 (session {number} exists)") from None
    audit.record(
        session,
        actor=actor,
        action="session.create",
        detail={"term_id": term_id, "number": number, "starts_on": str(starts_on)},
    )
    return cs


def get_session(
    session: Session, congress_session_id: int, *, scope: Scope | None = None
) -> CongressSession:
    """The congress session (if `scope` covers its term's body); NotFound otherwise."""
    cs = session.get(CongressSession, congress_session_id)
    if cs is None or (scope is not None and not scope.covers(cs.term.body_id)):
        raise NotFound(f"没有这次会议 (no session {congress_session_id})")
    return cs


def sessions_of(session: Session, term_id: int) -> list[CongressSession]:
    """The term's sessions in order."""
    return list(
        session.scalars(
            select(CongressSession)
            .where(CongressSession.term_id == term_id)
            .order_by(CongressSession.number)
        )
    )


def meetings_of(session: Session, congress_session_id: int) -> list[Meeting]:
    """The meetings attached to a session, by start time."""
    return list(
        session.scalars(
            select(Meeting)
            .where(Meeting.congress_session_id == congress_session_id)
            .order_by(Meeting.starts_at, Meeting.id)
        )
    )


def attach_meeting(
    session: Session,
    *,
    congress_session_id: int,
    meeting_id: int,
    actor: audit.Actor,
    zone: str,
    kind: MeetingKind | str | None = None,
    scope: Scope,
) -> Meeting:
    """Put a meeting into a session (plenary by default); its body and date must fit the term."""
    cs = get_session(session, congress_session_id, scope=scope)
    meeting = session.get(Meeting, meeting_id)
    if meeting is None or not scope.covers(meeting.body_id):
        raise NotFound(f"没有这个会议 (no meeting {meeting_id})")
    term = cs.term
    if meeting.body_id != term.body_id and meeting.body.parent_id != term.body_id:
        raise InvalidInput(
            f"会议「{meeting.title}」属于{meeting.body.name}，不属于{term.body.name}"
            " (the meeting's body is not the term's congress or its presidium)"
        )
    day = meeting.starts_at.astimezone(ZoneInfo(zone)).date()
    if day < cs.starts_on or (cs.ends_on is not None and day > cs.ends_on):
        raise InvalidInput(
            f"会议日期 {day} 不在{cs.title}会期内（{cs.starts_on} 至 {cs.ends_on or '—'}）"
            " (meeting date outside the session)"
        )
    if kind is not None:
        try:
            meeting.kind = MeetingKind(kind)
        except ValueError:
            raise InvalidInput(f"会议类型无效：{kind!r} (plenary/presidium/group/other)") from None
    was = meeting.congress_session_id
    meeting.congress_session_id = cs.id
    audit.record(
        session,
        actor=actor,
        action="meeting.attach",
        meeting_id=meeting.id,
        detail={"session_id": cs.id, "was": was, "kind": meeting.kind.value},
    )
    session.flush()
    return meeting


def detach_meeting(session: Session, *, meeting_id: int, actor: audit.Actor) -> Meeting:
    """Take a meeting out of its session (it stays a valid meeting outside any term record)."""
    meeting = session.get(Meeting, meeting_id)
    if meeting is None:
        raise NotFound(f"没有这个会议 (no meeting {meeting_id})")
    if meeting.congress_session_id is None:
        raise Conflict("该会议不属于任何一次会议 (the meeting is in no session)")
    was = meeting.congress_session_id
    meeting.congress_session_id = None
    audit.record(
        session, actor=actor, action="meeting.detach", meeting_id=meeting.id, detail={"was": was}
    )
    session.flush()
    return meeting


# --- mandates -----------------------------------------------------------------------


def update_mandate(
    session: Session,
    *,
    deputy: Deputy,
    actor: audit.Actor,
    elected_at: datetime | None | Unset = UNSET,
    delegation: str | None | Unset = UNSET,
) -> Deputy:
    """Set a deputy's mandate start (补选; None: since the term began) and/or 代表团.

    Retirement (the mandate's end) goes through the deputies' retire, which also takes the
    deputy out of the galleries.
    """
    changed: dict[str, str | None] = {}
    if not isinstance(elected_at, Unset):
        if elected_at is not None and elected_at.tzinfo is None:
            raise InvalidInput("时间必须带时区 (times need a time zone)")
        if elected_at is not None and deputy.retired_at is not None:
            if elected_at >= deputy.retired_at:
                raise InvalidInput("当选时间须早于离任时间 (elected after retirement)")
        deputy.elected_at = elected_at
        changed["elected_at"] = elected_at.isoformat() if elected_at else None
    if not isinstance(delegation, Unset):
        text = (delegation or "").strip() or None
        if text is not None and len(text) > 100:
            raise InvalidInput("代表团名称最长 100 个字符 (delegation too long)")
        deputy.delegation = text
        changed["delegation"] = text
    if changed:
        audit.record(
            session, actor=actor, action="deputy.mandate", deputy_id=deputy.id, detail=changed
        )
        session.flush()
    return deputy
