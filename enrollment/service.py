"""Enrollment persistence: deputies, encrypted face templates, look-alike pairs, identify.

One transaction per deputy: the deputy's record, its templates and the audit event are
committed together or not at all. Face work happens before, in the pipeline's worker pool.

Templates belong to the face model that made them (`BAODAO_FACE_MODEL`): the photo-hash
dedupe, the mix-up flags, look-alikes, the duplicate-person check and identify all look at
the active model's templates only, so re-importing the same photos after switching models
adds that model's templates, and `missing_templates` lists who still lacks one.
"""

from __future__ import annotations

import logging
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import delete, func, or_, select
from sqlalchemy.orm import Session, sessionmaker

from checkin import audit
from checkin.accounts.scope import Scope
from checkin.audit import Actor
from checkin.errors import InvalidInput, NotFound
from checkin.faces import engine as fe
from checkin.faces.metric import distances
from checkin.faces.model import INFO, info
from checkin.recognition.decision import Gallery
from checkin.recognition.gallery import enrolled_templates
from checkin.settings import Settings
from enrollment import pipeline
from enrollment.pipeline import EngineParams, PhotoJob, PhotoOutcome
from enrollment.roster import RosterRow, find_photos
from models import Body, Deputy, DeputyStatus, FaceTemplate, LookalikePair, utcnow
from models.crypto import TemplateCipher
from models.db import session_scope

logger = logging.getLogger(__name__)

DEPUTY_FIELDS = ("name", "gender", "unit", "constituency", "phone")


def engine_params(settings: Settings) -> EngineParams:
    """Enrollment-quality engine parameters from the settings."""
    return EngineParams(
        model=settings.face_model,
        min_face_px=settings.enroll_min_face_px,
        jitters=settings.enroll_jitters,
        max_image_pixels=settings.max_image_pixels,
        max_image_bytes=settings.max_image_bytes,
    )


@dataclass(frozen=True)
class PhotoResult:
    """What happened to one photo: enrolled, duplicate (same bytes already stored) or failed.

    `duplicate_of` names the other deputy when the photo is refused (reason
    probable_duplicate) or enrolled by an admin's confirmation as being a different person.
    """

    number: str
    photo: str | None
    status: str
    reason: str | None = None
    message: str | None = None
    flagged: bool = False
    rotation: int = 0
    duplicate_of: dict[str, Any] | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class DeputyResult:
    """One deputy of an import: created, updated, unchanged or failed, with its photos."""

    number: str
    name: str | None
    status: str
    photos: list[PhotoResult] = field(default_factory=list)
    templates: int = 0  # stored templates of the active model after this change
    deputy_id: int | None = None
    added: list[Any] = field(default_factory=list, repr=False)  # the new encodings stored


@dataclass
class ImportReport:
    """Everything an import did; `as_dict()` is the --json report."""

    deputies: list[DeputyResult] = field(default_factory=list)
    lookalikes: list[dict[str, Any]] = field(default_factory=list)

    @property
    def photos(self) -> list[PhotoResult]:
        return [p for d in self.deputies for p in d.photos]

    def deputy_counts(self) -> Counter[str]:
        return Counter(d.status for d in self.deputies)

    def failed_by_reason(self) -> Counter[str]:
        return Counter(p.reason or "?" for p in self.photos if p.status == "failed")

    def totals(self) -> dict[str, int]:
        photos = self.photos
        counts = self.deputy_counts()
        return {
            "deputies": len(self.deputies),
            "enrolled_photos": sum(p.status == "enrolled" for p in photos),
            "duplicate_photos": sum(p.status == "duplicate" for p in photos),
            "failed_photos": sum(p.status == "failed" for p in photos),
            "flagged_photos": sum(p.flagged for p in photos),
            "deputies_created": counts["created"],
            "deputies_updated": counts["updated"],
            "deputies_unchanged": counts["unchanged"],
            "deputies_failed": counts["failed"],
            "lookalike_pairs": len(self.lookalikes),
        }

    def as_dict(self) -> dict[str, Any]:
        return {
            "photos": [
                {k: v for k, v in p.as_dict().items() if k not in ("rotation", "duplicate_of") or v}
                for p in self.photos
            ],
            "totals": self.totals(),
            "failed_by_reason": dict(self.failed_by_reason()),
            "lookalikes": self.lookalikes,
        }


