"""A training job stores the X-Request-ID of the request that queued it, so that whichever worker runs the job
(another process, another machine) writes that id on the job's log lines.

Revision ID: s16_job_request_id
Revises: r11_runs_without_statistics
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "s16_job_request_id"
down_revision: str | None = "r11_runs_without_statistics"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# Plain ALTER TABLE, never a batch operation: SQLite's batch mode copies and drops the table (see r11).


def upgrade() -> None:
    op.add_column("training_jobs", sa.Column("request_id", sa.String(128), nullable=True))


def downgrade() -> None:
    op.drop_column("training_jobs", "request_id")
