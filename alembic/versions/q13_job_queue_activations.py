"""Jobs as a durable queue (owner, lease, heartbeat, attempts), the promotion gate's decision per job, and the
history of activations (seeded with one row per architecture already active).

Revision ID: q13_job_queue_activations
Revises: 0002
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "q13_job_queue_activations"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("training_jobs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("owner", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("lease_expires_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("attempts", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("max_attempts", sa.Integer(), server_default="1", nullable=False))
        batch_op.add_column(sa.Column("promotion", sa.JSON(), nullable=True))
        batch_op.create_index("ix_training_jobs_lease_expires_at", ["lease_expires_at"], unique=False)

    op.create_table(
        "activations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("arch", sa.String(length=32), nullable=False),
        sa.Column("from_version_id", sa.Integer(), nullable=True),
        sa.Column("to_version_id", sa.Integer(), nullable=False),
        sa.Column("by", sa.String(length=64), nullable=False),
        sa.Column("undoes_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["from_version_id"],
            ["model_versions.id"],
            name="fk_activations_from_version_id_model_versions",
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["to_version_id"],
            ["model_versions.id"],
            name="fk_activations_to_version_id_model_versions",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["undoes_id"], ["activations.id"], name="fk_activations_undoes_id_activations", ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_activations"),
    )
    op.create_index("ix_activations_arch", "activations", ["arch"], unique=False)
    # What is served today becomes the first step of each history, so a first rollback has a known "from".
    op.execute(
        "INSERT INTO activations (arch, from_version_id, to_version_id, by, created_at) "
        "SELECT arch, NULL, version_id, 'before history', activated_at FROM active_models"
    )


def downgrade() -> None:
    op.drop_index("ix_activations_arch", table_name="activations")
    op.drop_table("activations")
    with op.batch_alter_table("training_jobs", schema=None) as batch_op:
        batch_op.drop_index("ix_training_jobs_lease_expires_at")
        batch_op.drop_column("promotion")
        batch_op.drop_column("max_attempts")
        batch_op.drop_column("attempts")
        batch_op.drop_column("heartbeat_at")
        batch_op.drop_column("lease_expires_at")
        batch_op.drop_column("owner")