# --- deputies -------------------------------------------------------------------------


def get_deputy(session: Session, *, number: str, scope: Scope) -> Deputy:
    """The deputy with this number if the scope covers their body; NotFound otherwise."""
    deputy = session.scalar(select(Deputy).where(Deputy.number == number))
    if deputy is None or not scope.covers(deputy.body_id):
        raise NotFound(f"没有编号为 {number} 的代表 (no deputy {number})")
    return deputy


def move_deputy(
    session: Session, *, number: str, body_id: int, scope: Scope, actor: Actor
) -> Deputy:
    """Move a deputy to another body; both bodies must be in the scope. Audited."""
    deputy = get_deputy(session, number=number, scope=scope)
    target = session.get(Body, body_id)
    if target is None or not scope.covers(target.id):
        raise NotFound(f"没有这个会议机构 (no body {body_id})")
    if deputy.body_id != target.id:
        before = deputy.body_id
        deputy.body_id = target.id
        audit.record(
            session,
            actor=actor,
            action="deputy.move",
            deputy_id=deputy.id,
            detail={"from_body_id": before, "to_body_id": target.id},
        )
        session.flush()
    return deputy


def get_all(
    session: Session,
    *,
    model: str,
    scope: Scope,
    include_retired: bool = False,
) -> list[tuple[Deputy, int]]:
    """Deputies in the scope by number, each with its number of face templates of face
    model `model`."""
    counts = (
        select(FaceTemplate.subject, func.count().label("n"))
        .where(FaceTemplate.model_id == info(model).template_id)
        .group_by(FaceTemplate.subject)
        .subquery()
    )
    query = (
        select(Deputy, func.coalesce(counts.c.n, 0))
        .outerjoin(counts, counts.c.subject == Deputy.face_subject)
        .where(scope.where(Deputy.body_id))
        .order_by(Deputy.number)
    )
    if not include_retired:
        query = query.where(Deputy.status == DeputyStatus.SEATED)
    return [(d, int(n)) for d, n in session.execute(query).all()]


def templates_of(session: Session, deputy: Deputy, *, model: str | None) -> list[FaceTemplate]:
    """A deputy's templates of face model `model` (None: of every model), oldest first."""
    query = select(FaceTemplate).where(FaceTemplate.subject == deputy.face_subject)
    if model is not None:
        query = query.where(FaceTemplate.model_id == info(model).template_id)
    return list(session.scalars(query.order_by(FaceTemplate.id)))


@dataclass(frozen=True)
class MissingTemplates:
    """A seated deputy the active face model cannot recognise: no usable template of it."""

    number: str
    name: str
    models: tuple[str, ...]  # the face models they do have templates of
    flagged: int  # templates of the active model set aside as a possible mix-up

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def missing_templates(session: Session, *, model: str) -> list[MissingTemplates]:
    """Seated deputies without a usable (unflagged) template of `model`, by number.

    After switching `BAODAO_FACE_MODEL` these are the deputies to re-photograph or to
    re-import with the same photos; until then the kiosk cannot recognise them.
    """
    by_id = {v.template_id: v.name for v in INFO.values()}
    active = info(model).template_id
    rows = session.execute(
        select(Deputy, FaceTemplate.model_id, FaceTemplate.flagged)
        .outerjoin(FaceTemplate, FaceTemplate.subject == Deputy.face_subject)
        .where(Deputy.status == DeputyStatus.SEATED)
        .order_by(Deputy.number)
    ).all()
    seen: dict[int, tuple[Deputy, set[str], int, bool]] = {}
    for deputy, model_id, flagged in rows:
        _, models, n_flagged, usable = seen.get(deputy.id, (deputy, set(), 0, False))
        if model_id is not None:
            models.add(by_id.get(model_id, model_id))
            if model_id == active:
                usable = usable or not flagged
                n_flagged += bool(flagged)
        seen[deputy.id] = (deputy, models, n_flagged, usable)
    return [
        MissingTemplates(d.number, d.name, tuple(sorted(models)), n_flagged)
        for d, models, n_flagged, usable in seen.values()
        if not usable
    ]


