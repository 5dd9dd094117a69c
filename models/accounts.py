"""Staff accounts, kiosks, audit events and stored configuration overrides."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Column, Enum, ForeignKey, String, Table, false, true
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, TimestampMixin, utcnow


class Role(StrEnum):
    ADMIN = "admin"
    SECRETARIAT = "secretariat"


# The bodies an account with a limited scope may see and change (with their descendants).
user_bodies = Table(
    "user_bodies",
    Base.metadata,
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("body_id", ForeignKey("bodies.id", ondelete="CASCADE"), primary_key=True),
)


class User(TimestampMixin, Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(80), unique=True)
    password_hash: Mapped[str] = mapped_column(String(200))  # argon2
    role: Mapped[Role] = mapped_column(
        Enum(Role, native_enum=False, length=20, values_callable=lambda x: [m.value for m in x])
    )
    active: Mapped[bool] = mapped_column(default=True)
    # Set for passwords someone else chose (the first admin's, an admin's reset): every API
    # but change-password, logout and me answers 403 until the owner picks their own.
    must_change_password: Mapped[bool] = mapped_column(default=False, server_default=false())
    # Signed into every session token; bumping it (logout, deactivation, password change)
    # revokes every token issued before.
    token_version: Mapped[int] = mapped_column(default=0, server_default="0")
    # Consecutive wrong passwords and the lock they caused (shared by every serve process).
    failed_logins: Mapped[int] = mapped_column(default=0, server_default="0")
    locked_until: Mapped[datetime | None]
    # The account's scope: the whole body tree (a county admin), or only the bodies in
    # `user_bodies` and their descendants (a township's 秘书处 or admin).
    all_bodies: Mapped[bool] = mapped_column(default=True, server_default=true())


class Kiosk(TimestampMixin, Base):
    """A kiosk token, bound to the body whose meetings it may check people in at."""

    __tablename__ = "kiosks"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(80), unique=True)
    venue: Mapped[str | None] = mapped_column(String(200))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)  # sha256 of a random token
    revoked_at: Mapped[datetime | None]
    last_seen_at: Mapped[datetime | None]
    # None (kiosks registered before binding existed): refused until bound to a body.
    body_id: Mapped[int | None] = mapped_column(ForeignKey("bodies.id", ondelete="SET NULL"))
    # The end of its latest connection (the last message received on it): a buffered frame
    # is believed only if captured between this and the start of the next connection.
    disconnected_at: Mapped[datetime | None]
    connection: Mapped[str | None] = mapped_column(String(32))  # the current connection's id


class AuditEvent(Base):
    """Who did what, when, from which account or kiosk, with the evidence."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    action: Mapped[str] = mapped_column(String(60))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    kiosk_id: Mapped[int | None] = mapped_column(ForeignKey("kiosks.id", ondelete="SET NULL"))
    actor: Mapped[str | None] = mapped_column(String(80))  # "cli", username or kiosk name
    meeting_id: Mapped[int | None] = mapped_column(
        ForeignKey("meetings.id", ondelete="SET NULL"), index=True
    )
    deputy_id: Mapped[int | None] = mapped_column(ForeignKey("deputies.id", ondelete="SET NULL"))
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class ConfigValue(Base):
    """A setting written by the service itself (e.g. `baodao calibrate --apply`)."""

    __tablename__ = "config_values"

    key: Mapped[str] = mapped_column(String(80), primary_key=True)
    value: Mapped[str] = mapped_column(String(400))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
