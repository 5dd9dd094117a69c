"""Writing audit events; callers add them in the same transaction as the change."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from models import AuditEvent


@dataclass(frozen=True)
class Actor:
    """Who acts: a staff account, a kiosk, or the command line."""

    name: str
    user_id: int | None = None
    kiosk_id: int | None = None

    @classmethod
    def cli(cls) -> Actor:
        return cls(name="cli")


def record(
    session: Session,
    *,
    actor: Actor,
    action: str,
    meeting_id: int | None = None,
    deputy_id: int | None = None,
    detail: dict[str, Any] | None = None,
) -> AuditEvent:
    """Add an audit event to the session (committed with the change it describes)."""
    event = AuditEvent(
        action=action,
        actor=actor.name,
        user_id=actor.user_id,
        kiosk_id=actor.kiosk_id,
        meeting_id=meeting_id,
        deputy_id=deputy_id,
        detail=detail,
    )
    session.add(event)
    return event
