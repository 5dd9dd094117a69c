"""Bulk import from the browser: a roster (XLSX/CSV) and a ZIP of photos, run as a background
job in the server while the page polls its progress.

- `POST /api/imports` (admin, multipart `roster`, `photos?`, `body_id?`): the roster is read
  at once (a bad file is answered 422 with the row named); the ZIP is unpacked safely
  (`enrollment.archive`) inside the data folder and the deputies are imported by
  `enrollment.service.import_roster` in a thread, the face work in the app's worker pool, so
  the event loop keeps serving. Answers 202 with the job.
- `GET /api/imports/{id}`: state, progress (photos done / total), per-row results with
  reasons, per-file problems of the ZIP, look-alike pairs found after the import.
- `GET /api/imports/{id}/report.xlsx`: the rows and files that failed, for the clerk.

Jobs live in this process's memory (a restart forgets them; what was imported stays), each
visible to accounts whose scope covers the scope it was started with.
"""

from __future__ import annotations

import io
import logging
import secrets
import shutil
import threading
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import JSONResponse, Response
from openpyxl import Workbook
from openpyxl.styles import Font

from checkin import audit
from checkin.accounts.scope import Scope, within
from checkin.errors import BaodaoError, InvalidInput, NotFound, TooLarge
from checkin.meetings.events import GalleryChanged
from checkin.meetings.service import get_body
from checkin.settings import Settings
from checkin.web.api.deputies import face_pool
from checkin.web.deps import AdminUser, ScopeDep, SessionDep
from checkin.web.files import download
from enrollment import archive, pipeline, service
from enrollment.roster import RosterError, RosterRow, read_csv, read_xlsx
from enrollment.service import DeputyResult
from models import utcnow

logger = logging.getLogger(__name__)
router = APIRouter(prefix="/api", tags=["imports"])
MAX_ROSTER_BYTES = 20_000_000
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
STATUS_ZH = {"created": "新录入", "updated": "已更新", "unchanged": "无变化", "failed": "失败"}


@dataclass
class ImportJob:
    id: str
    scope: Scope
    user: str
    body_id: int | None
    roster_name: str
    state: str = "queued"  # queued → unpacking → running → done | failed
    total: int = 0  # photos to process (known once the ZIP is unpacked)
    done: int = 0
    rows_total: int = 0
    rows: list[dict[str, Any]] = field(default_factory=list)
    files: list[dict[str, str]] = field(default_factory=list)
    lookalikes: list[dict[str, Any]] = field(default_factory=list)
    totals: dict[str, int] = field(default_factory=dict)
    error: str | None = None
    started_at: datetime = field(default_factory=utcnow)
    finished_at: datetime | None = None
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def as_dict(self) -> dict[str, Any]:
        with self.lock:
            return {
                "id": self.id,
                "state": self.state,
                "roster": self.roster_name,
                "body_id": self.body_id,
                "total": self.total,
                "done": self.done,
                "rows_total": self.rows_total,
                "rows_done": len(self.rows),
                "rows": list(self.rows),
                "files": list(self.files),
                "lookalikes": list(self.lookalikes),
                "totals": dict(self.totals),
                "error": self.error,
                "started_at": self.started_at.isoformat(),
                "finished_at": self.finished_at.isoformat() if self.finished_at else None,
            }


class ImportJobs:
    """The jobs of this process, by id."""

    def __init__(self) -> None:
        self._jobs: dict[str, ImportJob] = {}
        self._lock = threading.Lock()

    def add(self, job: ImportJob) -> None:
        with self._lock:
            self._jobs[job.id] = job

    def get(self, job_id: str, scope: Scope) -> ImportJob:
        """The job, if `scope` covers the scope it was started with; NotFound otherwise."""
        job = self._jobs.get(job_id)
        if job is None or not within(scope, job.scope):
            raise NotFound("没有这个导入任务 (no such import)")
        return job


def jobs_of(request: Request) -> ImportJobs:
    jobs: ImportJobs = request.app.state.imports  # made by create_app
    return jobs


