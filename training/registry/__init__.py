"""The model registry: every trial's checkpoint and results, the active version per architecture, and the
service's training jobs, in one SQLAlchemy database migrated by Alembic.

    temporal-order db upgrade && temporal-order models
"""

from training.registry.db import best_effort, is_transient, retry_transient
from training.registry.jobs import kept_summary
from training.registry.records import (
    JOB_STATUSES,
    TERMINAL_JOB_STATUSES,
    CorruptCheckpoint,
    JobInfo,
    JobNotFound,
    JobParams,
    JobStatus,
    JobTrial,
    LoadedModel,
    MissingDatabaseDriver,
    NoActiveVersion,
    RegistryError,
    RegistryMissing,
    RunInfo,
    SchemaNotMigrated,
    VersionInfo,
    VersionNotFound,
)
from training.registry.store import Registry, RunNotFound

__all__ = [
    "JOB_STATUSES",
    "TERMINAL_JOB_STATUSES",
    "CorruptCheckpoint",
    "JobInfo",
    "JobNotFound",
    "JobParams",
    "JobStatus",
    "JobTrial",
    "LoadedModel",
    "MissingDatabaseDriver",
    "NoActiveVersion",
    "Registry",
    "RegistryError",
    "RegistryMissing",
    "RunInfo",
    "RunNotFound",
    "SchemaNotMigrated",
    "VersionInfo",
    "VersionNotFound",
    "best_effort",
    "is_transient",
    "kept_summary",
    "retry_transient",
]
