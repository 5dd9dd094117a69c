"""scoped accounts: an account sees the whole body tree or some bodies (and their descendants)

Existing accounts keep seeing everything (`all_bodies` true); deputies already have
`body_id` and bodies `parent_id` (0001), now set by the roster import and the console.

Revision ID: 0006_scoped_accounts
Revises: 0005_face_model_templates
Create Date: 2026-11-29 19:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_scoped_accounts"
down_revision: str | None = "0005_face_model_templates"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(
            sa.Column("all_bodies", sa.Boolean(), nullable=False, server_default=sa.true())
        )
    op.create_table(
        "user_bodies",
        sa.Column(
            "user_id", sa.Integer(), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column(
            "body_id", sa.Integer(), sa.ForeignKey("bodies.id", ondelete="CASCADE"), nullable=False
        ),
        sa.PrimaryKeyConstraint("user_id", "body_id"),
    )
    op.create_index("ix_deputies_body_id", "deputies", ["body_id"])


def downgrade() -> None:
    op.drop_index("ix_deputies_body_id", table_name="deputies")
    op.drop_table("user_bodies")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("all_bodies")
