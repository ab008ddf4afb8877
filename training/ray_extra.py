"""Whether the Ray extra is installed, and the one line that says how to install it. Light on purpose: `serve`
and `worker` check it at start-up, before they import torch or Ray.

    python -c "from training.ray_extra import ray_installed; print(ray_installed())"
"""

from __future__ import annotations

import importlib.util
from types import ModuleType

RAY_EXTRA = "temporal-order[ray]"
MISSING_RAY = (
    f"a Ray address was given but Ray is not installed: install the extra with pip install '{RAY_EXTRA}' "
    "(or run without --ray-address / TEMPORAL_ORDER_RAY_ADDRESS to use the local process pool)"
)


class RayUnavailable(RuntimeError):
    """Ray was asked for but is not installed."""


def ray_installed() -> bool:
    """Ray can be imported here, found without importing it (an import takes seconds)."""
    try:
        return importlib.util.find_spec("ray") is not None
    except (ImportError, ValueError):  # a broken or blocked entry in sys.modules
        return False


def require_ray() -> None:
    """`RayUnavailable` naming the extra when Ray is not installed."""
    if not ray_installed():
        raise RayUnavailable(MISSING_RAY)


def import_ray() -> ModuleType:
    try:
        import ray
    except ImportError:
        raise RayUnavailable(MISSING_RAY) from None
    return ray