def upsert_deputy(session: Session, *, number: str, fields: dict[str, Any]) -> tuple[Deputy, str]:
    """Create or update the deputy `number`; returns it and created / updated / unchanged."""
    deputy = session.scalar(select(Deputy).where(Deputy.number == number))
    if deputy is None:
        deputy = Deputy(
            number=number,
            body_id=fields.get("body_id"),
            **{k: fields.get(k) for k in DEPUTY_FIELDS},
        )
        session.add(deputy)
        session.flush()
        return deputy, "created"
    changed = False
    for key in (*DEPUTY_FIELDS, "body_id"):
        if key in fields and getattr(deputy, key) != fields[key]:
            setattr(deputy, key, fields[key])
            changed = True
    return deputy, "updated" if changed else "unchanged"


def _row_fields(row: RosterRow) -> dict[str, Any]:
    fields: dict[str, Any] = {k: getattr(row, k) for k in DEPUTY_FIELDS}
    if row.body_id is not None:  # no body column: the deputy stays where they are
        fields["body_id"] = row.body_id
    return fields


def retire(
    session: Session, *, number: str, actor: Actor, scope: Scope, at: datetime | None = None
) -> Deputy:
    """Mark a deputy retired (mandate ended `at`, default now): out of galleries and
    look-alikes, history kept. Given `at` again, it corrects the date of the retirement."""
    deputy = get_deputy(session, number=number, scope=scope)
    if at is not None and at.tzinfo is None:
        raise InvalidInput("时间必须带时区 (times need a time zone)")
    if at is not None and deputy.elected_at is not None and at <= deputy.elected_at:
        raise InvalidInput("离任时间须晚于当选时间 (retired before being elected)")
    if deputy.status != DeputyStatus.RETIRED or (at is not None and at != deputy.retired_at):
        deputy.status = DeputyStatus.RETIRED
        deputy.retired_at = at or utcnow()
        _drop_lookalikes(session, deputy.id)
        audit.record(
            session,
            actor=actor,
            action="deputy.retire",
            deputy_id=deputy.id,
            detail={"at": deputy.retired_at.isoformat()},
        )
    return deputy


def remove_face_data(session: Session, *, number: str, actor: Actor, scope: Scope) -> int:
    """Delete a deputy's face templates (PIPL request); keeps the deputy and attendance.

    The deputy gets a new face subject, so nothing links old backups of templates to them.
    Returns the number of templates deleted.
    """
    deputy = get_deputy(session, number=number, scope=scope)
    result = session.execute(
        delete(FaceTemplate).where(FaceTemplate.subject == deputy.face_subject)
    )
    deleted = int(getattr(result, "rowcount", 0) or 0)
    deputy.face_subject = uuid.uuid4().hex
    _drop_lookalikes(session, deputy.id)
    audit.record(
        session,
        actor=actor,
        action="deputy.face_delete",
        deputy_id=deputy.id,
        detail={"templates_deleted": deleted},
    )
    return deleted


def _drop_lookalikes(session: Session, deputy_id: int) -> None:
    session.execute(
        delete(LookalikePair).where(
            or_(LookalikePair.deputy_a_id == deputy_id, LookalikePair.deputy_b_id == deputy_id)
        )
    )


# --- templates ------------------------------------------------------------------------


class DuplicateGuard:
    """The enrolled templates of the active model, to find one person under two numbers.

    Loaded once per import or upload and kept current as deputies are stored, so a
    1,300-deputy import decrypts each template once.
    """

    def __init__(self, model: str, rows: Sequence[tuple[Deputy, Any]]) -> None:
        self.limit = info(model).duplicate_distance
        self.metric = info(model).metric
        self.labels: list[int] = []
        self.rows: list[Any] = []
        self.who: dict[int, tuple[str, str]] = {}
        for deputy, encoding in rows:
            self.add(deputy.id, deputy.number, deputy.name, [encoding])

    @classmethod
    def load(cls, session: Session, *, cipher: TemplateCipher, model: str) -> DuplicateGuard:
        """Every seated deputy's usable templates of `model`."""
        return cls(model, enrolled_templates(session, cipher, model=model))

    def add(self, deputy_id: int, number: str, name: str, encodings: Sequence[Any]) -> None:
        """Remember a stored deputy's new templates."""
        self.who[deputy_id] = (number, name)
        for e in encodings:
            self.labels.append(deputy_id)
            self.rows.append(e)

    def nearest_other(self, deputy_id: int | None, encoding: Any) -> tuple[int, float] | None:
        """(deputy id, distance) of the closest other deputy nearer than the model's limit."""
        if self.limit is None or not self.rows:
            return None
        import numpy as np

        dist = distances(np.vstack(self.rows), encoding, self.metric)
        order = np.argsort(dist, kind="stable")
        for i in order:
            if dist[i] >= self.limit:
                return None
            if self.labels[i] != deputy_id:
                return self.labels[i], float(dist[i])
        return None


