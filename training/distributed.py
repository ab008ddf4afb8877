"""Trials on a Ray cluster: each worker trains and tests one trial and hands the result back as plain data
(checkpoint bytes, curve, test counts); only the driver touches the registry.

    ray start --head --num-cpus 2          # then, on other machines: ray start --address HEAD:6379
    temporal-order study lags --ray-address HEAD:6379
    temporal-order train --arch lstm --trials 10 --ray-address HEAD:6379

A worker that dies mid-trial (killed, its node lost) has the trial retried by Ray's task retries; the driver
records what comes back, once. Callers reach this module through `training.experiment.run_trials`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from training.protocol import TrialProgress, TrialRecord
from training.ray_extra import import_ray
from training.train import TrainingCancelled
from training.trial import OnTrial, TrialPayload, TrialSpec, execute_trial

# A trial is retried this often when its worker dies; an exception raised by the trial itself is not retried.
TRIAL_RETRIES = 3
# How often the driver looks at `should_stop` while it waits for trials.
STOP_POLL_S = 0.25
# One thread per trial, set before the worker imports anything: Ray gives each trial one CPU, and a worker whose
# libraries start a thread per core would take the cores its neighbours' trials were given.
ONE_THREAD_ENV = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "NUMBA_NUM_THREADS": "1"}


WorkerProgress = Callable[[TrialProgress], None]


def run_trial(spec: TrialSpec, on_progress: WorkerProgress | None = None) -> TrialPayload:
    """One trial inside a Ray worker; `on_progress` runs there too (to log, or to inject a fault in a test)."""
    import torch

    # Ray gives each trial one CPU (ONE_THREAD_ENV covers the libraries torch's setting does not).
    torch.set_num_threads(1)
    return TrialPayload.of(spec, execute_trial(spec, on_progress))


def final_progress(spec: TrialSpec, record: TrialRecord) -> TrialProgress:
    """A trial's final progress, as the driver learns it when the trial comes back (a worker's own progress
    reports stay on its node)."""
    trial = record.trial
    last = trial.curve[-1] if trial.curve else None
    return TrialProgress(
        spec.arch,
        spec.index,
        spec.trials,
        trial.sequences_seen,
        int(spec.train_config.get("max_sequences", trial.sequences_seen)),
        last.train_error if last else None,
        last.train_accuracy if last else None,
    )


# Ray gives a new node's raylet a fixed 30 s to register, which a crowded machine has missed ("The current node
# timed out during startup"); another try, after the failed start is shut down, rides out such a moment.
LOCAL_START_ATTEMPTS = 3


def start_local_cluster(
    cpus: int,
    *,
    attempts: int = LOCAL_START_ATTEMPTS,
    on_retry: Callable[[Exception], None] | None = None,
    **ray_options: Any,
) -> Any:
    """Start a local Ray cluster of `cpus` CPUs on loopback, with this process as its driver, retrying a start that
    fails; returns `ray.init`'s context. `ray_options` go to `ray.init` (object store size, temp dir, ...)."""
    ray = import_ray()
    for attempt in range(1, attempts + 1):
        try:
            return ray.init(
                num_cpus=cpus, _node_ip_address="127.0.0.1", include_dashboard=False, log_to_driver=False, **ray_options
            )
        except Exception as error:
            ray.shutdown()  # stops whatever the failed start left running
            if attempt == attempts:
                raise
            if on_retry is not None:
                on_retry(error)
    raise AssertionError("unreachable")


def run_on_ray(
    specs: Sequence[TrialSpec],
    *,
    address: str,
    on_trial: OnTrial | None = None,
    on_progress: Callable[[TrialProgress], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    on_worker_progress: WorkerProgress | None = None,
) -> list[TrialRecord]:
    """Run `specs` on the Ray cluster at `address` (or the one this process is already connected to); each
    trial's result reaches `on_trial` (and its final progress `on_progress`) in the driver as it arrives.
    `should_stop` cancels the trials still running (`TrainingCancelled`). Results keep the order of `specs`."""
    ray = import_ray()
    connected_here = not ray.is_initialized()
    if connected_here:
        ray.init(address=address, log_to_driver=False, configure_logging=False)
    remote = ray.remote(num_cpus=1, max_retries=TRIAL_RETRIES, runtime_env={"env_vars": ONE_THREAD_ENV})(run_trial)
    references = {remote.remote(spec, on_worker_progress): index for index, spec in enumerate(specs)}
    pending = list(references)
    results: dict[int, TrialRecord] = {}
    try:
        while pending:
            if should_stop is not None and should_stop():
                raise TrainingCancelled(f"stopped with {len(pending)} of {len(specs)} trials unfinished")
            done, pending = ray.wait(pending, num_returns=1, timeout=STOP_POLL_S if should_stop else None)
            for reference in done:
                index = references[reference]
                payload: TrialPayload = ray.get(reference)
                results[index] = payload.record()
                if on_progress is not None:
                    on_progress(final_progress(specs[index], results[index]))
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
