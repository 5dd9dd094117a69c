"""Counts for meeting lists: 应到 and 实到 of many meetings in two grouped queries."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from models import Attendance, RosterEntry, RosterRole


def attendance_counts(session: Session, meeting_ids: Sequence[int]) -> dict[int, tuple[int, int]]:
    """meeting id → (deputies on the roster, of them checked in and not departed).

    The callers' meetings were read through their scope; 列席 and staff are not counted.
    """
    if not meeting_ids:
        return {}
    ids = list(meeting_ids)
    deputy = and_(RosterEntry.meeting_id.in_(ids), RosterEntry.role == RosterRole.DEPUTY)
    expected = dict(
        session.execute(
            select(RosterEntry.meeting_id, func.count())
            .where(deputy)
            .group_by(RosterEntry.meeting_id)
        ).all()
    )
    present = dict(
        session.execute(
            select(RosterEntry.meeting_id, func.count())
            .join(
                Attendance,
                and_(
                    Attendance.meeting_id == RosterEntry.meeting_id,
                    Attendance.deputy_id == RosterEntry.deputy_id,
                    Attendance.undone_at.is_(None),
                ),
            )
            .where(deputy, RosterEntry.left_at.is_(None))
            .group_by(RosterEntry.meeting_id)
        ).all()
    )
    return {m: (int(expected.get(m, 0)), int(present.get(m, 0))) for m in ids}