def _row_dict(r: DeputyResult) -> dict[str, Any]:
    failed = [p for p in r.photos if p.status == "failed"]
    reasons = "；".join(p.message or p.reason or "" for p in failed)
    return {
        "number": r.number,
        "name": r.name,
        "status": r.status,
        "status_label": STATUS_ZH.get(r.status, r.status),
        "templates": r.templates,
        "photos_enrolled": sum(p.status == "enrolled" for p in r.photos),
        "photos_failed": len(failed),
        "reasons": reasons,
        "photos": [
            {"photo": p.photo, "status": p.status, "reason": p.reason, "message": p.message}
            for p in r.photos
        ],
    }


def _save(upload: UploadFile, path: Path, limit: int) -> int:
    """Stream an upload to disk, refusing it beyond `limit` bytes."""
    size = 0
    with open(path, "wb") as out:
        while chunk := upload.file.read(1 << 20):
            size += len(chunk)
            if size > limit:
                raise TooLarge(f"文件 {upload.filename} 超过 {limit // 1_000_000} MB 上限")
            out.write(chunk)
    return size


def _read_roster(name: str, data: bytes) -> list[RosterRow]:
    suffix = Path(name).suffix.lower()
    if suffix in (".xlsx", ".xlsm"):
        return read_xlsx(data)
    if suffix in (".csv", ".txt", ".tsv"):
        return read_csv(data)
    raise RosterError(f"名册必须是 .csv 或 .xlsx 文件（收到 {name}）")


def _unsafe_photo_names(rows: list[RosterRow]) -> dict[str, DeputyResult]:
    """Rows whose 照片 column names a path outside the photo folder: refused, never read."""
    out: dict[str, DeputyResult] = {}
    for row in rows:
        bad = [p for p in row.photos if archive._unsafe(p.replace("\\", "/")) or "\\" in p]
        if bad:
            out[row.number] = service._refused_row(
                row, "unsafe_path", f"照片文件名 {bad[0]!r} 不安全（含 ../ 或绝对路径）"
            )
    return out


def _run(app_state: Any, job: ImportJob, rows: list[RosterRow], folder: Path, zip_path: Path | None,
         actor: audit.Actor, pool: Any) -> None:  # fmt: skip
    settings: Settings = app_state.settings
    photos_dir = folder / "photos"
    try:
        if zip_path is not None:
            with job.lock:
                job.state = "unpacking"
            unpacked = archive.unpack_photos(
                zip_path,
                photos_dir,
                max_file_bytes=settings.max_image_bytes,
                max_total_bytes=settings.max_import_bytes * 4,
            )
            zip_path.unlink(missing_ok=True)
            with job.lock:
                job.files = [
                    {"name": p.name, "reason": p.reason, "message": p.message}
                    for p in unpacked.problems
                ]
        else:
            photos_dir.mkdir()
        refused = _unsafe_photo_names(rows)
        usable = [r for r in rows if r.number not in refused]

        def on_start(total: int) -> None:
            with job.lock:
                job.total, job.state = total, "running"

        def on_photo(_: object) -> None:
            with job.lock:
                job.done += 1

        def on_deputy(result: DeputyResult) -> None:
            with job.lock:
                job.rows.append(_row_dict(result))

        for r in refused.values():
            on_deputy(r)
        report = service.import_roster(
            app_state.sessions,
            cipher=app_state.cipher,
            settings=settings,
            rows=usable,
            photos_dir=photos_dir,
            workers=settings.workers or pipeline.default_workers(),
            actor=actor,
            scope=job.scope,
            default_body=job.body_id,
            on_start=on_start,
            on_photo=on_photo,
            on_deputy=on_deputy,
            pool=pool,
        )
        by_number = {d.number: d for d in report.deputies}
        by_number.update(refused)
        with job.lock:
            job.rows = [_row_dict(by_number[r.number]) for r in rows]  # roster order
            job.lookalikes = [p for p in report.lookalikes if _pair_in(job.scope, p, app_state)]
            totals = report.totals()
            totals["deputies"] = len(rows)
            totals["deputies_failed"] = sum(r["status"] == "failed" for r in job.rows)
            job.totals = totals
            job.state = "done"
        app_state.events.publish(GalleryChanged())
    except BaodaoError as exc:
        with job.lock:
            job.state, job.error = "failed", exc.message
    except Exception:
        logger.exception("import %s failed", job.id)
        with job.lock:
            job.state, job.error = "failed", "导入时发生内部错误，已记录日志 (internal error)"
    finally:
        with job.lock:
            job.finished_at = utcnow()
        shutil.rmtree(photos_dir, ignore_errors=True)  # the templates are stored; the photos go


