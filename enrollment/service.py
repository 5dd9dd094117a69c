"""Enrollment persistence: deputies, encrypted face templates, look-alike pairs, identify.

One transaction per deputy: the deputy's record, its templates and the audit event are
committed together or not at all. Face work happens before, in the pipeline's worker pool.
"""

from __future__ import annotations

import logging
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import delete, func, or_, select
from sqlalchemy.orm import Session, sessionmaker

from checkin import audit
from checkin.audit import Actor
from checkin.errors import InvalidInput, NotFound
from checkin.faces import engine as fe
from checkin.recognition.decision import Gallery
from checkin.recognition.gallery import enrolled_templates
from checkin.settings import Settings
from enrollment import pipeline
from enrollment.pipeline import EngineParams, PhotoJob, PhotoOutcome
from enrollment.roster import RosterRow, find_photos
from models import Deputy, DeputyStatus, FaceTemplate, LookalikePair, utcnow
from models.crypto import TemplateCipher
from models.db import session_scope

logger = logging.getLogger(__name__)

DEPUTY_FIELDS = ("name", "gender", "unit", "constituency", "phone")


def engine_params(settings: Settings) -> EngineParams:
    """Enrollment-quality engine parameters from the settings."""
    return EngineParams(
        min_face_px=settings.enroll_min_face_px,
        jitters=settings.enroll_jitters,
        max_image_pixels=settings.max_image_pixels,
        max_image_bytes=settings.max_image_bytes,
    )


@dataclass(frozen=True)
class PhotoResult:
    """What happened to one photo: enrolled, duplicate (same bytes already stored) or failed."""

    number: str
    photo: str | None
    status: str
    reason: str | None = None
    message: str | None = None
    flagged: bool = False
    rotation: int = 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class DeputyResult:
    """One deputy of an import: created, updated, unchanged or failed, with its photos."""

    number: str
    name: str | None
    status: str
    photos: list[PhotoResult] = field(default_factory=list)
    templates: int = 0  # stored templates after this change


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
                {k: v for k, v in p.as_dict().items() if k != "rotation" or v} for p in self.photos
            ],
            "totals": self.totals(),
            "failed_by_reason": dict(self.failed_by_reason()),
            "lookalikes": self.lookalikes,
        }


# --- deputies -------------------------------------------------------------------------


def get_deputy(session: Session, *, number: str) -> Deputy:
    """The deputy with this number; NotFound otherwise."""
    deputy = session.scalar(select(Deputy).where(Deputy.number == number))
    if deputy is None:
        raise NotFound(f"没有编号为 {number} 的代表 (no deputy {number})")
    return deputy


def get_all(session: Session, *, include_retired: bool = False) -> list[tuple[Deputy, int]]:
    """Deputies by number, each with its number of face templates."""
    counts = (
        select(FaceTemplate.subject, func.count().label("n"))
        .group_by(FaceTemplate.subject)
        .subquery()
    )
    query = (
        select(Deputy, func.coalesce(counts.c.n, 0))
        .outerjoin(counts, counts.c.subject == Deputy.face_subject)
        .order_by(Deputy.number)
    )
    if not include_retired:
        query = query.where(Deputy.status == DeputyStatus.SEATED)
    return [(d, int(n)) for d, n in session.execute(query).all()]


def templates_of(session: Session, deputy: Deputy) -> list[FaceTemplate]:
    return list(
        session.scalars(
            select(FaceTemplate)
            .where(FaceTemplate.subject == deputy.face_subject)
            .order_by(FaceTemplate.id)
        )
    )


def upsert_deputy(
    session: Session, *, number: str, fields: dict[str, str | None]
) -> tuple[Deputy, str]:
    """Create or update the deputy `number`; returns it and created / updated / unchanged."""
    deputy = session.scalar(select(Deputy).where(Deputy.number == number))
    if deputy is None:
        deputy = Deputy(number=number, **{k: fields.get(k) for k in DEPUTY_FIELDS})
        session.add(deputy)
        session.flush()
        return deputy, "created"
    changed = False
    for key in DEPUTY_FIELDS:
        if key in fields and getattr(deputy, key) != fields[key]:
            setattr(deputy, key, fields[key])
            changed = True
    return deputy, "updated" if changed else "unchanged"


def _row_fields(row: RosterRow) -> dict[str, str | None]:
    return {k: getattr(row, k) for k in DEPUTY_FIELDS}


