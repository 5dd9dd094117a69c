"""templates and stored thresholds per face model

A deputy may now hold templates of two face models (dlib and SFace) made from the same photo,
so a photo's hash is unique per subject AND model. Settings stored before there was a choice
of model were calibrated on dlib's distances: they are kept for dlib (`dlib:KEY`) and never
applied to SFace.

Revision ID: 0005_face_model_templates
Revises: 0004_kiosk_binding
Create Date: 2026-11-29 17:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_face_model_templates"
down_revision: str | None = "0004_kiosk_binding"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The settings whose default depends on the face model (checkin.settings.PER_MODEL at the
# time of this migration; a migration never imports application code).
PER_MODEL = (
    "match_threshold",
    "match_margin",
    "enroll_jitters",
    "min_face_px",
    "enroll_min_face_px",
    "kiosk_min_face_px",
)

config_values = sa.table("config_values", sa.column("key", sa.String(80)))


def upgrade() -> None:
    with op.batch_alter_table("face_templates", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("uq_face_templates_subject_photo_sha256"), type_="unique")
        batch_op.create_unique_constraint(
            op.f("uq_face_templates_subject_model_id_photo_sha256"),
            ["subject", "model_id", "photo_sha256"],
        )
    for key in PER_MODEL:
        op.execute(
            config_values.update().where(config_values.c.key == key).values(key=f"dlib:{key}")
        )


def downgrade() -> None:
    for key in PER_MODEL:
        op.execute(
            config_values.delete()
            .where(config_values.c.key.like(f"%:{key}"))
            .where(config_values.c.key != f"dlib:{key}")
        )
        op.execute(
            config_values.update().where(config_values.c.key == f"dlib:{key}").values(key=key)
        )
    op.execute(sa.text("DELETE FROM face_templates WHERE model_id <> 'dlib_resnet_v1_mirror'"))
    with op.batch_alter_table("face_templates", schema=None) as batch_op:
        batch_op.drop_constraint(
            op.f("uq_face_templates_subject_model_id_photo_sha256"), type_="unique"
        )
        batch_op.create_unique_constraint(
            op.f("uq_face_templates_subject_photo_sha256"), ["subject", "photo_sha256"]
        )
