"""`baodao body …`, `baodao meeting …` and `baodao report …`: the secretariat's commands."""

from __future__ import annotations

import getpass
import json
import logging
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import typer
from sqlalchemy.orm import Session

from checkin import audit
from checkin.accounts.scope import Scope
from checkin.errors import InvalidInput
from checkin.meetings import reports, service, terms
from checkin.meetings.delta import change_delta
from checkin.meetings.events import (
    CheckinUndone,
    DeputyCheckedIn,
    DeputyDeparted,
    DeputyReturned,
    LeaveChanged,
    MeetingChanged,
    RosterChanged,
    WindowChanged,
)
from checkin.meetings.status import MeetingStatus, status, to_json
from checkin.runtime import Runtime, open_runtime
from models import BodyKind, MeetingKind, QuorumRule, RosterRole
from models.db import session_scope

logger = logging.getLogger(__name__)

body_app = typer.Typer(help="Congress bodies (人大 / 主席团).", no_args_is_help=True)
meeting_app = typer.Typer(
    help="Meetings: roster, window, leave, check-in, status.", no_args_is_help=True
)
roster_app = typer.Typer(help="Add or remove people on a meeting's roster.", no_args_is_help=True)
report_app = typer.Typer(
    help="Reports: a meeting's sheet, the term report, a deputy's record.", no_args_is_help=True
)
meeting_app.add_typer(roster_app, name="roster")

JSON_OPT = typer.Option(False, "--json", help="Print JSON")


def _actor() -> audit.Actor:
    try:
        who = getpass.getuser()
    except (KeyError, OSError):
        who = "unknown"
    return audit.Actor(f"cli:{who}"[:80])


def _time(value: str | None, zone: str) -> datetime | None:
    """ISO time; without an offset it is read in the configured time zone."""
    if value is None:
        return None
    try:
        t = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidInput(f"时间格式应为 2026-12-01T09:00 (bad time {value!r})") from None
    return t if t.tzinfo else t.replace(tzinfo=ZoneInfo(zone))


def _change(
    rt: Runtime,
    meeting_id: int,
    event: type[MeetingChanged],
    work: Callable[[Session], int | None],
) -> None:
    """Run `work` (returns the person id) in a transaction; after the commit, notify
    live dashboards through Redis."""
    with session_scope(rt.sessions) as session:
        deputy_id = work(session)
    _notify(rt, event(meeting_id, deputy_id))


def _notify(rt: Runtime, change: MeetingChanged) -> None:
    """After the commit: send the change (read once, as a delta) to live dashboards."""
    if not rt.settings.redis_url:
        return
    from checkin.web.live import needs_full_read, publish_to_redis

    try:
        delta = None
        if not needs_full_read(change):
            with rt.sessions() as session:
                delta = change_delta(
                    session, change.meeting_id, change.deputy_id, zone=rt.settings.timezone
                )
        publish_to_redis(rt.settings, change, delta)
    except Exception:  # dashboards also re-read every few seconds
        logger.warning("could not notify dashboards through Redis", exc_info=True)


def _print_status(st: MeetingStatus, as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(to_json(st), ensure_ascii=False, indent=2))
        return
    m = st.meeting
    typer.echo(f"{m.body} {m.title}（会议 {m.id}，签到窗口 {m.window}）")
    typer.echo(
        f"应到 {st.expected}  实到 {st.present}  请假 {st.on_leave}  "
        f"缺席 {st.absent}  迟到 {st.late}  中途退场 {st.left_early}  "
        f"列席 {st.nonvoting_present}/{st.nonvoting_expected}"
    )
    typer.echo(f"法定人数 {st.required}（{st.rule_label}）")
    typer.echo(st.announcement)


# --- bodies -------------------------------------------------------------------------


@body_app.command("create")
def body_create(
    name: str,
    kind: BodyKind = typer.Option(BodyKind.CONGRESS, help="congress or presidium"),
    parent: str | None = typer.Option(
        None,
        "--parent",
        help="上级机构 (id or name): the county congress, or the congress of a 主席团",
    ),
) -> None:
    """Create a congress (or presidium), optionally under a parent body."""
    rt = open_runtime()
    everything = Scope.everything()
    with session_scope(rt.sessions) as session:
        parent_id = service.get_body(session, parent, scope=everything).id if parent else None
        body = service.create_body(
            session, name=name, kind=kind, actor=_actor(), scope=everything, parent_id=parent_id
        )
        typer.echo(f"{body.id}\t{body.name}")


@body_app.command("list")
def body_list() -> None:
    rt = open_runtime()
    with rt.sessions() as session:
        bodies = service.get_all_bodies(session, scope=Scope.everything())
        for b, depth in service.body_paths(bodies):
            typer.echo(f"{b.id}\t{b.kind.value}\t{'  ' * depth}{b.name}")


# --- meetings -----------------------------------------------------------------------