def persist_deputy(
    session: Session,
    *,
    cipher: TemplateCipher,
    model: str,
    number: str,
    outcomes: Sequence[PhotoOutcome],
    threshold: float,
    actor: Actor,
    row: RosterRow | None = None,
    require_face: bool = True,
    guard: DuplicateGuard | None = None,
    confirm_duplicate: bool = False,
) -> DeputyResult:
    """Store one deputy's roster data and new templates in the caller's transaction.

    Args:
        model: the face model that made the outcomes' encodings; only its templates count
            for the photo-hash dedupe and the mix-up flags.
        number: the deputy; with `row` it is created or updated, without it must exist.
        outcomes: the pipeline's verdicts on this deputy's photos, in report order.
        threshold: the match threshold, for the mix-up flag (pipeline.mixup_flags).
        require_face: a new deputy is created only if at least one photo is usable, so an
            import never leaves a deputy without face data behind.
        guard: the other deputies' templates; a new photo closer than the model's duplicate
            distance to another deputy blocks this deputy (probable_duplicate, nothing
            written) unless `confirm_duplicate` (an admin checked they are two people; the
            confirmation is audited).

    Returns:
        The per-photo results; status "failed" means nothing of this deputy was written.
    """
    deputy = session.scalar(select(Deputy).where(Deputy.number == number))
    if deputy is None and row is None:
        raise NotFound(f"没有编号为 {number} 的代表 (no deputy {number})")
    existing = templates_of(session, deputy, model=model) if deputy is not None else []
    known = {t.photo_sha256 for t in existing}
    new: list[PhotoOutcome] = []
    results: list[PhotoResult | None] = []
    for o in outcomes:
        if o.sha256 is not None and o.sha256 in known:
            results.append(
                PhotoResult(
                    number, o.label or None, "duplicate", "duplicate", pipeline.message("duplicate")
                )
            )
        elif not o.ok:
            results.append(PhotoResult(number, o.label or None, "failed", o.reason, o.message))
        else:
            assert o.sha256 is not None
            known.add(o.sha256)
            new.append(o)
            results.append(None)  # filled in below with its flag
    name = deputy.name if deputy is not None else (row.name if row else None)
    if deputy is None and require_face and not new:
        return DeputyResult(number, name, "failed", [r for r in results if r is not None])

    twins = _probable_duplicates(guard, deputy.id if deputy else None, new)
    if twins and not confirm_duplicate:
        code = "probable_duplicate"
        blocked = [
            PhotoResult(
                number, o.label or None, "failed", code, _duplicate_message(twins[o.label]),
                duplicate_of=twins[o.label],
            )
            if o.label in twins
            else PhotoResult(number, o.label or None, "failed", code, pipeline.message(code))
            for o in new
        ]  # fmt: skip
        it = iter(blocked)
        return DeputyResult(
            number, name, "failed", [r if r is not None else next(it) for r in results]
        )

    status = "unchanged"
    if row is not None:
        deputy, status = upsert_deputy(session, number=number, fields=_row_fields(row))
    assert deputy is not None
    old_encodings = [cipher.decrypt(t.encoding) for t in existing]
    flags = pipeline.mixup_flags(
        old_encodings + [o.encoding for o in new if o.encoding is not None],
        threshold=threshold,
        metric=info(model).metric,
    )
    for template, flag in zip(existing, flags, strict=False):
        if template.flagged != flag:
            template.flagged = flag
    new_flags = flags[len(existing) :]
    for o, flag in zip(new, new_flags, strict=True):
        assert o.encoding is not None and o.sha256 is not None
        session.add(
            FaceTemplate(
                subject=deputy.face_subject,
                encoding=cipher.encrypt(o.encoding),
                model_id=info(model).template_id,
                quality=float(o.quality),
                photo_sha256=o.sha256,
                flagged=flag,
            )
        )
    it2 = iter(zip(new, new_flags, strict=True))
    filled: list[PhotoResult] = []
    for r in results:
        if r is None:
            o, flag = next(it2)
            filled.append(
                PhotoResult(
                    number, o.label or None, "enrolled", None, None, flag, o.rotation,
                    twins.get(o.label),
                )
            )  # fmt: skip
        else:
            filled.append(r)
    if new and status == "unchanged":
        status = "updated"
    if twins:
        audit.record(
            session,
            actor=actor,
            action="deputy.duplicate_confirmed",
            deputy_id=deputy.id,
            detail={"model": model, "photos": twins},
        )
    if status != "unchanged":
        audit.record(
            session,
            actor=actor,
            action="deputy.enroll",
            deputy_id=deputy.id,
            detail={
                "status": status,
                "model": model,
                "enrolled": len(new),
                "flagged": sum(new_flags),
                "failed": sum(r.status == "failed" for r in filled),
            },
        )
    session.flush()
    return DeputyResult(
        number,
        deputy.name,
        status,
        filled,
        len(existing) + len(new),
        deputy.id,
        [o.encoding for o, flag in zip(new, new_flags, strict=True) if not flag],
    )


