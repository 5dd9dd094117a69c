"""Congress bodies, meetings, rosters and attendance."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Enum, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import Base, TimestampMixin
from models.people import Deputy


class BodyKind(StrEnum):
    CONGRESS = "congress"  # 人民代表大会
    PRESIDIUM = "presidium"  # 主席团


class QuorumRule(StrEnum):
    TWO_THIRDS = "two_thirds"  # present >= ceil(2N/3)
    MAJORITY = "majority"  # present >= floor(N/2) + 1
    CUSTOM = "custom"  # present >= ceil(N * numerator / denominator)


class MeetingState(StrEnum):
    DRAFT = "draft"
    OPEN = "open"  # check-in window open
    CLOSED = "closed"


class RosterRole(StrEnum):
    DEPUTY = "deputy"
    NONVOTING = "nonvoting"  # 列席
    STAFF = "staff"


class MeetingKind(StrEnum):
    PLENARY = "plenary"  # 全体会议: decides a deputy's attendance of the session (§49)
    PRESIDIUM = "presidium"  # 主席团会议
    GROUP = "group"  # 代表团 / 小组会议
    OTHER = "other"


class CheckinMethod(StrEnum):
    FACE = "face"
    MANUAL = "manual"  # 手动补签到


def _enum(e: type[StrEnum]) -> Enum:
    return Enum(e, native_enum=False, length=20, values_callable=lambda x: [m.value for m in x])


class Body(TimestampMixin, Base):
    """A congress and its term (某镇第十八届人民代表大会), or its presidium."""

    __tablename__ = "bodies"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[BodyKind] = mapped_column(_enum(BodyKind), default=BodyKind.CONGRESS)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("bodies.id", ondelete="SET NULL"))


class Meeting(TimestampMixin, Base):
    __tablename__ = "meetings"

    id: Mapped[int] = mapped_column(primary_key=True)
    body_id: Mapped[int] = mapped_column(ForeignKey("bodies.id", ondelete="RESTRICT"))
    title: Mapped[str] = mapped_column(String(200))
    starts_at: Mapped[datetime]
    window_opens_at: Mapped[datetime | None]
    window_closes_at: Mapped[datetime | None]
    quorum_rule: Mapped[QuorumRule] = mapped_column(
        _enum(QuorumRule), default=QuorumRule.TWO_THIRDS
    )
    quorum_numerator: Mapped[int | None] = mapped_column(Integer)
    quorum_denominator: Mapped[int | None] = mapped_column(Integer)
    state: Mapped[MeetingState] = mapped_column(_enum(MeetingState), default=MeetingState.DRAFT)
    # The session (第N次会议) this meeting belongs to; None: a meeting outside any term record.
    congress_session_id: Mapped[int | None] = mapped_column(
        ForeignKey("congress_sessions.id", ondelete="SET NULL"), index=True
    )
    kind: Mapped[MeetingKind] = mapped_column(
        _enum(MeetingKind), default=MeetingKind.PLENARY, server_default=MeetingKind.PLENARY.value
    )

    body: Mapped[Body] = relationship()


class RosterEntry(Base):
    __tablename__ = "roster_entries"
    __table_args__ = (UniqueConstraint("meeting_id", "deputy_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    meeting_id: Mapped[int] = mapped_column(
        ForeignKey("meetings.id", ondelete="CASCADE"), index=True
    )
    deputy_id: Mapped[int] = mapped_column(ForeignKey("deputies.id", ondelete="RESTRICT"))
    role: Mapped[RosterRole] = mapped_column(_enum(RosterRole), default=RosterRole.DEPUTY)
    on_leave: Mapped[bool] = mapped_column(default=False)  # 请假 (approved)
    leave_reason: Mapped[str | None] = mapped_column(Text)
    left_at: Mapped[datetime | None]  # 中途退场; cleared on return

    deputy: Mapped[Deputy] = relationship()


class Attendance(Base):
    """One check-in per person per meeting, enforced by the database; undo keeps the row."""

    __tablename__ = "attendance"
    __table_args__ = (UniqueConstraint("meeting_id", "deputy_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    meeting_id: Mapped[int] = mapped_column(
        ForeignKey("meetings.id", ondelete="CASCADE"), index=True
    )
    deputy_id: Mapped[int] = mapped_column(ForeignKey("deputies.id", ondelete="RESTRICT"))
    checked_in_at: Mapped[datetime]
    method: Mapped[CheckinMethod] = mapped_column(_enum(CheckinMethod))
    kiosk_id: Mapped[int | None] = mapped_column(ForeignKey("kiosks.id", ondelete="SET NULL"))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    reason: Mapped[str | None] = mapped_column(Text)  # manual check-in reason
    evidence: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # distances, margin, frames
    late: Mapped[bool] = mapped_column(default=False)
    delayed: Mapped[bool] = mapped_column(default=False)  # uploaded after a kiosk outage
    undone_at: Mapped[datetime | None]
    undone_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    undo_reason: Mapped[str | None] = mapped_column(Text)

    deputy: Mapped[Deputy] = relationship()