@meeting_app.command("create")
def meeting_create(
    body: str = typer.Option(..., help="Body id or exact name"),
    title: str = typer.Option(..., help="会议名称"),
    starts_at: str = typer.Option(..., "--starts-at", help="Start, e.g. 2026-12-01T09:00"),
    opens_at: str | None = typer.Option(None, "--opens-at", help="Check-in window opens"),
    closes_at: str | None = typer.Option(None, "--closes-at", help="Check-in window closes"),
    rule: QuorumRule = typer.Option(QuorumRule.TWO_THIRDS, help="two_thirds, majority or custom"),
    fraction: str | None = typer.Option(None, help="For --rule custom: p/q, e.g. 3/5"),
    session_id: int | None = typer.Option(None, "--session", help="Session (第N次会议) id"),
    kind: MeetingKind = typer.Option(MeetingKind.PLENARY, help="plenary, presidium, group, other"),
    as_json: bool = JSON_OPT,
) -> None:
    """Create a meeting; the roster is the body's seated deputies."""
    numerator = denominator = None
    if fraction:
        try:
            numerator, denominator = (int(x) for x in fraction.split("/"))
        except ValueError:
            raise InvalidInput(f"比例格式应为 p/q (bad fraction {fraction!r})") from None
    rt = open_runtime()
    zone = rt.settings.timezone
    with session_scope(rt.sessions) as session:
        b = service.get_body(session, body, scope=Scope.everything())
        m = service.create_meeting(
            session,
            body_id=b.id,
            title=title,
            starts_at=_time(starts_at, zone),  # type: ignore[arg-type]
            window_opens_at=_time(opens_at, zone),
            window_closes_at=_time(closes_at, zone),
            rule=rule,
            numerator=numerator,
            denominator=denominator,
            actor=_actor(),
            scope=Scope.everything(),
        )
        m.kind = kind
        if session_id is not None:
            terms.attach_meeting(
                session,
                congress_session_id=session_id,
                meeting_id=m.id,
                zone=zone,
                actor=_actor(),
                scope=Scope.everything(),
            )
        session.flush()
        mid = m.id
    with rt.sessions() as session:
        st = status(session, mid, zone=zone)
    if as_json:
        typer.echo(json.dumps({"id": mid, **to_json(st)}, ensure_ascii=False, indent=2))
    else:
        typer.echo(f"created meeting {mid}: {st.meeting.title}, 应到代表 {st.expected} 名")


@meeting_app.command("list")
def meeting_list(as_json: bool = JSON_OPT) -> None:
    rt = open_runtime()
    with rt.sessions() as session:
        rows = [
            {
                "id": m.id,
                "body": m.body.name,
                "title": m.title,
                "starts_at": m.starts_at.isoformat(),
                "state": m.state.value,
            }
            for m in service.get_all_meetings(session, scope=Scope.everything())
        ]
    if as_json:
        typer.echo(json.dumps(rows, ensure_ascii=False, indent=2))
    for r in [] if as_json else rows:
        typer.echo(f"{r['id']}\t{r['state']}\t{r['starts_at']}\t{r['body']} {r['title']}")


@meeting_app.command("status")
def meeting_status(meeting_id: int, as_json: bool = JSON_OPT) -> None:
    """应到 / 实到 / 请假 / 缺席, the quorum and the announcement."""
    rt = open_runtime()
    with rt.sessions() as session:
        st = status(session, meeting_id, zone=rt.settings.timezone)
    _print_status(st, as_json)


def _act(
    meeting_id: int,
    number: str | None,
    event: type[MeetingChanged],
    fn: Callable[..., Any],
    **kw: Any,
) -> None:
    rt = open_runtime()

    def work(session: Session) -> int | None:
        m = service.get_meeting(session, meeting_id, scope=Scope.everything())
        if number is None:
            fn(session, meeting=m, actor=_actor(), **kw)
            return None
        pid = service.find_person(session, number, scope=Scope.everything()).id
        fn(session, meeting=m, deputy_id=pid, actor=_actor(), **kw)
        return pid

    _change(rt, meeting_id, event, work)
    with rt.sessions() as session:
        st = status(session, meeting_id, zone=rt.settings.timezone)
    _print_status(st, False)


REASON = typer.Option(..., "--reason", help="原因 (required)")


@meeting_app.command("open")
def meeting_open(meeting_id: int) -> None:
    """Open the check-in window now."""
    _act(meeting_id, None, WindowChanged, service.open_window)


@meeting_app.command("close")
def meeting_close(meeting_id: int) -> None:
    """Close the check-in window now."""
    _act(meeting_id, None, WindowChanged, service.close_window)


@meeting_app.command("leave")
def meeting_leave(
    meeting_id: int,
    number: str = typer.Argument(..., help="代表编号"),
    reason: str | None = typer.Option(None, "--reason", help="请假原因 (required)"),
    cancel: bool = typer.Option(False, "--cancel", help="Cancel the leave"),
) -> None:
    """Register approved leave (请假), or cancel it."""
    _act(meeting_id, number, LeaveChanged, service.set_leave, reason=reason, on_leave=not cancel)


