"""GET /models/{arch}/versions/{version}/curve: a version's learning curve beside its run's other trials."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Path

from service.deps import RegistryDep
from service.schemas import Arch, CurvePointPublic, TrialCurve, VersionCurve
from training.registry import Registry, VersionInfo

router = APIRouter(prefix="/models", tags=["models"])

# Bounded like the registry's integer column: a larger number could not be looked up (SQLite overflows).
VersionNumber = Annotated[int, Path(ge=1, le=2**31 - 1, description="The version number in the registry.")]


def _points(info: VersionInfo) -> list[CurvePointPublic]:
    return [CurvePointPublic.model_validate(point) for point in info.curve]


def version_curve(registry: Registry, arch: str, version: int) -> VersionCurve:
    """Reads the version (VersionNotFound → 404) and every trial of its run."""
    info = registry.version(arch, version)
    trials = [
        TrialCurve(
            version=trial.version,
            seed=trial.seed,
            converged=trial.converged,
            sequences_to_criterion=trial.sequences_to_criterion,
            points=_points(trial),
        )
        for trial in registry.run_versions(info.run_id)
    ]
    return VersionCurve(
        arch=arch,  # type: ignore[arg-type]
        version=version,
        run_id=info.run_id,
        task=info.task,
        points=_points(info),
        run_trials=trials,
    )


@router.get("/{arch}/versions/{version}/curve")
async def get_curve(arch: Arch, version: VersionNumber, registry: RegistryDep) -> VersionCurve:
    """A version's learning curve (error and accuracy over the criterion's window), with its run's trials."""
    return await asyncio.to_thread(version_curve, registry, arch, version)
