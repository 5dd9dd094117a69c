"""Per-meeting galleries: decrypted templates of the roster (and of everyone enrolled) in memory.

A gallery holds the templates of one face model only (the active one, `BAODAO_FACE_MODEL`):
distances of two models are never compared. A deputy without a template of that model is not
in the gallery at all (`enrollment.service.missing_templates` lists them).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from checkin.faces.model import info
from checkin.protocol import Person
from checkin.recognition.decision import Gallery
from models import Deputy, DeputyStatus, FaceTemplate, LookalikePair, RosterEntry
from models.crypto import TemplateCipher

logger = logging.getLogger(__name__)

Fingerprint = tuple[object, ...]


@dataclass(frozen=True)
class MeetingGallery:
    """What matching needs for one meeting, built from the database in one go."""

    meeting_id: int
    roster: Gallery  # templates of the people on the roster
    everyone: Gallery  # templates of every seated, enrolled person (roster included)
    lookalikes: frozenset[int]  # person ids in a look-alike pair
    # Roster people only: a kiosk never learns the name of anyone off the meeting's roster.
    persons: dict[int, Person]
    fingerprint: Fingerprint


def fingerprint(session: Session, meeting_id: int) -> Fingerprint:
    """A cheap summary that changes when the roster, templates or look-alike pairs change."""
    roster = session.execute(
        select(func.count(RosterEntry.id), func.max(RosterEntry.id)).where(
            RosterEntry.meeting_id == meeting_id
        )
    ).one()
    templates = session.execute(
        select(func.count(FaceTemplate.id), func.max(FaceTemplate.id))
    ).one()
    pairs = session.execute(select(func.count(LookalikePair.id), func.max(LookalikePair.id))).one()
    deputies = session.scalar(select(func.max(Deputy.updated_at)))
    return (*roster, *templates, *pairs, deputies)


def enrolled_templates(
    session: Session, cipher: TemplateCipher, *, model: str
) -> list[tuple[Deputy, np.ndarray]]:
    """Every seated person's usable templates of face model `model`, decrypted, in order.

    Flagged templates (far from the person's other photos) may be someone else's photo, so
    they never take part in matching; a template that cannot be decrypted is skipped.
    """
    rows = session.execute(
        select(Deputy, FaceTemplate.encoding)
        .join(FaceTemplate, FaceTemplate.subject == Deputy.face_subject)
        .where(
            Deputy.status == DeputyStatus.SEATED,
            FaceTemplate.flagged.is_(False),
            FaceTemplate.model_id == info(model).template_id,
        )
        .order_by(FaceTemplate.id)
    ).all()
    out: list[tuple[Deputy, np.ndarray]] = []
    for deputy, token in rows:
        try:
            out.append((deputy, cipher.decrypt(token)))
        except ValueError:
            logger.error("face template of person %s cannot be decrypted; skipped", deputy.id)
    return out


def load_gallery(
    session: Session, cipher: TemplateCipher, meeting_id: int, *, model: str
) -> MeetingGallery:
    """Decrypt and stack the meeting's templates of face model `model` (`enrolled_templates`)."""
    fp = fingerprint(session, meeting_id)
    roles = dict(
        session.execute(
            select(RosterEntry.deputy_id, RosterEntry.role).where(
                RosterEntry.meeting_id == meeting_id
            )
        ).all()
    )
    everyone: list[tuple[int, np.ndarray]] = []
    persons: dict[int, Person] = {}
    for deputy, encoding in enrolled_templates(session, cipher, model=model):
        everyone.append((deputy.id, encoding))
        role = roles.get(deputy.id)
        if role is not None:
            persons[deputy.id] = Person(
                id=deputy.id, number=deputy.number, name=deputy.name, role=role.value
            )
    pairs = session.execute(select(LookalikePair.deputy_a_id, LookalikePair.deputy_b_id)).all()
    metric = info(model).metric
    return MeetingGallery(
        meeting_id=meeting_id,
        roster=Gallery.build(((pid, enc) for pid, enc in everyone if pid in roles), metric=metric),
        everyone=Gallery.build(everyone, metric=metric),
        lookalikes=frozenset(pid for pair in pairs for pid in pair),
        persons=persons,
        fingerprint=fp,
    )