def _probable_duplicates(
    guard: DuplicateGuard | None, deputy_id: int | None, new: Sequence[PhotoOutcome]
) -> dict[str, dict[str, Any]]:
    """Photo label -> the other deputy it probably shows: {number, name, distance}."""
    out: dict[str, dict[str, Any]] = {}
    if guard is None:
        return out
    for o in new:
        hit = guard.nearest_other(deputy_id, o.encoding)
        if hit is not None:
            number, name = guard.who[hit[0]]
            out[o.label] = {"number": number, "name": name, "distance": round(hit[1], 4)}
    return out


def _duplicate_message(other: dict[str, Any]) -> str:
    return (
        f"该照片与已录入的代表 {other['number']} {other['name']} 极为相似"
        f"（距离 {other['distance']:.3f}），疑似同一人以两个编号录入；请核对，"
        "如确为两人，由管理员确认（--confirm-duplicate 或 confirm_duplicate=true）后录入。"
    )


def _storage_failure(
    number: str, name: str | None, outcomes: Sequence[PhotoOutcome]
) -> DeputyResult:
    code = "storage_error"
    photos = [
        PhotoResult(number, o.label or None, "failed", code, pipeline.message(code))
        for o in outcomes
    ]
    return DeputyResult(number, name, "failed", photos)


def store_one(
    sessions: sessionmaker[Session],
    *,
    cipher: TemplateCipher,
    model: str,
    number: str,
    outcomes: Sequence[PhotoOutcome],
    threshold: float,
    actor: Actor,
    row: RosterRow | None = None,
    guard: DuplicateGuard | None = None,
    confirm_duplicate: bool = False,
) -> DeputyResult:
    """persist_deputy in its own transaction; a database failure fails only this deputy.

    After the commit the deputy's new templates join `guard`, so the next deputy of the
    same import is checked against them too.
    """
    try:
        with session_scope(sessions) as session:
            result = persist_deputy(
                session,
                cipher=cipher,
                model=model,
                number=number,
                outcomes=outcomes,
                threshold=threshold,
                actor=actor,
                row=row,
                guard=guard,
                confirm_duplicate=confirm_duplicate,
            )
    except NotFound:
        raise
    except Exception:
        logger.exception("storing deputy %s failed; nothing of this deputy was saved", number)
        return _storage_failure(number, row.name if row else None, outcomes)
    if guard is not None and result.deputy_id is not None and result.added:
        guard.add(result.deputy_id, number, result.name or number, result.added)
    return result


def known_hashes(session: Session, *, model: str) -> dict[str, set[str]]:
    """Stored photo hashes per deputy number, of `model`'s templates (to skip photos already
    enrolled for this model; the same photo is enrolled again for another model)."""
    rows = session.execute(
        select(Deputy.number, FaceTemplate.photo_sha256)
        .join(FaceTemplate, FaceTemplate.subject == Deputy.face_subject)
        .where(FaceTemplate.model_id == info(model).template_id)
    )
    out: dict[str, set[str]] = {}
    for number, sha in rows:
        out.setdefault(number, set()).add(sha)
    return out


