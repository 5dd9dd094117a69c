"""`baodao term …`, `baodao session …`, `baodao deputy mandate`, `baodao report term|deputy`:
the term record from the command line."""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import typer

from checkin.accounts.scope import Scope
from checkin.cli.meetings import JSON_OPT, _actor
from checkin.errors import InvalidInput
from checkin.meetings import history, plots, reports, service, terms
from checkin.meetings.history import ReportFilter
from checkin.runtime import open_runtime
from enrollment.service import get_deputy
from models import MeetingKind
from models.db import session_scope

term_app = typer.Typer(help="Terms (届) of a congress.", no_args_is_help=True)
session_app = typer.Typer(
    help="Sessions (第N次会议) of a term, and the meetings they group.", no_args_is_help=True
)


def _day(value: str | None, option: str) -> date | None:
    if value is None or not value.strip():
        return None
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise InvalidInput(f"{option} 日期格式应为 2026-03-09 (bad date {value!r})") from None


def parse_when(value: str, option: str, zone: str) -> datetime:
    """A date (midnight) or a date and time; without an offset, in the configured zone."""
    try:
        t = datetime.fromisoformat(value.strip())
    except ValueError:
        raise InvalidInput(
            f"{option} 格式应为 2026-03-09 或 2026-03-09T09:00 ({value!r})"
        ) from None
    return t if t.tzinfo else t.replace(tzinfo=ZoneInfo(zone))


def _echo_json(data: Any) -> None:
    typer.echo(json.dumps(data, ensure_ascii=False, indent=2, default=str))


def _write(out: Path, data: bytes) -> None:
    try:
        out.write_bytes(data)
    except OSError as exc:
        raise InvalidInput(f"无法写入 {out}: {exc.strerror}") from None


# --- terms --------------------------------------------------------------------------


@term_app.command("create")
def term_create(
    body: str = typer.Option(..., help="Body id or exact name (a congress)"),
    number: int = typer.Option(..., help="第N届: N"),
    starts: str = typer.Option(..., "--starts", help="任期开始, e.g. 2025-01-01"),
    ends: str | None = typer.Option(None, "--ends", help="任期结束"),
    title: str | None = typer.Option(None, help="Default 第N届 in Chinese numerals"),
) -> None:
    """Create a term of a congress."""
    rt = open_runtime()
    with session_scope(rt.sessions) as session:
        t = terms.create_term(
            session,
            body_id=service.get_body(session, body, scope=Scope.everything()).id,
            number=number,
            starts_on=_day(starts, "--starts"),  # type: ignore[arg-type]
            ends_on=_day(ends, "--ends"),
            title=title,
            actor=_actor(),
            scope=Scope.everything(),
        )
        typer.echo(f"{t.id}\t{terms.term_name(t)}\t{t.starts_on} 至 {t.ends_on or '—'}")


@term_app.command("list")
def term_list(
    body: str | None = typer.Option(None, help="Only this body (id or name)"),
    as_json: bool = JSON_OPT,
) -> None:
    """Terms with their sessions and meetings."""
    rt = open_runtime()
    with rt.sessions() as session:
        body_id = service.get_body(session, body, scope=Scope.everything()).id if body else None
        rows: list[dict[str, Any]] = [
            {
                "id": t.id,
                "name": terms.term_name(t),
                "starts_on": str(t.starts_on),
                "ends_on": str(t.ends_on) if t.ends_on else None,
                "sessions": [
                    {
                        "id": cs.id,
                        "title": cs.title,
                        "starts_on": str(cs.starts_on),
                        "meetings": [
                            {"id": m.id, "title": m.title, "kind": m.kind.value}
                            for m in terms.meetings_of(session, cs.id)
                        ],
                    }
                    for cs in terms.sessions_of(session, t.id)
                ],
            }
            for t in terms.get_all_terms(session, scope=Scope.everything(), body_id=body_id)
        ]
    if as_json:
        _echo_json(rows)
        return
    for t in rows:
        typer.echo(f"{t['id']}\t{t['name']}\t{t['starts_on']} 至 {t['ends_on'] or '—'}")
        for cs in t["sessions"]:
            meetings = "、".join(f"{m['id']} {m['title']}" for m in cs["meetings"]) or "尚无会议"
            typer.echo(f"  次会议 {cs['id']}\t{cs['title']}（{cs['starts_on']}）：{meetings}")


