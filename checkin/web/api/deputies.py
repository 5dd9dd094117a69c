"""Deputies REST API: create, list, update, upload photos, delete face data, look-alikes,
and which deputies the active face model cannot recognise yet."""

from __future__ import annotations

import threading
from concurrent.futures import ProcessPoolExecutor
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, File, Request, UploadFile
from pydantic import BaseModel, Field

from checkin import audit
from checkin.errors import Conflict, InvalidInput, TooLarge
from checkin.faces.model import info
from checkin.meetings import terms
from checkin.meetings.events import GalleryChanged
from checkin.meetings.service import get_body
from checkin.protocol import Int64
from checkin.settings import Settings
from checkin.web.deps import AdminUser, ScopeDep, SessionDep, StaffUser
from enrollment import pipeline, service
from enrollment.pipeline import PhotoJob
from models import Deputy, DeputyStatus
from models.db import scrub

router = APIRouter(prefix="/api", tags=["deputies"])
MAX_PHOTOS_PER_UPLOAD = 20
_pool_lock = threading.Lock()


class DeputyCreate(BaseModel):
    number: str = Field(min_length=1, max_length=40, pattern=r"^[0-9A-Za-z][0-9A-Za-z_.\-]*$")
    name: str = Field(min_length=1, max_length=100)
    gender: str | None = Field(None, max_length=10)
    unit: str | None = Field(None, max_length=200)
    constituency: str | None = Field(None, max_length=200)
    phone: str | None = Field(None, max_length=40)
    body_id: Int64 | None = None  # required for an account limited to some bodies


class DeputyUpdate(BaseModel):
    name: str | None = Field(None, min_length=1, max_length=100)
    gender: str | None = Field(None, max_length=10)
    unit: str | None = Field(None, max_length=200)
    constituency: str | None = Field(None, max_length=200)
    phone: str | None = Field(None, max_length=40)
    status: DeputyStatus | None = None
    elected_at: datetime | None = None  # mandate start (补选); null: since the term began
    retired_at: datetime | None = None  # mandate end: retires the deputy at that time
    delegation: str | None = Field(None, max_length=100)  # 代表团
    body_id: Int64 | None = None  # move to another body (both in the account's scope)


class DeputyRead(BaseModel):
    id: int
    number: str
    name: str
    gender: str | None
    unit: str | None
    constituency: str | None
    phone: str | None
    status: DeputyStatus
    templates: int
    elected_at: datetime | None = None
    retired_at: datetime | None = None
    delegation: str | None = None
    body_id: int | None = None


class DuplicateOf(BaseModel):
    number: str
    name: str
    distance: float


class PhotoResultRead(BaseModel):
    photo: str | None
    status: str  # enrolled / duplicate / failed
    reason: str | None
    message: str | None
    flagged: bool
    duplicate_of: DuplicateOf | None = None  # the other deputy a probable_duplicate shows


class MissingRead(BaseModel):
    number: str
    name: str
    models: list[str]  # face models they do have templates of
    flagged: int  # templates of the active model set aside as a possible mix-up


class FaceModelRead(BaseModel):
    model: str  # the active face model (BAODAO_FACE_MODEL)
    template_id: str
    metric: str
    match_threshold: float
    match_margin: float
    seated: int  # seated deputies
    recognisable: int  # seated deputies with a usable template of the active model
    missing: list[MissingRead]  # the others: re-photograph or re-import them


class UploadRead(BaseModel):
    number: str
    templates: int
    photos: list[PhotoResultRead]


def _read(d: Deputy, templates: int) -> DeputyRead:
    return DeputyRead(
        id=d.id,
        number=d.number,
        name=d.name,
        gender=d.gender,
        unit=d.unit,
        constituency=d.constituency,
        phone=d.phone,
        status=d.status,
        templates=templates,
        elected_at=d.elected_at,
        retired_at=d.retired_at,
        delegation=d.delegation,
        body_id=d.body_id,
    )


def _actor(user: Any) -> audit.Actor:
    return audit.Actor(user.username, user_id=user.id)


def face_pool(request: Request) -> ProcessPoolExecutor:
    """The app's face worker pool (spawned on first use; the web server is threaded)."""
    state = request.app.state
    with _pool_lock:
        pool: ProcessPoolExecutor | None = getattr(state, "face_pool", None)
        if pool is None:
            settings: Settings = state.settings
            pool = pipeline.make_pool(settings.workers or pipeline.default_workers(), fork=False)
            state.face_pool = pool
    return pool


