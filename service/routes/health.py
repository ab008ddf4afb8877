"""GET /healthz and /readyz."""

from __future__ import annotations

import asyncio
import functools
from importlib.metadata import PackageNotFoundError, version

from fastapi import APIRouter, Response
from sqlalchemy import text

from service.deps import StateDep
from service.schemas import Health, Readiness

router = APIRouter(tags=["health"])


@functools.cache
def package_version() -> str:
    """Read once: importlib.metadata scans the installed distributions, milliseconds per call."""
    try:
        return version("temporal-order")
    except PackageNotFoundError:
        return "0+unknown"


@router.get("/healthz")
async def healthz() -> Health:
    """Liveness: the process answers."""
    return Health(version=package_version())


def _registry_reachable(state: StateDep) -> bool:
    if state.registry is None:
        return False
    try:
        with state.registry.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception:
        return False
    return True


@router.get("/readyz", response_model=Readiness, responses={503: {"model": Readiness}})
async def readyz(state: StateDep, response: Response) -> Readiness:
    """Readiness: the registry answers, startup finished and at least one architecture serves."""
    registry_ok = await asyncio.to_thread(_registry_reachable, state)
    models: dict[str, str] = {}
    detail: dict[str, str] = {}
    if state.pool is not None:
        for arch, slot in state.pool.slots.items():
            models[arch] = slot.state
            if slot.state != "ready" and slot.error:
                detail[arch] = slot.error
    if state.startup_error:
        detail["startup"] = state.startup_error
    if not registry_ok:
        detail["registry"] = "the registry does not answer"
    ready = registry_ok and state.ready and any(value == "ready" for value in models.values())
    response.status_code = 200 if ready else 503
    return Readiness(ready=ready, registry=registry_ok, models=models, detail=detail)  # type: ignore[arg-type]
