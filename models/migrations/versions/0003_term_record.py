"""term record: terms (届), congress sessions (第N次会议), a meeting's session and kind,
a deputy's mandate start (补选) and delegation (代表团)

Existing meetings keep working: congress_session_id is NULL (outside any term record) and
kind defaults to plenary; existing deputies get no elected_at (a mandate since the term began).

Revision ID: 0003_term_record
Revises: 0002_account_lifecycle
Create Date: 2026-11-29 16:31:32.639413
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import models.base

revision: str = "0003_term_record"
down_revision: str | None = "0002_account_lifecycle"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "terms",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("body_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=100), nullable=False),
        sa.Column("starts_on", sa.Date(), nullable=False),
        sa.Column("ends_on", sa.Date(), nullable=True),
        sa.Column(
            "created_at",
            models.base.UtcDateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            models.base.UtcDateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.CheckConstraint("number > 0", name=op.f("ck_terms_positive_number")),
        sa.ForeignKeyConstraint(
            ["body_id"], ["bodies.id"], name=op.f("fk_terms_body_id_bodies"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_terms")),
        sa.UniqueConstraint("body_id", "number", name=op.f("uq_terms_body_id_number")),
    )
    with op.batch_alter_table("terms", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_terms_body_id"), ["body_id"], unique=False)

    op.create_table(
        "congress_sessions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("term_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=100), nullable=False),
        sa.Column("starts_on", sa.Date(), nullable=False),
        sa.Column("ends_on", sa.Date(), nullable=True),
        sa.Column(
            "created_at",
            models.base.UtcDateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            models.base.UtcDateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.CheckConstraint("number > 0", name=op.f("ck_congress_sessions_positive_number")),
        sa.ForeignKeyConstraint(
            ["term_id"],
            ["terms.id"],
            name=op.f("fk_congress_sessions_term_id_terms"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_congress_sessions")),
        sa.UniqueConstraint("term_id", "number", name=op.f("uq_congress_sessions_term_id_number")),
    )
    with op.batch_alter_table("congress_sessions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_congress_sessions_term_id"), ["term_id"], unique=False)

    with op.batch_alter_table("deputies", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("elected_at", models.base.UtcDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("delegation", sa.String(length=100), nullable=True))

    with op.batch_alter_table("meetings", schema=None) as batch_op:
        batch_op.add_column(sa.Column("congress_session_id", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column(
                "kind",
                sa.Enum(
                    "plenary",
                    "presidium",
                    "group",
                    "other",
                    name="meetingkind",
                    native_enum=False,
                    length=20,
                ),
                server_default="plenary",
                nullable=False,
            )
        )
        batch_op.create_index(
            batch_op.f("ix_meetings_congress_session_id"), ["congress_session_id"], unique=False
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_meetings_congress_session_id_congress_sessions"),
            "congress_sessions",
            ["congress_session_id"],
            ["id"],
            ondelete="SET NULL",
        )


def downgrade() -> None:
    with op.batch_alter_table("meetings", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_meetings_congress_session_id_congress_sessions"), type_="foreignkey"
        )
        batch_op.drop_index(batch_op.f("ix_meetings_congress_session_id"))
        batch_op.drop_column("kind")
        batch_op.drop_column("congress_session_id")

    with op.batch_alter_table("deputies", schema=None) as batch_op:
        batch_op.drop_column("delegation")
        batch_op.drop_column("elected_at")

    with op.batch_alter_table("congress_sessions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_congress_sessions_term_id"))

    op.drop_table("congress_sessions")
    with op.batch_alter_table("terms", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_terms_body_id"))

    op.drop_table("terms")