def retire(session: Session, *, number: str, actor: Actor, at: datetime | None = None) -> Deputy:
    """Mark a deputy retired (mandate ended `at`, default now): out of galleries and
    look-alikes, history kept. Given `at` again, it corrects the date of the retirement."""
    deputy = get_deputy(session, number=number)
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


def remove_face_data(session: Session, *, number: str, actor: Actor) -> int:
    """Delete a deputy's face templates (PIPL request); keeps the deputy and attendance.

    The deputy gets a new face subject, so nothing links old backups of templates to them.
    Returns the number of templates deleted.
    """
    deputy = get_deputy(session, number=number)
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


def persist_deputy(
    session: Session,
    *,
    cipher: TemplateCipher,
    number: str,
    outcomes: Sequence[PhotoOutcome],
    threshold: float,
    actor: Actor,
    row: RosterRow | None = None,
    require_face: bool = True,
) -> DeputyResult:
    """Store one deputy's roster data and new templates in the caller's transaction.

    Args:
        number: the deputy; with `row` it is created or updated, without it must exist.
        outcomes: the pipeline's verdicts on this deputy's photos, in report order.
        threshold: the match threshold, for the mix-up flag (pipeline.mixup_flags).
        require_face: a new deputy is created only if at least one photo is usable, so an
            import never leaves a deputy without face data behind.

    Returns:
        The per-photo results; status "failed" means nothing of this deputy was written.
    """
    deputy = session.scalar(select(Deputy).where(Deputy.number == number))
    if deputy is None and row is None:
        raise NotFound(f"没有编号为 {number} 的代表 (no deputy {number})")
    existing = templates_of(session, deputy) if deputy is not None else []
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
    if deputy is None and require_face and not new:
        name = row.name if row else None
        return DeputyResult(number, name, "failed", [r for r in results if r is not None])

    status = "unchanged"
    if row is not None:
        deputy, status = upsert_deputy(session, number=number, fields=_row_fields(row))
    assert deputy is not None
    old_encodings = [cipher.decrypt(t.encoding) for t in existing]
    flags = pipeline.mixup_flags(
        old_encodings + [o.encoding for o in new if o.encoding is not None], threshold=threshold
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
                model_id=fe.MODEL_ID,
                quality=float(o.quality),
                photo_sha256=o.sha256,
                flagged=flag,
            )
        )
    it = iter(zip(new, new_flags, strict=True))
    filled: list[PhotoResult] = []
    for r in results:
        if r is None:
            o, flag = next(it)
            filled.append(
                PhotoResult(number, o.label or None, "enrolled", None, None, flag, o.rotation)
            )
        else:
            filled.append(r)
    if new and status == "unchanged":
        status = "updated"
    if status != "unchanged":
        audit.record(
            session,
            actor=actor,
            action="deputy.enroll",
            deputy_id=deputy.id,
            detail={
                "status": status,
                "enrolled": len(new),
                "flagged": sum(new_flags),
                "failed": sum(r.status == "failed" for r in filled),
            },
        )
    session.flush()
    return DeputyResult(number, deputy.name, status, filled, len(existing) + len(new))


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
    number: str,
    outcomes: Sequence[PhotoOutcome],
    threshold: float,
    actor: Actor,
    row: RosterRow | None = None,
) -> DeputyResult:
    """persist_deputy in its own transaction; a database failure fails only this deputy."""
    try:
        with session_scope(sessions) as session:
            return persist_deputy(
                session,
                cipher=cipher,
                number=number,
                outcomes=outcomes,
                threshold=threshold,
                actor=actor,
                row=row,
            )
    except NotFound:
        raise
    except Exception:
        logger.exception("storing deputy %s failed; nothing of this deputy was saved", number)
        return _storage_failure(number, row.name if row else None, outcomes)


