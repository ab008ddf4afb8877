"""Trials on a Ray cluster: each worker trains and tests one trial and hands the result back as plain data
(checkpoint bytes, curve, test counts); only the driver touches the registry.

    ray start --head --num-cpus 2          # then, on other machines: ray start --address HEAD:6379
    temporal-order study lags --ray-address HEAD:6379

A worker that dies mid-trial (killed, its node lost) has the trial retried by Ray's task retries; the driver
records what comes back, once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any

from training.experiment import OnTrial, TrialSpec, _execute, _payload, _rebuild
from training.protocol import TrialProgress, TrialRecord

RAY_EXTRA = "temporal-order[ray]"
# A trial is retried this often when its worker dies; an exception raised by the trial itself is not retried.
TRIAL_RETRIES = 3


class RayUnavailable(RuntimeError):
    """Ray was asked for but is not installed."""


def import_ray() -> ModuleType:
    try:
        import ray
    except ImportError:
        raise RayUnavailable(
            f"a Ray address was given but Ray is not installed: install the extra with pip install '{RAY_EXTRA}' "
            "(or run without --ray-address / TEMPORAL_ORDER_RAY_ADDRESS to use the local process pool)"
        ) from None
    return ray


WorkerProgress = Callable[[TrialProgress], None]


def run_trial(spec: TrialSpec, on_progress: WorkerProgress | None = None) -> dict[str, Any]:
    """One trial inside a Ray worker; `on_progress` runs there too (to log, or to inject a fault in a test)."""
    import torch

    # Ray gives each trial one CPU; more threads would only fight the other trials on the node.
    torch.set_num_threads(1)
    return _payload(spec, _execute(spec, on_progress, None))


def run_on_ray(
    specs: Sequence[TrialSpec],
    *,
    address: str,
    on_trial: OnTrial | None = None,
    on_worker_progress: WorkerProgress | None = None,
) -> list[TrialRecord]:
    """Run `specs` on the Ray cluster at `address` (or the one this process is already connected to); each
    trial's result reaches `on_trial` in the driver as it arrives. Results keep the order of `specs`."""
    ray = import_ray()
    connected_here = not ray.is_initialized()
    if connected_here:
        ray.init(address=address, log_to_driver=False, configure_logging=False)
    remote = ray.remote(num_cpus=1, max_retries=TRIAL_RETRIES)(run_trial)
    references = {remote.remote(spec, on_worker_progress): index for index, spec in enumerate(specs)}
    pending = list(references)
    results: dict[int, TrialRecord] = {}
    try:
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            for reference in done:
                index = references[reference]
                results[index] = _rebuild(ray.get(reference))
                if on_trial is not None:
                    on_trial(specs[index], results[index])
    except BaseException:
        # An interrupted driver stops its trials: a rerun resumes from what was recorded.
        for reference in pending:
            ray.cancel(reference, force=True)
        raise
    finally:
        if connected_here:
            ray.shutdown()
    return [results[index] for index in range(len(specs))]
