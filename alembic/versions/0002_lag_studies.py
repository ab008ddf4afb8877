"""Lag studies: a study owns its training runs; each recorded trial is kept once, by its identity.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "studies",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("grid", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_studies"),
        sa.UniqueConstraint("name", name="uq_studies_name"),
    )
    with op.batch_alter_table("training_runs") as batch:
        batch.add_column(sa.Column("study_id", sa.Integer(), nullable=True))
        batch.create_index("ix_training_runs_study_id", ["study_id"])
        batch.create_foreign_key(
            "fk_training_runs_study_id_studies", "studies", ["study_id"], ["id"], ondelete="CASCADE"
        )
    op.create_table(
        "study_trials",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("study_id", sa.Integer(), nullable=False),
        sa.Column("trial_key", sa.String(length=64), nullable=False),
        sa.Column("length", sa.Integer(), nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["study_id"], ["studies.id"], name="fk_study_trials_study_id_studies", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["model_versions.id"],
            name="fk_study_trials_version_id_model_versions",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_study_trials"),
        sa.UniqueConstraint("study_id", "trial_key", name="uq_study_trials_study_id_trial_key"),
    )
    op.create_index("ix_study_trials_study_id", "study_trials", ["study_id"])
    op.create_index("ix_study_trials_version_id", "study_trials", ["version_id"])


def downgrade() -> None:
    op.drop_index("ix_study_trials_version_id", table_name="study_trials")
    op.drop_index("ix_study_trials_study_id", table_name="study_trials")
    op.drop_table("study_trials")
    with op.batch_alter_table("training_runs") as batch:
        batch.drop_constraint("fk_training_runs_study_id_studies", type_="foreignkey")
        batch.drop_index("ix_training_runs_study_id")
        batch.drop_column("study_id")
    op.drop_table("studies")