def _label(path: Path, base: Path) -> str:
    try:
        return str(path.relative_to(base))
    except ValueError:
        return str(path)


def _refused_row(row: RosterRow, reason: str, message: str) -> DeputyResult:
    text = f"第 {row.row} 行：{message}"
    return DeputyResult(
        row.number, row.name, "failed", [PhotoResult(row.number, None, "failed", reason, text)]
    )


def resolve_bodies(
    session: Session,
    rows: Sequence[RosterRow],
    *,
    scope: Scope,
    default_body: int | None = None,
) -> tuple[list[RosterRow], dict[str, DeputyResult]]:
    """Each row's body: its 所属人大/代表团 name, else `default_body` (`--body`).

    Returns the rows that may be imported (with `body_id` set) and, per number, the refused
    ones, which the import writes nothing of: an unknown body name (or one outside the scope:
    the same answer), no body at all for an account limited to some bodies (the deputy would
    vanish from its view), a number already used by a deputy outside the scope.
    """
    if default_body is not None and not scope.covers(default_body):
        raise NotFound(f"没有这个会议机构 (no body {default_body})")
    by_name = {
        name: bid
        for bid, name in session.execute(select(Body.id, Body.name).where(scope.where(Body.id)))
    }
    numbers = [r.number for r in rows]
    owners = dict(
        session.execute(
            select(Deputy.number, Deputy.body_id).where(Deputy.number.in_(numbers))
        ).all()
    )
    ok: list[RosterRow] = []
    refused: dict[str, DeputyResult] = {}
    for row in rows:
        body_id = default_body
        if row.body is not None:
            body_id = by_name.get(row.body)
            if body_id is None:
                refused[row.number] = _refused_row(
                    row,
                    "unknown_body",
                    f"没有名为「{row.body}」的会议机构（所属人大/代表团），请先在「会议机构」中"
                    "创建，或改正名称 (unknown body)",
                )
                continue
        if body_id is None and not scope.whole_tree:
            refused[row.number] = _refused_row(
                row, "body_required", "请填写所属人大/代表团，或在导入时选择会议机构 (no body)"
            )
            continue
        if row.number in owners and not scope.covers(owners[row.number]):
            refused[row.number] = _refused_row(
                row,
                "number_taken",
                f"代表编号 {row.number} 已被您管理范围之外的代表使用 (number in use)",
            )
            continue
        ok.append(replace(row, body_id=body_id))
    return ok, refused


