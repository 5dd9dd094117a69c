"""`baodao enroll …`, `baodao deputy …` and `baodao identify`: thin commands over the service."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from checkin.accounts.scope import Scope
from checkin.audit import Actor
from checkin.cli.terms import parse_when
from checkin.faces.engine import UnreadableImage
from checkin.faces.model import info
from checkin.meetings.service import get_body
from checkin.runtime import Runtime, open_runtime
from enrollment import pipeline, service
from enrollment.pipeline import PhotoJob, PhotoOutcome
from enrollment.roster import RosterRow, read_roster
from models.db import scrub, session_scope

enroll_app = typer.Typer(
    help="Enrol deputies' faces: roster import, photos, look-alikes.", no_args_is_help=True
)
deputy_app = typer.Typer(help="Deputies: list, show, retire, mandate.", no_args_is_help=True)

STATUS_ZH = {"created": "新录入", "updated": "已更新", "unchanged": "无变化", "failed": "失败"}


def _out(data: Any) -> None:
    typer.echo(json.dumps(data, ensure_ascii=False, indent=2))


def _workers(rt: Runtime, workers: int) -> int:
    return workers or rt.settings.workers or pipeline.default_workers()


@enroll_app.command("import")
def import_roster(
    roster: Path = typer.Argument(..., help="名册 CSV 或 XLSX 文件"),
    photos: Path = typer.Option(
        ..., "--photos", help="照片文件夹 (NUMBER.jpg, NUMBER_2.jpg, NUMBER/)"
    ),
    workers: int = typer.Option(0, "--workers", min=0, max=64, help="进程数，0 = 每核一个"),
    as_json: bool = typer.Option(False, "--json", help="输出机器可读的报告"),
    confirm_duplicate: list[str] = typer.Option(
        [],
        "--confirm-duplicate",
        help="代表编号：已核对确为两人，允许录入与另一代表极为相似的照片（可重复；记入审计）",
    ),
    body: str | None = typer.Option(
        None,
        "--body",
        help="会议机构 (id or name) for rows without a 所属人大/代表团 column value",
    ),
) -> None:
    """Import a roster and its photos (the active face model's templates) into bodies (the
    roster's 所属人大/代表团 column, else `--body`); exit code 1 if any photo or row failed."""
    rows = read_roster(roster)
    if not photos.is_dir():
        raise typer.BadParameter(f"照片文件夹不存在：{photos}", param_hint="--photos")
    rt = open_runtime()
    n_workers = _workers(rt, workers)
    default_body = None
    if body is not None:
        with rt.sessions() as session:
            default_body = get_body(session, body, scope=Scope.everything()).id
    err = Console(stderr=True)
    progress = Progress(
        TextColumn("录入照片"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=as_json,
    )
    task = progress.add_task("photos", total=None)

    def on_start(total: int) -> None:
        progress.update(task, total=total)

    def on_photo(_: PhotoOutcome) -> None:
        progress.advance(task)

    with progress:
        report = service.import_roster(
            rt.sessions,
            cipher=rt.cipher,
            settings=rt.settings,
            rows=rows,
            photos_dir=photos,
            workers=n_workers,
            actor=Actor.cli(),
            scope=Scope.everything(),
            default_body=default_body,
            on_photo=on_photo,
            on_start=on_start,
            confirm_duplicates=frozenset(confirm_duplicate),
        )
    if as_json:
        _out(report.as_dict())
    else:
        _print_report(report)
    if report.totals()["failed_photos"]:
        raise typer.Exit(1)


def _print_report(report: service.ImportReport) -> None:
    console = Console()
    totals = report.totals()
    table = Table(title="录入结果 Enrollment summary")
    table.add_column("项目")
    table.add_column("数量", justify="right")
    for key, label in (
        ("deputies", "代表 deputies"),
        ("deputies_created", "新录入 enrolled"),
        ("deputies_updated", "已更新 updated"),
        ("deputies_unchanged", "无变化 unchanged"),
        ("deputies_failed", "未录入 failed"),
        ("enrolled_photos", "照片已录入 photos enrolled"),
        ("duplicate_photos", "重复照片 duplicates"),
        ("flagged_photos", "疑似混入他人照片 flagged"),
        ("failed_photos", "照片失败 photos failed"),
    ):
        table.add_row(label, str(totals[key]))
    console.print(table)
    failed = report.failed_by_reason()
    if failed:
        reasons = Table(title="失败原因 Failures by reason")
        reasons.add_column("原因")
        reasons.add_column("数量", justify="right")
        reasons.add_column("说明")
        for code, n in failed.most_common():
            reasons.add_row(code, str(n), pipeline.message(code))
        console.print(reasons)
        detail = Table(title="失败的照片 Failed photos")
        for col in ("编号", "照片", "原因"):
            detail.add_column(col)
        for p in report.photos:
            if p.status == "failed":
                detail.add_row(p.number, p.photo or "-", p.message or p.reason or "")
        console.print(detail)
    flagged = [p for p in report.photos if p.flagged]
    if flagged:
        console.print("[yellow]以下照片与该代表的其他照片差异很大，可能混入了他人照片，请核对：[/]")
        for p in flagged:
            console.print(f"  {p.number}  {p.photo}")
    _print_lookalikes(report.lookalikes, console)


def _print_lookalikes(pairs: list[dict[str, Any]], console: Console) -> None:
    if not pairs:
        console.print("未发现长相相近的代表 (no look-alike pairs).")
        return
    table = Table(title="长相相近的代表（识别时将额外谨慎） Look-alike pairs")
    for col in ("代表 A", "代表 B", "距离", "建议"):
        table.add_column(col)
    for p in pairs:
        table.add_row(
            f"{p['a']['number']} {p['a']['name']}",
            f"{p['b']['number']} {p['b']['name']}",
            f"{p['distance']:.3f}",
            p["advice"],
        )
    console.print(table)


@enroll_app.command("add")
def add(
    number: str = typer.Argument(..., help="代表编号"),
    photos: list[Path] = typer.Argument(..., help="一张或多张照片"),
    name: str | None = typer.Option(None, "--name", help="姓名：给出时可新建该代表"),
    unit: str | None = typer.Option(None, "--unit", help="单位"),
    gender: str | None = typer.Option(None, "--gender", help="性别"),
    workers: int = typer.Option(0, "--workers", min=0, max=64),
    as_json: bool = typer.Option(False, "--json"),
    confirm_duplicate: bool = typer.Option(
        False,
        "--confirm-duplicate",
        help="已核对确为两人：允许录入与另一代表极为相似的照片（记入审计）",
    ),
) -> None:
    """Add photos of a deputy (new with --name); exit code 1 if any photo failed."""
    rt = open_runtime()
    jobs = [PhotoJob(key=number, label=str(p), path=p) for p in photos]
    new = RosterRow(row=0, number=number, name=name, unit=unit, gender=gender) if name else None
    result = service.add_photos(
        rt.sessions,
        cipher=rt.cipher,
        settings=rt.settings,
        number=number,
        jobs=jobs,
        actor=Actor.cli(),
        workers=min(_workers(rt, workers), len(jobs)),
        new=new,
        confirm_duplicate=confirm_duplicate,
        scope=Scope.everything(),
    )
    if as_json:
        _out(
            {
                "number": result.number,
                "status": result.status,
                "templates": result.templates,
                "photos": [p.as_dict() for p in result.photos],
            }
        )
    else:
        for p in result.photos:
            line = f"{p.photo}: {p.status}"
            if p.message:
                line += f" — {p.message}"
            if p.flagged:
                line += " — 与其他照片差异很大，请核对是否为本人"
            typer.echo(line)
        typer.echo(f"代表 {result.number} 现有 {result.templates} 个人脸模板。")
    if any(p.status == "failed" for p in result.photos):
        raise typer.Exit(1)


@enroll_app.command("remove")
def remove(number: str = typer.Argument(..., help="代表编号")) -> None:
    """Delete a deputy's face data (keeps the deputy and attendance history)."""
    rt = open_runtime()
    with session_scope(rt.sessions) as session:
        deleted = service.remove_face_data(
            session, number=number, actor=Actor.cli(), scope=Scope.everything()
        )
    scrub(rt.engine)  # the deleted templates' bytes leave the WAL too
    typer.echo(f"已删除代表 {number} 的 {deleted} 个人脸模板；代表信息和出勤记录保留。")


@enroll_app.command("lookalikes")
def lookalikes(
    refresh: bool = typer.Option(False, "--refresh", help="重新计算后再列出"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """List deputies who look alike (the matcher treats them with extra care)."""
    rt = open_runtime()
    with session_scope(rt.sessions) as session:
        if refresh:
            pairs = service.refresh_lookalikes(session, cipher=rt.cipher, settings=rt.settings)
        else:
            pairs = service.get_lookalikes(
                session, model=rt.settings.face_model, scope=Scope.everything()
            )
    if as_json:
        _out(pairs)
    else:
        _print_lookalikes(pairs, Console())


@enroll_app.command("missing")
def missing(as_json: bool = typer.Option(False, "--json")) -> None:
    """Seated deputies the active face model cannot recognise: no usable template of it.

    After switching BAODAO_FACE_MODEL, re-run `baodao enroll import` with the same roster and
    photos (the active model's templates are added) or enrol new photos of these deputies.
    """
    rt = open_runtime()
    model = rt.settings.face_model
    with session_scope(rt.sessions) as session:
        rows = service.missing_templates(session, model=model)
    if as_json:
        _out({"model": model, "missing": [r.as_dict() for r in rows]})
        return
    if not rows:
        typer.echo(f"所有在任代表都有 {model} 模型的人脸模板。")
        return
    table = Table(
        title=f"缺少 {model} 模型人脸模板的代表 {len(rows)} 名（报到机无法识别，请重新录入照片）"
    )
    for col in ("编号", "姓名", "已有模板的模型", "说明"):
        table.add_column(col)
    for r in rows:
        note = "模板被标记为疑似混入他人照片" if r.flagged else ""
        table.add_row(r.number, r.name, ", ".join(r.models) or "无", note)
    Console().print(table)
    typer.echo("重新录入：baodao enroll import 名册 --photos 照片目录（同一批照片即可）")


@enroll_app.command("bench")
def bench(
    faces: Path = typer.Option(..., "--faces", help="identity folders, e.g. ../shared/faces/dev"),
    workers: int = typer.Option(2, "--workers", min=1, max=64),
    limit: int = typer.Option(0, "--limit", min=0, help="use only the first N photos (0 = all)"),
) -> None:
    """Benchmark `enroll import` against a sequential face_recognition loop (photos/s, memory)."""
    from checkin.bench.enrollment import print_result, run_enroll_bench

    print_result(run_enroll_bench(faces, workers, limit=limit))


# --- deputy -----------------------------------------------------------------------------


def _deputy_dict(d: Any, templates: int) -> dict[str, Any]:
    return {
        "number": d.number,
        "name": d.name,
        "gender": d.gender,
        "unit": d.unit,
        "constituency": d.constituency,
        "phone": d.phone,
        "status": d.status.value,
        "templates": templates,
    }


@deputy_app.command("list")
def deputy_list(
    include_retired: bool = typer.Option(False, "--all", help="包括已离任代表"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """List deputies with their number of face templates of the active face model."""
    rt = open_runtime()
    model = rt.settings.face_model
    with session_scope(rt.sessions) as session:
        rows = [
            _deputy_dict(d, n)
            for d, n in service.get_all(
                session, model=model, scope=Scope.everything(), include_retired=include_retired
            )
        ]
    if as_json:
        _out(rows)
        return
    table = Table(title=f"代表 {len(rows)} 名（人脸模板：{model} 模型）")
    for col in ("编号", "姓名", "性别", "单位", "选区", "状态", "人脸模板"):
        table.add_column(col)
    for r in rows:
        table.add_row(
            r["number"],
            r["name"],
            r["gender"] or "",
            r["unit"] or "",
            r["constituency"] or "",
            r["status"],
            str(r["templates"]) if r["templates"] else "[red]0（无法识别）[/red]",
        )
    Console().print(table)


@deputy_app.command("show")
def deputy_show(number: str, as_json: bool = typer.Option(False, "--json")) -> None:
    """One deputy with their templates (quality, flagged) and look-alikes."""
    rt = open_runtime()
    with session_scope(rt.sessions) as session:
        d = service.get_deputy(session, number=number, scope=Scope.everything())
        model = rt.settings.face_model
        templates = service.templates_of(session, d, model=None)
        active = info(model).template_id
        data = _deputy_dict(d, sum(t.model_id == active for t in templates)) | {
            "template_details": [
                {
                    "id": t.id,
                    "model": t.model_id,
                    "quality": round(t.quality, 3),
                    "flagged": t.flagged,
                    "photo_sha256": t.photo_sha256[:12],
                    "created_at": t.created_at.isoformat(),
                }
                for t in templates
            ],
            "lookalikes": [
                p
                for p in service.get_lookalikes(session, model=model, scope=Scope.everything())
                if number in (p["a"]["number"], p["b"]["number"])
            ],
        }
    if as_json:
        _out(data)
        return
    for key in ("number", "name", "gender", "unit", "constituency", "phone", "status"):
        typer.echo(f"{key:>13}: {data[key] or ''}")
    typer.echo(f"{'templates':>13}: {data['templates']}")
    for t in data["template_details"]:
        flag = "  ⚠ 与其他照片差异大" if t["flagged"] else ""
        typer.echo(
            f"{'':>15}#{t['id']} {t['model']} quality={t['quality']} sha={t['photo_sha256']}{flag}"
        )
    for p in data["lookalikes"]:
        other = p["b"] if p["a"]["number"] == number else p["a"]
        typer.echo(f"{'look-alike':>13}: {other['number']} {other['name']} ({p['distance']:.3f})")


@deputy_app.command("move")
def deputy_move(
    number: str = typer.Argument(..., help="代表编号"),
    body: str = typer.Option(..., "--body", help="the body (id or name) the deputy moves to"),
) -> None:
    """Move a deputy to another body (audited); later meetings of that body include them."""
    rt = open_runtime()
    everything = Scope.everything()
    with session_scope(rt.sessions) as session:
        target = get_body(session, body, scope=everything)
        service.move_deputy(
            session, number=number, body_id=target.id, scope=everything, actor=Actor.cli()
        )
        typer.echo(f"{number} → {target.name}")


@deputy_app.command("retire")
def deputy_retire(
    number: str,
    at: str | None = typer.Option(None, "--at", help="离任日期 (default now), e.g. 2025-12-31"),
) -> None:
    """Retire a deputy (mandate ended): removed from galleries, attendance history kept."""
    rt = open_runtime()
    when = parse_when(at, "--at", rt.settings.timezone) if at is not None else None
    with session_scope(rt.sessions) as session:
        service.retire(session, number=number, actor=Actor.cli(), scope=Scope.everything(), at=when)
    typer.echo(f"代表 {number} 已离任。")


# --- identify ---------------------------------------------------------------------------


def identify(
    photo: Path = typer.Argument(..., help="一张照片"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Every face in the photo, its top-3 enrolled candidates and the match decision."""
    rt = open_runtime()
    with session_scope(rt.sessions) as session:
        identifier = service.Identifier.load(session, cipher=rt.cipher, settings=rt.settings)
    try:
        result = identifier.identify(photo)
    except UnreadableImage as exc:
        if as_json:
            _out({"error": exc.code, "message": exc.message})
        else:
            typer.echo(f"baodao: {exc.message}", err=True)
        raise typer.Exit(2) from None
    if as_json:
        _out(result)
        return
    if not result["faces"]:
        typer.echo("照片中没有检测到人脸。")
    for i, face in enumerate(result["faces"], start=1):
        match = face["match"]
        verdict = f"{match['number']} {match['name']}" if match else "未识别"
        typer.echo(f"人脸 {i} box={face['box']}: {verdict} ({face['reason']})")
        for c in face["candidates"]:
            typer.echo(f"    {c['number']} {c['name']}  {c['distance']:.3f}")
