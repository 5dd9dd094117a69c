"""kiosks: bound to a body; end of the latest connection; current connection id

Revision ID: 0004_kiosk_binding
Revises: 0003_term_record
Create Date: 2026-11-29 16:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import models.base

revision: str = "0004_kiosk_binding"
down_revision: str | None = "0003_term_record"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Existing kiosks get body_id NULL: they are refused (close 4403) until an admin binds
    # them with `baodao kiosk bind NAME --body B`.
    with op.batch_alter_table("kiosks", schema=None) as batch_op:
        batch_op.add_column(sa.Column("body_id", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column("disconnected_at", models.base.UtcDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("connection", sa.String(length=32), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_kiosks_body_id_bodies"),
            "bodies",
            ["body_id"],
            ["id"],
            ondelete="SET NULL",
        )


def downgrade() -> None:
    with op.batch_alter_table("kiosks", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_kiosks_body_id_bodies"), type_="foreignkey")
        batch_op.drop_column("connection")
        batch_op.drop_column("disconnected_at")
        batch_op.drop_column("body_id")