def import_roster(
    sessions: sessionmaker[Session],
    *,
    cipher: TemplateCipher,
    settings: Settings,
    rows: Sequence[RosterRow],
    photos_dir: Path,
    workers: int,
    actor: Actor,
    scope: Scope,
    default_body: int | None = None,
    on_photo: Callable[[PhotoOutcome], None] | None = None,
    on_start: Callable[[int], None] | None = None,
    on_deputy: Callable[[DeputyResult], None] | None = None,
    confirm_duplicates: frozenset[str] = frozenset(),
    pool: ProcessPoolExecutor | None = None,
) -> ImportReport:
    """Import a parsed roster: face work in `workers` processes, one transaction per deputy.

    Each row goes into its body (`resolve_bodies`); a refused row is reported and nothing
    of it is written. Photos whose bytes are already stored for the deputy (for the active
    face model) are not processed again, so a repeated import is fast and changes nothing. A
    deputy whose photo probably shows another enrolled deputy is not stored unless their
    number is in `confirm_duplicates`. Look-alike pairs are refreshed at the end.
    """
    model = settings.face_model
    fe.check_model(model)
    all_rows = list(rows)
    with session_scope(sessions) as session:
        rows, refused = resolve_bodies(session, all_rows, scope=scope, default_body=default_body)
        stored = known_hashes(session, model=model)
        guard = DuplicateGuard.load(session, cipher=cipher, model=model)
    if on_deputy is not None:
        for r in refused.values():
            on_deputy(r)
    pending: dict[str, list[PhotoOutcome]] = {}
    expected: dict[str, int] = {}
    order: dict[str, list[str]] = {}
    jobs: list[PhotoJob] = []
    for row in rows:
        paths = find_photos(row, photos_dir)
        outcomes = pending.setdefault(row.number, [])
        order[row.number] = [_label(p, photos_dir) for p in paths]
        expected[row.number] = max(1, len(paths))
        if not paths:
            outcomes.append(PhotoOutcome(row.number, "", None, False, "photo_missing"))
        for path in paths:
            label = _label(path, photos_dir)
            sha = pipeline.sha256_file(path) if row.number in stored else None
            if sha is not None and sha in stored[row.number]:
                outcomes.append(PhotoOutcome(row.number, label, sha, False, "duplicate"))
            else:
                jobs.append(PhotoJob(key=row.number, label=label, path=path))
    if on_start is not None:
        on_start(sum(expected.values()))
    by_number = {row.number: row for row in rows}
    results: dict[str, DeputyResult] = {}
    threshold = settings.match_threshold

    def finish(number: str) -> None:
        rank = {label: i for i, label in enumerate(order[number])}
        outcomes = sorted(pending.pop(number), key=lambda o: rank.get(o.label, -1))
        results[number] = store_one(
            sessions,
            cipher=cipher,
            model=model,
            number=number,
            outcomes=outcomes,
            threshold=threshold,
            actor=actor,
            row=by_number[number],
            guard=guard,
            confirm_duplicate=number in confirm_duplicates,
        )
        if on_deputy is not None:
            on_deputy(results[number])

    for number, outcomes in list(pending.items()):
        for o in outcomes:
            if on_photo is not None:
                on_photo(o)
        if len(outcomes) == expected[number]:
            finish(number)
    params = engine_params(settings)
    for outcome in pipeline.run_jobs(jobs, params, workers=workers, pool=pool):
        if on_photo is not None:
            on_photo(outcome)
        pending[outcome.key].append(outcome)
        if len(pending[outcome.key]) == expected[outcome.key]:
            finish(outcome.key)
    results.update(refused)
    report = ImportReport([results[row.number] for row in all_rows])
    with session_scope(sessions) as session:
        report.lookalikes = refresh_lookalikes(session, cipher=cipher, settings=settings)
    return report


def add_photos(
    sessions: sessionmaker[Session],
    *,
    cipher: TemplateCipher,
    settings: Settings,
    number: str,
    jobs: Sequence[PhotoJob],
    actor: Actor,
    workers: int = 1,
    pool: ProcessPoolExecutor | None = None,
    new: RosterRow | None = None,
    confirm_duplicate: bool = False,
    scope: Scope,
) -> DeputyResult:
    """Enrol photos of a deputy (one transaction); refreshes look-alikes.

    The deputy must exist, unless `new` gives the roster data to create them with (then,
    as in an import, nobody is created without a usable photo). A photo that probably shows
    another enrolled deputy blocks the change unless `confirm_duplicate`.
    """
    model = settings.face_model
    fe.check_model(model)
    with session_scope(sessions) as session:
        exists = session.scalar(select(Deputy.id).where(Deputy.number == number)) is not None
        if exists or new is None:
            get_deputy(session, number=number, scope=scope)  # NotFound with the usual message
        elif new.body_id is not None:
            scope.check(new.body_id, "会议机构")
        guard = DuplicateGuard.load(session, cipher=cipher, model=model)
    outcomes = {
        o.label: o
        for o in pipeline.run_jobs(jobs, engine_params(settings), workers=workers, pool=pool)
    }
    result = store_one(
        sessions,
        cipher=cipher,
        model=model,
        number=number,
        threshold=settings.match_threshold,
        outcomes=[outcomes[j.label] for j in jobs],
        actor=actor,
        row=None if exists else new,
        guard=guard,
        confirm_duplicate=confirm_duplicate,
    )
    with session_scope(sessions) as session:
        refresh_lookalikes(session, cipher=cipher, settings=settings)
    return result


# --- gallery, look-alikes, identify ---------------------------------------------------


def load_gallery(
    session: Session, *, cipher: TemplateCipher, model: str
) -> tuple[Gallery, dict[int, Deputy]]:
    """The templates the live matcher uses (`gallery.enrolled_templates`) as one Gallery."""
    rows = enrolled_templates(session, cipher, model=model)
    deputies = {deputy.id: deputy for deputy, _ in rows}
    gallery = Gallery.build(((d.id, enc) for d, enc in rows), metric=info(model).metric)
    return gallery, deputies