# --- sessions -----------------------------------------------------------------------


@session_app.command("create")
def session_create(
    term: int = typer.Option(..., help="Term id"),
    number: int = typer.Option(..., help="第N次会议: N"),
    starts: str = typer.Option(..., "--starts", help="会期开始, e.g. 2026-03-09"),
    ends: str | None = typer.Option(None, "--ends", help="会期结束"),
    title: str | None = typer.Option(None, help="Default 第N次会议 in Chinese numerals"),
) -> None:
    """Create a session (第N次会议) of a term."""
    rt = open_runtime()
    with session_scope(rt.sessions) as session:
        cs = terms.create_session(
            session,
            term_id=term,
            number=number,
            starts_on=_day(starts, "--starts"),  # type: ignore[arg-type]
            ends_on=_day(ends, "--ends"),
            title=title,
            actor=_actor(),
            scope=Scope.everything(),
        )
        typer.echo(f"{cs.id}\t{cs.title}\t{cs.starts_on} 至 {cs.ends_on or '—'}")


@session_app.command("attach")
def session_attach(
    session_id: int = typer.Argument(..., help="Session id"),
    meeting_id: int = typer.Argument(..., help="Meeting id"),
    kind: MeetingKind | None = typer.Option(
        None, help="plenary (全体会议), presidium, group or other; default: keep"
    ),
) -> None:
    """Put a meeting into a session (its plenaries decide each deputy's attendance)."""
    rt = open_runtime()
    with session_scope(rt.sessions) as session:
        m = terms.attach_meeting(
            session,
            congress_session_id=session_id,
            meeting_id=meeting_id,
            kind=kind,
            zone=rt.settings.timezone,
            actor=_actor(),
            scope=Scope.everything(),
        )
        typer.echo(f"会议 {m.id}「{m.title}」→ 次会议 {session_id}（{terms.KIND_LABELS[m.kind]}）")


@session_app.command("detach")
def session_detach(meeting_id: int = typer.Argument(..., help="Meeting id")) -> None:
    """Take a meeting out of its session."""
    rt = open_runtime()
    with session_scope(rt.sessions) as session:
        m = terms.detach_meeting(session, meeting_id=meeting_id, actor=_actor())
        typer.echo(f"会议 {m.id}「{m.title}」已移出次会议")


# --- a deputy's mandate -------------------------------------------------------------


def deputy_mandate(
    number: str = typer.Argument(..., help="代表编号"),
    elected_at: str | None = typer.Option(
        None, "--elected-at", help="当选（补选）日期, e.g. 2025-06-01; 'none' clears it"
    ),
    delegation: str | None = typer.Option(None, help="代表团; '' clears it"),
) -> None:
    """Set a deputy's mandate start (补选) and 代表团 (`deputy retire --at` ends the mandate)."""
    rt = open_runtime()
    changes: dict[str, Any] = {}
    if elected_at is not None:
        none = elected_at.strip().lower() in ("", "none")
        changes["elected_at"] = (
            None if none else parse_when(elected_at, "--elected-at", rt.settings.timezone)
        )
    if delegation is not None:
        changes["delegation"] = delegation
    if not changes:
        raise InvalidInput("请给出 --elected-at 或 --delegation (nothing to change)")
    with session_scope(rt.sessions) as session:
        d = terms.update_mandate(
            session,
            deputy=get_deputy(session, number=number, scope=Scope.everything()),
            actor=_actor(),
            **changes,
        )
        elected = d.elected_at.astimezone(ZoneInfo(rt.settings.timezone)) if d.elected_at else None
        typer.echo(
            f"代表 {d.number} {d.name}：当选 {elected or '届初'}，代表团 {d.delegation or '—'}"
        )


# --- reports ------------------------------------------------------------------------


