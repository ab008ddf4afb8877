"""GET /models, GET /models/{arch}, POST /models/{arch}/activate, POST /models/{arch}/rollback."""

from __future__ import annotations

import asyncio
import logging

from fastapi import APIRouter

from service.deps import ApiKeyDep, PoolDep, RegistryDep
from service.errors import Conflict
from service.inference import InferencePool
from service.schemas import ActivateRequest, ActivationPublic, Arch, ModelList, ModelPublic, ModelVersionPublic
from training.registry import CorruptCheckpoint, Registry, RegistryError, VersionInfo
from training.registry.activations import NothingToRollBack

router = APIRouter(prefix="/models", tags=["models"])

logger = logging.getLogger("service.routes.models")


def version_public(info: VersionInfo) -> ModelVersionPublic:
    return ModelVersionPublic.model_validate(info, from_attributes=True)


def model_public(arch: str, pool: InferencePool, registry: Registry) -> ModelPublic:
    slot = pool.slots[arch]
    served = slot.served
    return ModelPublic(
        arch=arch,  # type: ignore[arg-type]
        state=slot.state,
        active_version=served.version if served else slot.seen_version,
        device=str(served.device) if served else None,
        parameter_count=served.parameter_count if served else None,
        error=slot.error if slot.state != "ready" else None,
        versions=[version_public(info) for info in registry.versions(arch)],
        history=[
            ActivationPublic.model_validate(step, from_attributes=True) for step in registry.activation_history(arch)
        ],
    )


@router.get("")
async def list_models(pool: PoolDep, registry: RegistryDep) -> ModelList:
    """Every architecture: its state, the version it serves, the device, and its versions in the registry."""
    models = await asyncio.to_thread(lambda: [model_public(arch, pool, registry) for arch in pool.slots])
    return ModelList(default_arch=pool.default_arch(), models=models)  # type: ignore[arg-type]


@router.get("/{arch}")
async def get_model(arch: Arch, pool: PoolDep, registry: RegistryDep) -> ModelPublic:
    """One architecture's state and versions."""
    return await asyncio.to_thread(model_public, arch, pool, registry)


@router.post("/{arch}/activate", dependencies=[ApiKeyDep])
async def activate(arch: Arch, body: ActivateRequest, pool: PoolDep, registry: RegistryDep) -> ModelPublic:
    """Load a version, and only if it loads, make it the active one and serve it (needs the API key)."""
    unchanged = "; the active version is unchanged"
    try:
        await pool.activate(arch, body.version, lambda: registry.activate(arch, body.version, by="api"))
    except CorruptCheckpoint as error:
        logger.warning("refused to activate %s version %d: %s", arch, body.version, error)
        raise Conflict(
            f"version {body.version} of {arch} cannot be served: its checkpoint is corrupt "
            f"(it failed its integrity check){unchanged}",
            hint=f"pick another version from GET /models/{arch}",
        ) from None
    except RegistryError:
        raise  # not found (404) or the registry's own fault (503): the one error handler words them
    except Exception:
        logger.exception("activating %s version %d failed", arch, body.version)
        raise Conflict(
            f"version {body.version} of {arch} could not be loaded{unchanged}",
            hint=f"see the service log; pick another version from GET /models/{arch}",
        ) from None
    return await asyncio.to_thread(model_public, arch, pool, registry)


@router.post("/{arch}/rollback", dependencies=[ApiKeyDep])
async def rollback(arch: Arch, pool: PoolDep, registry: RegistryDep) -> ModelPublic:
    """Serve again the version served before the latest activation not yet rolled back (needs the API key)."""
    try:
        target = await asyncio.to_thread(registry.rollback_target, arch)
        await pool.activate(arch, target, lambda: registry.rollback(arch, by="api rollback"))
    except NothingToRollBack as error:
        raise Conflict(str(error), hint=f"see the history in GET /models/{arch}") from None
    except CorruptCheckpoint as error:
        logger.warning("refused to roll %s back: %s", arch, error)
        raise Conflict(
            f"{arch} cannot be rolled back: the previous version's checkpoint is corrupt; "
            "the active version is unchanged",
            hint=f"activate another version from GET /models/{arch}",
        ) from None
    return await asyncio.to_thread(model_public, arch, pool, registry)
