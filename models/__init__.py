"""The database: SQLAlchemy 2 typed models, engine/session setup, Alembic migrations."""

from models.accounts import AuditEvent, ConfigValue, Kiosk, Role, User, user_bodies
from models.base import Base, utcnow
from models.meetings import (
    Attendance,
    Body,
    BodyKind,
    CheckinMethod,
    Meeting,
    MeetingKind,
    MeetingState,
    QuorumRule,
    RosterEntry,
    RosterRole,
)
from models.people import Deputy, DeputyStatus, FaceTemplate, LookalikePair, PersonKind
from models.terms import CongressSession, Term

__all__ = [
    "Attendance",
    "AuditEvent",
    "Base",
    "Body",
    "BodyKind",
    "CheckinMethod",
    "ConfigValue",
    "CongressSession",
    "Deputy",
    "DeputyStatus",
    "FaceTemplate",
    "Kiosk",
    "LookalikePair",
    "Meeting",
    "MeetingKind",
    "MeetingState",
    "PersonKind",
    "QuorumRule",
    "Role",
    "RosterEntry",
    "RosterRole",
    "Term",
    "User",
    "user_bodies",
    "utcnow",
]
