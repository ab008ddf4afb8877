"""GET /healthz and /readyz."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Response

from service import __version__
from service.deps import StateDep
from service.schemas import Health, Readiness

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> Health:
    """Liveness: the process answers."""
    return Health(version=__version__)


def _registry_problem(state: StateDep) -> str | None:
    if state.registry is None:
        return "the registry is not open yet"
    return state.registry.problem()


@router.get("/readyz", response_model=Readiness, responses={503: {"model": Readiness}})
async def readyz(state: StateDep, response: Response) -> Readiness:
    """Readiness: the registry answers (and is the file it opened), startup finished and a model serves."""
    registry_problem = await asyncio.to_thread(_registry_problem, state)
    registry_ok = registry_problem is None
    models: dict[str, str] = {}
    detail: dict[str, str] = {}
    if state.pool is not None:
        for arch, slot in state.pool.slots.items():
            models[arch] = slot.state
            if slot.state != "ready" and slot.error:
                detail[arch] = slot.error
    if registry_problem is not None:
        detail["registry"] = registry_problem
    ready = registry_ok and state.ready and any(value == "ready" for value in models.values())
    response.status_code = 200 if ready else 503
    return Readiness(ready=ready, registry=registry_ok, models=models, detail=detail)  # type: ignore[arg-type]