def _model(request: Request) -> str:
    settings: Settings = request.app.state.settings
    return settings.face_model


@router.get("/deputies")
def list_deputies(
    request: Request,
    _: StaffUser,
    scope: ScopeDep,
    session: SessionDep,
    include_retired: bool = False,
) -> list[DeputyRead]:
    """Deputies in the account's scope by number with their number of face templates of the
    active face model."""
    rows = service.get_all(
        session, model=_model(request), scope=scope, include_retired=include_retired
    )
    return [_read(d, n) for d, n in rows]


@router.get("/deputies/{number}")
def get_deputy(
    number: str, request: Request, _: StaffUser, scope: ScopeDep, session: SessionDep
) -> DeputyRead:
    d = service.get_deputy(session, number=number, scope=scope)
    return _read(d, len(service.templates_of(session, d, model=_model(request))))


@router.get("/face-model")
def face_model(
    request: Request, _: StaffUser, scope: ScopeDep, session: SessionDep
) -> FaceModelRead:
    """The active face model and the seated deputies (of the account's scope) it cannot
    recognise (no template of it)."""
    settings: Settings = request.app.state.settings
    model = settings.face_model
    seated_rows = service.get_all(session, model=model, scope=scope)
    visible = {d.number for d, _ in seated_rows}
    missing = [m for m in service.missing_templates(session, model=model) if m.number in visible]
    seated = len(seated_rows)
    return FaceModelRead(
        model=model,
        template_id=info(model).template_id,
        metric=info(model).metric,
        match_threshold=settings.match_threshold,
        match_margin=settings.match_margin,
        seated=seated,
        recognisable=seated - len(missing),
        missing=[MissingRead(**m.as_dict()) for m in missing],
    )


@router.post("/deputies", status_code=201)
def create_deputy(
    body: DeputyCreate, admin: AdminUser, scope: ScopeDep, session: SessionDep
) -> DeputyRead:
    """Create a deputy in a body of the account's scope without photos (upload them next);
    409 if the number exists."""
    if body.body_id is not None:
        get_body(session, body.body_id, scope=scope)
    elif not scope.whole_tree:
        raise InvalidInput("请选择所属人大/代表团 (body_id is required)")
    fields = body.model_dump(exclude={"number"})
    deputy, status = service.upsert_deputy(session, number=body.number, fields=fields)
    if status != "created":
        raise Conflict(f"代表编号 {body.number} 已存在 (deputy exists)")
    audit.record(session, actor=_actor(admin), action="deputy.create", deputy_id=deputy.id)
    return _read(deputy, 0)


@router.patch("/deputies/{number}")
def update_deputy(
    number: str,
    body: DeputyUpdate,
    request: Request,
    admin: AdminUser,
    scope: ScopeDep,
    session: SessionDep,
) -> DeputyRead:
    """Change a deputy's details; status "retired" (or a `retired_at`) retires them;
    `elected_at` and `delegation` set the mandate's start and the 代表团; `body_id` moves
    them to another body."""
    deputy = service.get_deputy(session, number=number, scope=scope)
    mandate = body.model_dump(exclude_unset=True, include={"elected_at", "delegation"})
    fields = body.model_dump(
        exclude_unset=True,
        exclude={"status", "elected_at", "retired_at", "delegation", "body_id"},
    )
    if body.body_id is not None:
        service.move_deputy(
            session, number=number, body_id=body.body_id, scope=scope, actor=_actor(admin)
        )
    if mandate:
        terms.update_mandate(session, deputy=deputy, actor=_actor(admin), **mandate)
    if "name" in fields and fields["name"] is None:
        raise InvalidInput("姓名不能为空 (name cannot be empty)")
    service.upsert_deputy(session, number=number, fields=fields)
    if fields:
        audit.record(
            session,
            actor=_actor(admin),
            action="deputy.update",
            deputy_id=deputy.id,
            detail={"fields": sorted(fields)},
        )
    retired = body.status == DeputyStatus.RETIRED and deputy.status != DeputyStatus.RETIRED
    if body.retired_at is not None:
        service.retire(session, number=number, actor=_actor(admin), scope=scope, at=body.retired_at)
    elif retired:
        service.retire(session, number=number, actor=_actor(admin), scope=scope)
    elif body.status == DeputyStatus.SEATED and deputy.status != DeputyStatus.SEATED:
        deputy.status, deputy.retired_at = DeputyStatus.SEATED, None
        audit.record(session, actor=_actor(admin), action="deputy.reseat", deputy_id=deputy.id)
    session.commit()
    if body.status is not None or body.retired_at is not None:
        request.app.state.events.publish(GalleryChanged())
    return _read(deputy, len(service.templates_of(session, deputy, model=_model(request))))


