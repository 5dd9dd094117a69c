"""Deputies (and other people who check in), their face templates and look-alike pairs."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import Enum, Float, ForeignKey, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import Base, TimestampMixin, utcnow


class PersonKind(StrEnum):
    DEPUTY = "deputy"  # 代表
    GUEST = "guest"  # 列席 officials, observers, staff: check in, never count toward quorum


class DeputyStatus(StrEnum):
    SEATED = "seated"
    RETIRED = "retired"


def _new_subject() -> str:
    return uuid.uuid4().hex


class Deputy(TimestampMixin, Base):
    """A person who can check in; `face_subject` is the only link to their face templates."""

    __tablename__ = "deputies"

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(40), unique=True)  # 代表编号
    name: Mapped[str] = mapped_column(String(100))
    gender: Mapped[str | None] = mapped_column(String(10))
    unit: Mapped[str | None] = mapped_column(String(200))  # 单位
    constituency: Mapped[str | None] = mapped_column(String(200))  # 选区
    phone: Mapped[str | None] = mapped_column(String(40))
    kind: Mapped[PersonKind] = mapped_column(
        Enum(
            PersonKind, native_enum=False, length=20, values_callable=lambda x: [m.value for m in x]
        ),
        default=PersonKind.DEPUTY,
    )
    status: Mapped[DeputyStatus] = mapped_column(
        Enum(
            DeputyStatus,
            native_enum=False,
            length=20,
            values_callable=lambda x: [m.value for m in x],
        ),
        default=DeputyStatus.SEATED,
    )
    # The body the deputy belongs to (a township congress, the county congress); a county
    # deputy who also sits in a township congress belongs to the county congress and joins
    # township meetings as 列席 on their roster.
    body_id: Mapped[int | None] = mapped_column(
        ForeignKey("bodies.id", ondelete="SET NULL"), index=True
    )
    face_subject: Mapped[str] = mapped_column(String(32), unique=True, default=_new_subject)
    retired_at: Mapped[datetime | None]
    # Mandate start (补选 by-election); None: since the term began. With retired_at it bounds
    # the meetings a deputy is expected at in the term record.
    elected_at: Mapped[datetime | None]
    delegation: Mapped[str | None] = mapped_column(String(100))  # 代表团 (sheets group by it)


class FaceTemplate(Base):
    """One face encoding, encrypted at rest, linked to a person only by an opaque subject id.

    `model_id` names the face model that made it: templates of different models are never
    compared, and one photo may give one template per model.
    """

    __tablename__ = "face_templates"
    __table_args__ = (UniqueConstraint("subject", "model_id", "photo_sha256"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    subject: Mapped[str] = mapped_column(String(32), index=True)
    encoding: Mapped[bytes] = mapped_column(LargeBinary)  # Fernet token of 128 float64
    model_id: Mapped[str] = mapped_column(String(40))
    quality: Mapped[float] = mapped_column(Float, default=0.0)
    photo_sha256: Mapped[str] = mapped_column(String(64))
    flagged: Mapped[bool] = mapped_column(default=False)  # far from the person's other photos
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class LookalikePair(Base):
    """Two different people whose templates are closer than threshold + safety margin."""

    __tablename__ = "lookalike_pairs"
    __table_args__ = (UniqueConstraint("deputy_a_id", "deputy_b_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    deputy_a_id: Mapped[int] = mapped_column(ForeignKey("deputies.id", ondelete="CASCADE"))
    deputy_b_id: Mapped[int] = mapped_column(ForeignKey("deputies.id", ondelete="CASCADE"))
    distance: Mapped[float] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    deputy_a: Mapped[Deputy] = relationship(foreign_keys=[deputy_a_id])
    deputy_b: Mapped[Deputy] = relationship(foreign_keys=[deputy_b_id])


__all__ = ["Deputy", "DeputyStatus", "FaceTemplate", "LookalikePair", "PersonKind"]
