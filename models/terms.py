"""Terms (届) of a congress body and their sessions (第N次会议); meetings point to a session."""

from __future__ import annotations

from datetime import date

from sqlalchemy import CheckConstraint, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import Base, TimestampMixin
from models.meetings import Body


class Term(TimestampMixin, Base):
    """One term of a body (某镇第十八届人民代表大会), with its dates."""

    __tablename__ = "terms"
    __table_args__ = (
        UniqueConstraint("body_id", "number"),
        CheckConstraint("number > 0", name="positive_number"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    body_id: Mapped[int] = mapped_column(ForeignKey("bodies.id", ondelete="RESTRICT"), index=True)
    number: Mapped[int] = mapped_column(Integer)  # 第N届
    title: Mapped[str] = mapped_column(String(100))  # 第十八届
    starts_on: Mapped[date]
    ends_on: Mapped[date | None]

    body: Mapped[Body] = relationship()


class CongressSession(TimestampMixin, Base):
    """One session of a term (第三次会议): it groups plenaries and other meetings."""

    __tablename__ = "congress_sessions"
    __table_args__ = (
        UniqueConstraint("term_id", "number"),
        CheckConstraint("number > 0", name="positive_number"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    term_id: Mapped[int] = mapped_column(ForeignKey("terms.id", ondelete="RESTRICT"), index=True)
    number: Mapped[int] = mapped_column(Integer)  # 第N次会议
    title: Mapped[str] = mapped_column(String(100))
    starts_on: Mapped[date]
    ends_on: Mapped[date | None]

    term: Mapped[Term] = relationship()
