"""Registries for tests and benchmarks: migrated SQLite files holding untrained or briefly trained versions.

url = make_registry(tmp_path / "registry.db", ("rnn", "lstm"))
"""

from __future__ import annotations

from pathlib import Path

from training.architectures import ARCHITECTURES, build_model, default_config
from training.evaluate import evaluate
from training.protocol import TrialRecord, TrialResult
from training.registry import Registry
from training.task import get_task
from training.train import default_train_config, train_trial

N_TEST = 200


def record_untrained(
    registry: Registry, arch: str, *, seed: int = 0, task_name: str = "6b", activate: bool = True
) -> int:
    """Record a freshly initialised model of `arch` (tested on a few sequences) and activate it."""
    import torch

    task = get_task(task_name)
    torch.manual_seed(seed)
    config = default_config(arch, n_classes=task.n_classes)
    model = build_model(config).eval()
    trial = TrialResult(
        model=model,
        model_config=config,
        train_config=default_train_config(arch),
        task=task,
        seed=seed,
        converged=False,
        sequences_seen=0,
        sequences_to_criterion=None,
    )
    test = evaluate(model, task, seed=seed, n_test=N_TEST)
    run = registry.record_run(arch, task, [TrialRecord(trial=trial, test=test)], activate=activate)
    return run.version_numbers[0]


def record_trained_run(
    registry: Registry, arch: str, *, trials: int = 2, sequences: int = 1024, curve_every: int = 256, seed: int = 0
) -> list[int]:
    """Train `trials` short trials of `arch` for real (a learning curve point every `curve_every` sequences),
    record them as one run and activate the best; returns the run's version numbers."""
    task = get_task("6b")
    config = default_train_config(arch, max_sequences=sequences, curve_every=curve_every)
    records = []
    for index in range(trials):
        trial = train_trial(task, arch=arch, train_config=config, seed=seed + index)
        records.append(TrialRecord(trial=trial, test=evaluate(trial.model, task, seed=seed + index, n_test=N_TEST)))
    return registry.record_run(arch, task, records, activate=True).version_numbers


def make_registry(path: Path, arches: tuple[str, ...] = ARCHITECTURES) -> str:
    """A migrated SQLite registry at `path` holding one active untrained version of each of `arches`."""
    return fill_registry(f"sqlite:///{path}", arches)


def fill_registry(url: str, arches: tuple[str, ...] = ARCHITECTURES) -> str:
    """Migrate the (empty) registry at `url` and record one active untrained version of each of `arches`."""
    registry = Registry(url)
    try:
        registry.upgrade()
        for index, arch in enumerate(arches):
            record_untrained(registry, arch, seed=index)
    finally:
        registry.close()
    return url
