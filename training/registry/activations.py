"""Which version each architecture serves, and how it came to: every activation is a row of history (from →
to, by what, when), a rollback undoes the latest activation not yet undone, and the newest row's id is a
cheap mark a replica compares to see that something changed.

    temporal-order activate --rollback lstm          # registry.rollback("lstm", by="cli")
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, joinedload, sessionmaker

from training.registry.orm import Activation, ActiveModel, ModelVersion, utcnow
from training.registry.queue import JobLease, hold_lease
from training.registry.records import RegistryError, VersionNotFound

# The most history rows `/models/{arch}` and `temporal-order models` show.
HISTORY_LIMIT = 50


class NothingToRollBack(RegistryError):
    """The architecture has no earlier activation to go back to."""


@dataclass(frozen=True)
class ActivationInfo:
    """One step of an architecture's history; `undoes` is the id of the activation a rollback reverted."""

    id: int
    arch: str
    from_version: int | None
    to_version: int
    by: str
    undoes: int | None
    at: datetime

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "arch": self.arch,
            "from_version": self.from_version,
            "to_version": self.to_version,
            "by": self.by,
            "undoes": self.undoes,
            "at": self.at.isoformat(),
        }


def _activation_info(row: Activation) -> ActivationInfo:
    return ActivationInfo(
        id=row.id,
        arch=row.arch,
        from_version=None if row.from_version is None else row.from_version.version,
        to_version=row.to_version.version,
        by=row.by,
        undoes=row.undoes_id,
        at=row.created_at,
    )


def set_active(session: Session, arch: str, version_id: int, *, by: str, undoes: int | None = None) -> None:
    """Serve `version_id` for `arch` and record the step in the history (nothing when it is served already).

    The active row is locked first (on PostgreSQL), so two activations of one architecture are recorded one
    after the other and each names the version it really replaced."""
    current = session.get(ActiveModel, arch, with_for_update=True)
    previous = None if current is None else current.version_id
    if previous == version_id:
        return
    now = utcnow()
    if current is None:
        session.add(ActiveModel(arch=arch, version_id=version_id, activated_at=now))
    else:
        current.version_id = version_id
        current.activated_at = now
    session.add(
        Activation(
            arch=arch, from_version_id=previous, to_version_id=version_id, by=by[:64], undoes_id=undoes, created_at=now
        )
    )
    session.flush()


class ActivationsMixin:
    """The history methods of `Registry`; it provides the session factory."""

    _sessions: sessionmaker[Session]

    def activation_history(self, arch: str, *, limit: int = HISTORY_LIMIT) -> list[ActivationInfo]:
        """`arch`'s activations, newest first."""
        statement = (
            select(Activation)
            .options(joinedload(Activation.from_version), joinedload(Activation.to_version))
            .where(Activation.arch == arch)
            .order_by(Activation.id.desc())
            .limit(limit)
        )
        with self._sessions() as session:
            return [_activation_info(row) for row in session.scalars(statement)]

    def activation_mark(self) -> int:
        """The id of the newest activation of any architecture (0 when none): it changes with every activation,
        so a replica that saw the same mark last time has nothing to reload."""
        with self._sessions() as session:
            return int(session.scalar(select(func.max(Activation.id))) or 0)

    def rollback_target(self, arch: str) -> int:
        """The version `rollback(arch)` would serve now; raises `NothingToRollBack`."""
        with self._sessions() as session:
            previous = self._step_to_undo(session, arch).from_version
            assert previous is not None  # _step_to_undo raised otherwise
            return previous.version

    @staticmethod
    def _step_to_undo(session: Session, arch: str) -> Activation:
        """The latest activation of `arch` that is not a rollback and was not rolled back, if it can be undone."""
        rows = list(session.scalars(select(Activation).where(Activation.arch == arch).order_by(Activation.id.desc())))
        undone = {row.undoes_id for row in rows if row.undoes_id is not None}
        step = next((row for row in rows if row.undoes_id is None and row.id not in undone), None)
        if step is None:
            raise NothingToRollBack(f"{arch!r} has no activation to roll back")
        if step.from_version_id is None:
            raise NothingToRollBack(
                f"{arch!r} served nothing before version {step.to_version.version} (or that version was deleted): "
                "no earlier version to roll back to"
            )
        return step

    def rollback(self, arch: str, *, by: str = "rollback") -> ActivationInfo:
        """Serve again the version `arch` served before its latest activation that was not rolled back yet;
        repeated, it walks the history back one step at a time. Raises `NothingToRollBack`."""
        with self._sessions.begin() as session:
            session.get(ActiveModel, arch, with_for_update=True)  # one rollback or activation at a time
            step = self._step_to_undo(session, arch)
            assert step.from_version_id is not None
            set_active(session, arch, step.from_version_id, by=by, undoes=step.id)
            newest = session.scalars(
                select(Activation)
                .options(joinedload(Activation.from_version), joinedload(Activation.to_version))
                .where(Activation.arch == arch)
                .order_by(Activation.id.desc())
                .limit(1)
            ).one()
            return _activation_info(newest)

    def activate_if_served(
        self, arch: str, version: int, *, served: int | None, by: str, lease: JobLease | None = None
    ) -> bool:
        """Activate `arch` version `version` only if `served` is still the version served (None: nothing is);
        False, changing nothing, when another activation came first (a gate's comparison is then stale). With
        `lease`, only while that worker still holds the job's lease, checked in the same transaction: `LeaseLost`,
        changing nothing, once the job is no longer its (a trainer whose worker lost the job activates nothing)."""
        with self._sessions.begin() as session:
            if lease is not None:
                hold_lease(session, lease)  # first: from here until the commit the lease cannot change hands
            current = session.get(ActiveModel, arch, with_for_update=True)
            current_version = None if current is None else current.model_version.version
            if current_version != served:
                return False
            row = session.scalar(select(ModelVersion).where(ModelVersion.arch == arch, ModelVersion.version == version))
            if row is None:
                raise VersionNotFound(f"no version {version} of {arch!r} in the registry")
            set_active(session, arch, row.id, by=by)
            return True
