"""Initial registry schema: training runs, model versions (one per trial), active models, training jobs.

Revision ID: 0001
Revises:
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _timestamp(name: str, *, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "training_jobs",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("progress", sa.JSON(), nullable=False),
        sa.Column("results", sa.JSON(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("cancel_requested", sa.Boolean(), nullable=False),
        _timestamp("created_at"),
        _timestamp("started_at", nullable=True),
        _timestamp("finished_at", nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_training_jobs"),
    )
    op.create_index("ix_training_jobs_created_at", "training_jobs", ["created_at"])
    op.create_index("ix_training_jobs_status", "training_jobs", ["status"])

    op.create_table(
        "training_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("arch", sa.String(length=32), nullable=False),
        sa.Column("task", sa.String(length=64), nullable=False),
        sa.Column("task_spec", sa.JSON(), nullable=False),
        sa.Column("trials", sa.Integer(), nullable=False),
        sa.Column("seed", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("converged", sa.Integer(), nullable=False),
        sa.Column("median_sequences_to_criterion", sa.Float(), nullable=True),
        sa.Column("model_config", sa.JSON(), nullable=False),
        sa.Column("train_config", sa.JSON(), nullable=False),
        sa.Column("job_id", sa.String(length=32), nullable=True),
        sa.Column("wall_seconds", sa.Float(), nullable=False),
        _timestamp("created_at"),
        sa.PrimaryKeyConstraint("id", name="pk_training_runs"),
    )
    op.create_index("ix_training_runs_arch", "training_runs", ["arch"])
    op.create_index("ix_training_runs_job_id", "training_runs", ["job_id"])

    op.create_table(
        "model_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("arch", sa.String(length=32), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("trial_index", sa.Integer(), nullable=False),
        sa.Column("seed", sa.Integer(), nullable=False),
        sa.Column("converged", sa.Boolean(), nullable=False),
        sa.Column("sequences_seen", sa.Integer(), nullable=False),
        sa.Column("sequences_to_criterion", sa.Integer(), nullable=True),
        sa.Column("curve", sa.JSON(), nullable=False),
        sa.Column("wall_seconds", sa.Float(), nullable=False),
        sa.Column("n_test", sa.Integer(), nullable=False),
        sa.Column("wrong_argmax", sa.Integer(), nullable=False),
        sa.Column("wrong_paper", sa.Integer(), nullable=False),
        sa.Column("parameter_count", sa.Integer(), nullable=False),
        sa.Column("model_config", sa.JSON(), nullable=False),
        sa.Column("train_config", sa.JSON(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("checkpoint", sa.LargeBinary(), nullable=False),
        _timestamp("created_at"),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["training_runs.id"],
            name="fk_model_versions_run_id_training_runs",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_model_versions"),
        sa.UniqueConstraint("arch", "version", name="uq_model_versions_arch_version"),
    )
    op.create_index("ix_model_versions_arch", "model_versions", ["arch"])
    op.create_index("ix_model_versions_run_id", "model_versions", ["run_id"])

    op.create_table(
        "active_models",
        sa.Column("arch", sa.String(length=32), nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=False),
        _timestamp("activated_at"),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["model_versions.id"],
            name="fk_active_models_version_id_model_versions",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("arch", name="pk_active_models"),
    )


def downgrade() -> None:
    op.drop_table("active_models")
    op.drop_index("ix_model_versions_run_id", table_name="model_versions")
    op.drop_index("ix_model_versions_arch", table_name="model_versions")
    op.drop_table("model_versions")
    op.drop_index("ix_training_runs_job_id", table_name="training_runs")
    op.drop_index("ix_training_runs_arch", table_name="training_runs")
    op.drop_table("training_runs")
    op.drop_index("ix_training_jobs_status", table_name="training_jobs")
    op.drop_index("ix_training_jobs_created_at", table_name="training_jobs")
    op.drop_table("training_jobs")