def refresh_lookalikes(
    session: Session, *, cipher: TemplateCipher, settings: Settings
) -> list[dict[str, Any]]:
    """Recompute and store look-alike pairs over all seated deputies (active model's
    templates); returns them with a sentence of advice each."""
    model = settings.face_model
    gallery, deputies = load_gallery(session, cipher=cipher, model=model)
    below = settings.match_threshold + settings.lookalike_safety_margin
    pairs = pipeline.lookalike_pairs(gallery, below=below)
    session.execute(delete(LookalikePair))
    for p in pairs:
        session.add(LookalikePair(deputy_a_id=p.a, deputy_b_id=p.b, distance=p.distance))
    session.flush()
    return [_pair_dict(deputies[p.a], deputies[p.b], p.distance, model) for p in pairs]


LOOKALIKE_ADVICE = (
    "两位代表长相相近，报到机会要求更明显的差距才确认：请为两人各补录一张不同时间拍摄的"
    "正面照片（baodao enroll add 编号 照片），提高区分度；现场如未能识别，请核对证件后手动补签到。"
)
TWIN_ADVICE = (
    "两人的照片极为相似，可能是同一人以两个编号录入：请先核对两人的身份和照片；"
    "如确为两人，请各补录一张不同时间拍摄的正面照片，现场未能识别时核对证件后手动补签到。"
)


def lookalike_advice(distance: float, model: str) -> str:
    """A sentence for the clerk about one look-alike pair."""
    limit = info(model).duplicate_distance
    return TWIN_ADVICE if limit is not None and distance < limit else LOOKALIKE_ADVICE


def _pair_dict(a: Deputy, b: Deputy, distance: float, model: str) -> dict[str, Any]:
    return {
        "a": {"number": a.number, "name": a.name},
        "b": {"number": b.number, "name": b.name},
        "distance": round(distance, 4),
        "advice": lookalike_advice(distance, model),
    }


def get_lookalikes(session: Session, *, model: str, scope: Scope) -> list[dict[str, Any]]:
    """The stored look-alike pairs of two deputies in the scope, nearest first, with advice
    (distances of `model`)."""
    pairs = session.scalars(select(LookalikePair).order_by(LookalikePair.distance))
    return [
        _pair_dict(p.deputy_a, p.deputy_b, p.distance, model)
        for p in pairs
        if scope.covers(p.deputy_a.body_id) and scope.covers(p.deputy_b.body_id)
    ]


def lookalike_ids(session: Session) -> frozenset[int]:
    """Deputy ids that appear in any stored look-alike pair."""
    rows = session.execute(select(LookalikePair.deputy_a_id, LookalikePair.deputy_b_id))
    return frozenset(i for pair in rows for i in pair)


@dataclass
class Identifier:
    """Identify photos against the enrolled gallery with the live matcher's decision."""

    gallery: Gallery
    deputies: dict[int, Deputy]
    lookalikes: frozenset[int]
    settings: Settings

    @classmethod
    def load(cls, session: Session, *, cipher: TemplateCipher, settings: Settings) -> Identifier:
        gallery, deputies = load_gallery(session, cipher=cipher, model=settings.face_model)
        return cls(gallery, deputies, lookalike_ids(session), settings)

    def identify(self, data: bytes | Path) -> dict[str, Any]:
        """The identify report for one photo; raises UnreadableImage for bad image data."""
        image = fe.load_image(data, max_pixels=self.settings.max_image_pixels)
        faces = pipeline.identify_faces(
            image,
            self.gallery,
            model=self.settings.face_model,
            threshold=self.settings.match_threshold,
            margin=self.settings.match_margin,
            min_face_px=self.settings.min_face_px,
            jitters=self.settings.live_jitters,
            lookalikes=self.lookalikes,
            lookalike_margin=self.settings.lookalike_margin,
        )
        return {"faces": [self._face(f) for f in faces]}

    def _face(self, f: pipeline.FaceIdentity) -> dict[str, Any]:
        def who(pid: int) -> dict[str, str]:
            d = self.deputies[pid]
            return {"number": d.number, "name": d.name}

        return {
            "box": list(f.box),
            "candidates": [
                who(c.person_id) | {"distance": round(c.distance, 4)} for c in f.candidates
            ],
            "match": who(f.person_id) if f.person_id is not None else None,
            "reason": f.reason,
            "margin": None if f.margin is None else round(f.margin, 4),
        }