def _pair_in(scope: Scope, pair: dict[str, Any], app_state: Any) -> bool:
    if scope.whole_tree:
        return True
    from sqlalchemy import select

    from models import Deputy

    numbers = [pair["a"]["number"], pair["b"]["number"]]
    with app_state.sessions() as session:
        bodies = session.scalars(select(Deputy.body_id).where(Deputy.number.in_(numbers))).all()
    return len(bodies) == 2 and all(scope.covers(b) for b in bodies)


@router.post("/imports", status_code=202)
def start_import(
    request: Request,
    admin: AdminUser,
    scope: ScopeDep,
    session: SessionDep,
    roster: Annotated[UploadFile, File(description="名册 .xlsx 或 .csv")],
    photos: Annotated[UploadFile | None, File(description="照片 .zip")] = None,
    body_id: Annotated[int | None, Form()] = None,
) -> JSONResponse:
    """Start an import: the roster is checked now (422 names the row), the rest runs in the
    background; poll `GET /api/imports/{id}`."""
    settings: Settings = request.app.state.settings
    if body_id is not None:  # else each row names its body (rows without one: per-row errors)
        get_body(session, body_id, scope=scope)
    name = roster.filename or "roster"
    data = roster.file.read(MAX_ROSTER_BYTES + 1)
    if len(data) > MAX_ROSTER_BYTES:
        raise TooLarge(f"名册文件超过 {MAX_ROSTER_BYTES // 1_000_000} MB 上限")
    rows = _read_roster(name, data)
    job = ImportJob(
        id=secrets.token_urlsafe(12),
        scope=scope,
        user=admin.username,
        body_id=body_id,
        roster_name=name,
        rows_total=len(rows),
    )
    folder = Path(settings.data_dir) / "imports" / job.id
    folder.mkdir(parents=True, mode=0o700)
    zip_path = None
    if photos is not None and photos.filename:
        if not photos.filename.lower().endswith(".zip"):
            shutil.rmtree(folder, ignore_errors=True)
            raise InvalidInput(f"照片请打包成 .zip 上传（收到 {photos.filename}）")
        zip_path = folder / "photos.zip"
        _save(photos, zip_path, settings.max_import_bytes)
    actor = audit.Actor(admin.username, user_id=admin.id)
    audit.record(
        session,
        actor=actor,
        action="import.start",
        detail={"job": job.id, "roster": name, "rows": len(rows), "body_id": body_id},
    )
    jobs_of(request).add(job)
    pool = face_pool(request)
    thread = threading.Thread(
        target=_run,
        args=(request.app.state, job, rows, folder, zip_path, actor, pool),
        name=f"import-{job.id}",
        daemon=True,
    )
    thread.start()
    return JSONResponse(job.as_dict(), status_code=202)


@router.get("/imports/{job_id}")
def import_status(job_id: str, request: Request, _: AdminUser, scope: ScopeDep) -> dict[str, Any]:
    """The job's state, progress and results so far."""
    return jobs_of(request).get(job_id, scope).as_dict()


@router.get("/imports/{job_id}/report.xlsx")
def import_report(job_id: str, request: Request, _: AdminUser, scope: ScopeDep) -> Response:
    """The rows and files that failed, with the reasons, as a workbook (错误报告)."""
    job = jobs_of(request).get(job_id, scope).as_dict()
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "未录入的代表"
    sheet.append(["代表编号", "姓名", "结果", "原因"])
    for row in job["rows"]:
        if row["status"] == "failed" or row["photos_failed"]:
            sheet.append([row["number"], row["name"], row["status_label"], row["reasons"]])
    files = book.create_sheet("压缩包中的问题文件")
    files.append(["文件", "原因"])
    for f in job["files"]:
        files.append([f["name"], f["message"]])
    for ws in (sheet, files):
        for cell in ws[1]:
            cell.font = Font(bold=True)
        ws.column_dimensions["A"].width = 24
        ws.column_dimensions["B"].width = 40
        ws.column_dimensions["D"].width = 80
    out = io.BytesIO()
    book.save(out)
    return download(out.getvalue(), "导入错误报告.xlsx", XLSX_TYPE, fallback="import-errors")