def known_hashes(session: Session) -> dict[str, set[str]]:
    """Stored photo hashes per deputy number (to skip photos already enrolled)."""
    rows = session.execute(
        select(Deputy.number, FaceTemplate.photo_sha256).join(
            FaceTemplate, FaceTemplate.subject == Deputy.face_subject
        )
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


def import_roster(
    sessions: sessionmaker[Session],
    *,
    cipher: TemplateCipher,
    settings: Settings,
    rows: Sequence[RosterRow],
    photos_dir: Path,
    workers: int,
    actor: Actor,
    on_photo: Callable[[PhotoOutcome], None] | None = None,
    on_start: Callable[[int], None] | None = None,
) -> ImportReport:
    """Import a parsed roster: face work in `workers` processes, one transaction per deputy.

    Photos whose bytes are already stored for the deputy are not processed again, so a
    repeated import is fast and changes nothing. Look-alike pairs are refreshed at the end.
    """
    with session_scope(sessions) as session:
        stored = known_hashes(session)
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
            number=number,
            outcomes=outcomes,
            threshold=threshold,
            actor=actor,
            row=by_number[number],
        )

    for number, outcomes in list(pending.items()):
        for o in outcomes:
            if on_photo is not None:
                on_photo(o)
        if len(outcomes) == expected[number]:
            finish(number)
    params = engine_params(settings)
    for outcome in pipeline.run_jobs(jobs, params, workers=workers):
        if on_photo is not None:
            on_photo(outcome)
        pending[outcome.key].append(outcome)
        if len(pending[outcome.key]) == expected[outcome.key]:
            finish(outcome.key)
    report = ImportReport([results[row.number] for row in rows])
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
) -> DeputyResult:
    """Enrol photos of a deputy (one transaction); refreshes look-alikes.

    The deputy must exist, unless `new` gives the roster data to create them with (then,
    as in an import, nobody is created without a usable photo).
    """
    with session_scope(sessions) as session:
        exists = session.scalar(select(Deputy.id).where(Deputy.number == number)) is not None
        if not exists and new is None:
            get_deputy(session, number=number)  # raises NotFound with the usual message
    outcomes = {
        o.label: o
        for o in pipeline.run_jobs(jobs, engine_params(settings), workers=workers, pool=pool)
    }
    result = store_one(
        sessions,
        cipher=cipher,
        number=number,
        threshold=settings.match_threshold,
        outcomes=[outcomes[j.label] for j in jobs],
        actor=actor,
        row=None if exists else new,
    )
    with session_scope(sessions) as session:
        refresh_lookalikes(session, cipher=cipher, settings=settings)
    return result


# --- gallery, look-alikes, identify ---------------------------------------------------


def load_gallery(session: Session, *, cipher: TemplateCipher) -> tuple[Gallery, dict[int, Deputy]]:
    """The templates the live matcher uses (`gallery.enrolled_templates`) as one Gallery."""
    rows = enrolled_templates(session, cipher)
    deputies = {deputy.id: deputy for deputy, _ in rows}
    return Gallery.build((deputy.id, enc) for deputy, enc in rows), deputies


def refresh_lookalikes(
    session: Session, *, cipher: TemplateCipher, settings: Settings
) -> list[dict[str, Any]]:
    """Recompute and store look-alike pairs over all seated deputies; returns them."""
    gallery, deputies = load_gallery(session, cipher=cipher)
    below = settings.match_threshold + settings.lookalike_safety_margin
    pairs = pipeline.lookalike_pairs(gallery, below=below)
    session.execute(delete(LookalikePair))
    for p in pairs:
        session.add(LookalikePair(deputy_a_id=p.a, deputy_b_id=p.b, distance=p.distance))
    session.flush()
    return [_pair_dict(deputies[p.a], deputies[p.b], p.distance) for p in pairs]


def _pair_dict(a: Deputy, b: Deputy, distance: float) -> dict[str, Any]:
    return {
        "a": {"number": a.number, "name": a.name},
        "b": {"number": b.number, "name": b.name},
        "distance": round(distance, 4),
    }


def get_lookalikes(session: Session) -> list[dict[str, Any]]:
    """The stored look-alike pairs, nearest first."""
    pairs = session.scalars(select(LookalikePair).order_by(LookalikePair.distance))
    return [_pair_dict(p.deputy_a, p.deputy_b, p.distance) for p in pairs]


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
        gallery, deputies = load_gallery(session, cipher=cipher)
        return cls(gallery, deputies, lookalike_ids(session), settings)

    def identify(self, data: bytes | Path) -> dict[str, Any]:
        """The identify report for one photo; raises UnreadableImage for bad image data."""
        image = fe.load_image(data, max_pixels=self.settings.max_image_pixels)
        faces = pipeline.identify_faces(
            image,
            self.gallery,
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