@meeting_app.command("checkin")
def meeting_checkin(
    meeting_id: int, number: str = typer.Argument(..., help="代表编号"), reason: str = REASON
) -> None:
    """手动补签到 (make-up check-in, reason required)."""
    _act(meeting_id, number, DeputyCheckedIn, service.manual_checkin, reason=reason)


@meeting_app.command("undo")
def meeting_undo(
    meeting_id: int, number: str = typer.Argument(..., help="代表编号"), reason: str = REASON
) -> None:
    """Undo a check-in (reason required)."""
    _act(meeting_id, number, CheckinUndone, service.undo_checkin, reason=reason)


@meeting_app.command("depart")
def meeting_depart(
    meeting_id: int,
    number: str = typer.Argument(..., help="代表编号"),
    reason: str | None = typer.Option(None, "--reason"),
) -> None:
    """中途退场."""
    _act(meeting_id, number, DeputyDeparted, service.mark_departure, reason=reason)


@meeting_app.command("return")
def meeting_return(meeting_id: int, number: str = typer.Argument(..., help="代表编号")) -> None:
    """A departed person is back."""
    _act(meeting_id, number, DeputyReturned, service.mark_return)


@roster_app.command("add")
def roster_add(
    meeting_id: int,
    number: str = typer.Argument(..., help="代表编号"),
    role: RosterRole = typer.Option(RosterRole.DEPUTY, help="deputy, nonvoting (列席) or staff"),
) -> None:
    """Put a person on the roster."""
    _act(
        meeting_id,
        number,
        RosterChanged,
        service.add_to_roster,
        role=role,
        scope=Scope.everything(),
    )


@roster_app.command("remove")
def roster_remove(meeting_id: int, number: str = typer.Argument(..., help="代表编号")) -> None:
    """Take a person off the roster."""
    _act(meeting_id, number, RosterChanged, service.remove_from_roster)


def _people_file(path: Path) -> list[tuple[str, RosterRole]]:
    """代表编号 per line, optionally `,role` (deputy / nonvoting / staff); # starts a comment."""
    out: list[tuple[str, RosterRole]] = []
    for raw in path.read_text(encoding="utf-8-sig").splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        number, _, role = (part.strip() for part in line.partition(","))
        try:
            out.append((number, RosterRole(role or "deputy")))
        except ValueError:
            raise InvalidInput(
                f"{path}: 身份应为 deputy/nonvoting/staff (bad role {role!r})"
            ) from None
    return out


@roster_app.command("bulk")
def roster_bulk(
    meeting_id: int,
    add: Path | None = typer.Option(None, "--add", help="File of 代表编号 to add (one per line)"),
    remove: Path | None = typer.Option(None, "--remove", help="File of 代表编号 to remove"),
    as_json: bool = JSON_OPT,
) -> None:
    """Add and remove many people in one transaction (one push to the live screens)."""
    adds = _people_file(add) if add else []
    removes = [n for n, _ in _people_file(remove)] if remove else []
    rt = open_runtime()
    with session_scope(rt.sessions) as session:
        m = service.get_meeting(session, meeting_id, scope=Scope.everything())
        numbers: list[str | None] = [*(n for n, _ in adds), *removes]
        ids = service.resolve_people(
            session, [None] * len(numbers), numbers, scope=Scope.everything()
        )
        result = service.bulk_roster(
            session,
            meeting=m,
            add=[(pid, role) for pid, (_, role) in zip(ids, adds, strict=False)],
            remove=ids[len(adds) :],
            actor=_actor(),
        )
    _notify(rt, RosterChanged(meeting_id))
    if as_json:
        typer.echo(json.dumps(vars(result), ensure_ascii=False))
    else:
        typer.echo(
            f"名单：新增 {result.added} 人，移除 {result.removed} 人，"
            f"已在名单 {len(result.already_on)} 人，不在名单 {len(result.not_on)} 人；"
            f"现有 {result.roster} 人"
        )


# --- reports ------------------------------------------------------------------------


@report_app.command("sheet")
def report_sheet(
    meeting_id: int,
    out: Path = typer.Option(..., "--out", help="File to write: .xlsx or .csv"),
) -> None:
    """Write the attendance sheet (签到表) as XLSX or CSV."""
    suffix = out.suffix.lower()
    if suffix not in (".xlsx", ".csv"):
        raise InvalidInput("输出文件须为 .xlsx 或 .csv (--out must end in .xlsx or .csv)")
    rt = open_runtime()
    with rt.sessions() as session:
        sheet = reports.build_sheet(
            session, meeting_id, scope=Scope.everything(), zone=rt.settings.timezone
        )
    data = (
        reports.sheet_xlsx(sheet)
        if suffix == ".xlsx"
        else reports.sheet_csv(sheet).encode("utf-8-sig")
    )
    try:
        out.write_bytes(data)
    except OSError as exc:
        raise InvalidInput(f"无法写入 {out}: {exc.strerror}") from None
    typer.echo(f"wrote {out} ({len(sheet.rows)} rows)")
    typer.echo(sheet.announcement)
