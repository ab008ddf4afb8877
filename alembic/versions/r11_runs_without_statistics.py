"""Training runs keep no protocol statistics: drop `status` (never read), `converged` (a count, where a model
version's `converged` is a bool) and `median_sequences_to_criterion`. Both figures come from the run's versions
(`training.protocol.summarize`); a downgrade computes them from there again.

Revision ID: r11_runs_without_statistics
Revises: q13_job_queue_activations
Create Date: 2026-12-01
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "r11_runs_without_statistics"
down_revision: str | None = "q13_job_queue_activations"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# Plain ALTER TABLE (SQLite 3.35+), never a batch operation: SQLite's batch mode copies and drops the table, and
# dropping training_runs with foreign keys on would cascade into model_versions and delete every checkpoint.
# So the downgrade keeps its columns' server defaults (changing a default would need that copy).


def upgrade() -> None:
    for column in ("median_sequences_to_criterion", "converged", "status"):
        op.drop_column("training_runs", column)


def downgrade() -> None:
    op.add_column("training_runs", sa.Column("status", sa.String(16), nullable=False, server_default="completed"))
    op.add_column("training_runs", sa.Column("converged", sa.Integer(), nullable=False, server_default="0"))
    op.add_column("training_runs", sa.Column("median_sequences_to_criterion", sa.Float(), nullable=True))
    runs = sa.table(
        "training_runs", sa.column("id"), sa.column("converged"), sa.column("median_sequences_to_criterion")
    )
    versions = sa.table(
        "model_versions", sa.column("run_id"), sa.column("converged"), sa.column("sequences_to_criterion")
    )
    bind = op.get_bind()
    trials: dict[int, list[tuple[bool, int | None]]] = {}
    for run_id, converged, to_criterion in bind.execute(
        sa.select(versions.c.run_id, versions.c.converged, versions.c.sequences_to_criterion)
    ):
        trials.setdefault(run_id, []).append((bool(converged), to_criterion))
    for run_id, outcomes in trials.items():
        to_criterion = [value for _, value in outcomes if value is not None]
        bind.execute(
            runs.update()
            .where(runs.c.id == run_id)
            .values(
                converged=sum(converged for converged, _ in outcomes),
                median_sequences_to_criterion=float(statistics.median(to_criterion)) if to_criterion else None,
            )
        )