@router.post("/deputies/{number}/photos")
def upload_photos(
    number: str,
    files: Annotated[list[UploadFile], File(description="one or more photos")],
    request: Request,
    admin: AdminUser,
    scope: ScopeDep,
    session: SessionDep,
    confirm_duplicate: bool = False,
) -> UploadRead:
    """Enrol photos of a deputy; each photo gets its own result (enrolled/duplicate/failed).

    A photo that probably shows another enrolled deputy fails as probable_duplicate and
    nothing is stored, unless `confirm_duplicate=true` (an admin checked that they are two
    people; audited as deputy.duplicate_confirmed).
    """
    service.get_deputy(session, number=number, scope=scope)
    settings: Settings = request.app.state.settings
    if len(files) > MAX_PHOTOS_PER_UPLOAD:
        raise InvalidInput(f"一次最多上传 {MAX_PHOTOS_PER_UPLOAD} 张照片")
    jobs = []
    for i, upload in enumerate(files):
        if upload.size is not None and upload.size > settings.max_image_bytes:
            raise TooLarge(
                f"照片 {upload.filename} 超过 {settings.max_image_bytes // 1_000_000} MB 上限"
            )
        data = upload.file.read(settings.max_image_bytes + 1)
        if len(data) > settings.max_image_bytes:
            raise TooLarge(
                f"照片 {upload.filename} 超过 {settings.max_image_bytes // 1_000_000} MB 上限"
            )
        jobs.append(PhotoJob(key=number, label=upload.filename or f"photo-{i + 1}", data=data))
    if not jobs:
        raise InvalidInput("请至少上传一张照片")
    # Distinct labels: the service matches outcomes to jobs by label.
    seen: dict[str, int] = {}
    for i, job in enumerate(jobs):
        n = seen[job.label] = seen.get(job.label, 0) + 1
        if n > 1:
            jobs[i] = PhotoJob(key=number, label=f"{job.label}#{n}", data=job.data)
    session.close()  # the face work takes seconds; do not hold a connection meanwhile
    result = service.add_photos(
        request.app.state.sessions,
        cipher=request.app.state.cipher,
        settings=settings,
        number=number,
        jobs=jobs,
        actor=_actor(admin),
        pool=face_pool(request),
        confirm_duplicate=confirm_duplicate,
        scope=scope,
    )
    if any(p.status == "enrolled" for p in result.photos):
        request.app.state.events.publish(GalleryChanged())
    return UploadRead(
        number=number,
        templates=result.templates,
        photos=[
            PhotoResultRead(
                photo=p.photo,
                status=p.status,
                reason=p.reason,
                message=p.message,
                flagged=p.flagged,
                duplicate_of=DuplicateOf(**p.duplicate_of) if p.duplicate_of else None,
            )
            for p in result.photos
        ],
    )


@router.delete("/deputies/{number}/face")
def delete_face_data(
    number: str, request: Request, admin: AdminUser, scope: ScopeDep, session: SessionDep
) -> dict[str, Any]:
    """Delete a deputy's face data; the deputy and attendance history stay."""
    deleted = service.remove_face_data(session, number=number, actor=_actor(admin), scope=scope)
    session.commit()
    scrub(request.app.state.engine)  # the deleted templates' bytes leave the WAL too
    request.app.state.events.publish(GalleryChanged())
    return {"number": number, "templates_deleted": deleted}


@router.get("/lookalikes")
def list_lookalikes(
    request: Request, _: StaffUser, scope: ScopeDep, session: SessionDep
) -> list[dict[str, Any]]:
    """Pairs of deputies who look alike (stored after each enrollment), nearest first, each
    with a sentence of advice for the clerk; only pairs of two deputies in the scope."""
    return service.get_lookalikes(session, model=_model(request), scope=scope)
