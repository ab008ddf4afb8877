"""A separate process that writes to a registry, for the concurrency tests.

    python tests/training/registry/registry_worker.py write sqlite:///tmp/r.db 6   # runs
    python tests/training/registry/registry_worker.py write-forever sqlite:///tmp/r.db

Each committed write prints `committed <versions>`; the tests read those lines to know what is durable.
`write` waits after its first run for a line on stdin, so a reader can see the registry part-way.
"""

from __future__ import annotations

import sys

import torch

from training.architectures import build_model
from training.models import LSTMConfig
from training.protocol import CurvePoint, TestResult, TrialRecord, TrialResult
from training.registry import Registry
from training.task import get_task
from training.train_config import TrainConfig


def _record(seed: int, hidden_size: int) -> TrialRecord:
    torch.manual_seed(seed)
    config = LSTMConfig(hidden_size=hidden_size)
    trial = TrialResult(
        model=build_model(config),
        model_config=config,
        train_config=TrainConfig(),
        task=get_task("6b"),
        seed=seed,
        converged=True,
        sequences_seen=1000 + seed,
        sequences_to_criterion=1000 + seed,
        curve=[CurvePoint(1000 + seed, 0.05, 1.0)],
        wall_seconds=0.1,
    )
    return TrialRecord(trial=trial, test=TestResult(n_test=3000, wrong_argmax=seed % 7, wrong_paper=seed % 11))


def write(registry: Registry, runs: int | None, hidden_size: int, *, pause_after_first: bool = False) -> None:
    """Record `runs` two-trial runs (None: until killed)."""
    seed = 0
    while runs is None or seed < 2 * runs:
        # Two trials per run: a kill between them must not leave half a run behind.
        run = registry.record_run("lstm", get_task("6b"), [_record(seed, hidden_size), _record(seed + 1, hidden_size)])
        print("committed", *run.version_numbers, flush=True)
        if pause_after_first and seed == 0:
            sys.stdin.readline()
        seed += 2


def main(argv: list[str]) -> None:
    mode, url = argv[0], argv[1]
    registry = Registry(url)
    try:
        if mode == "write":
            write(registry, int(argv[2]), hidden_size=64, pause_after_first=True)
        elif mode == "write-forever":
            write(registry, None, hidden_size=int(argv[2]) if len(argv) > 2 else 256)
        else:
            sys.exit(f"unknown mode {mode!r}")
    finally:
        registry.close()


if __name__ == "__main__":
    main(sys.argv[1:])