def report_term(
    term_id: int = typer.Argument(..., help="Term id"),
    session_id: int | None = typer.Option(None, "--session", help="Only this session (id)"),
    date_from: str | None = typer.Option(None, "--from", help="From date, e.g. 2026-01-01"),
    date_to: str | None = typer.Option(None, "--to", help="To date"),
    body: str | None = typer.Option(None, help="Only meetings of this body (id or name)"),
    delegation: str | None = typer.Option(None, help="Only this 代表团"),
    out: Path | None = typer.Option(None, "--out", help="Write .xlsx, .png or .svg"),
    as_json: bool = JSON_OPT,
) -> None:
    """The term report: §49 flags, per-session counts; the matrix in --out FILE.xlsx or --json."""
    suffix = out.suffix.lower() if out else None
    if suffix not in (None, ".xlsx", ".png", ".svg"):
        raise InvalidInput("输出文件须为 .xlsx、.png 或 .svg (--out)")
    rt = open_runtime()
    zone = rt.settings.timezone
    with rt.sessions() as session:
        filters = ReportFilter(
            congress_session_id=session_id,
            date_from=_day(date_from, "--from"),
            date_to=_day(date_to, "--to"),
            body_id=service.get_body(session, body, scope=Scope.everything()).id if body else None,
            delegation=delegation,
        )
        report = history.term_report(
            session, term_id, zone=zone, rule=rt.settings.session_absence_rule, filters=filters
        )
    if out is not None:
        if suffix == ".xlsx":
            png = plots.attendance_plot(report, "png")
            _write(out, reports.term_report_xlsx(report, zone=zone, plot_png=png))
        else:
            _write(out, plots.attendance_plot(report, "png" if suffix == ".png" else "svg"))
        if not as_json:
            typer.echo(f"wrote {out}")
    if as_json:
        _echo_json(history.to_json(report))
        return
    t = report.total
    typer.echo(f"{report.term.name} 代表出席情况（{reports.filter_text(report)}）")
    typer.echo(f"会议结论规则：{report.rule_label}")
    typer.echo(
        f"应出席 {t.expected} 人次，出席 {t.attended}（迟到 {t.late}，补签 {t.manual}，"
        f"中途退场 {t.left}），请假 {t.leave}，缺席 {t.absent}，出席率 {t.rate_label}"
    )
    for s in report.sessions:
        c = s.counts
        typer.echo(
            f"  {s.title}\t应出席代表 {c.expected}\t出席 {c.attended}\t请假 {c.leave}\t"
            f"未经批准缺席 {c.absent}\t出席率 {c.rate_label}"
        )
    typer.echo("代表法第四十九条提示：" + ("" if report.flags else "无"))
    for f in report.flags:
        typer.echo(f"  {f.flag_label}\t{f.number} {f.name}\t{'、'.join(f.sessions)}")


def report_deputy(
    number: str = typer.Argument(..., help="代表编号"),
    term_id: int | None = typer.Option(None, "--term", help="Term id (default: the latest)"),
    out: Path | None = typer.Option(None, "--out", help="Write the record as .xlsx"),
    as_json: bool = JSON_OPT,
) -> None:
    """A deputy's 出席记录 over a term (for the 履职档案)."""
    if out is not None and out.suffix.lower() != ".xlsx":
        raise InvalidInput("输出文件须为 .xlsx (--out)")
    rt = open_runtime()
    zone = rt.settings.timezone
    with rt.sessions() as session:
        record = history.deputy_record(
            session, number, term_id=term_id, zone=zone, rule=rt.settings.session_absence_rule
        )
    if out is not None:
        _write(out, reports.deputy_record_xlsx(record, zone=zone))
        if not as_json:
            typer.echo(f"wrote {out}")
    if as_json:
        _echo_json(history.to_json(record))
        return
    typer.echo(f"{record.term.name} 代表 {record.number} {record.name} 出席记录")
    if record.mandate:
        typer.echo(f"任期变动：{record.mandate}")
    for ln in record.lines:
        when = ln.checked_in_at.strftime("%H:%M") if ln.checked_in_at else ""
        note = "；".join(x for x in (ln.manual_reason, ln.leave_reason) if x)
        left = f" 退场 {ln.left_at:%H:%M}" if ln.left_at else ""
        typer.echo(
            f"  {ln.starts_at:%Y-%m-%d %H:%M}\t{ln.session_title} {ln.title}\t{ln.label}"
            f"\t{when}{left}\t{note}"
        )
    for s in record.sessions:
        typer.echo(f"  {s.title}：{s.label}")
    c = record.counts
    typer.echo(
        f"应出席 {c.expected} 次，出席 {c.attended}，请假 {c.leave}，缺席 {c.absent}，"
        f"出席率 {c.rate_label}；未经批准缺席会议 {len(record.absent_sessions)} 次"
        + (f"：{record.flag_label}" if record.flag_label else "")
    )
