"""One trial as a row of a benchmark's JSON: train until the criterion or the budget (`train_trial`, exactly as
`temporal-order train` does), then the paper's test on fresh sequences (`evaluate`). Shared by the held-out and the
ablation benches, so their rows are measured and named alike.

    from trial_rows import trained_and_tested   # bench scripts run with bench/ on sys.path
"""

from __future__ import annotations

from typing import Any

import torch

from training.evaluate import evaluate
from training.models import ModelConfig
from training.task import get_task
from training.train import train_trial
from training.train_config import TrainConfig


def trained_and_tested(
    task_name: str, model_config: ModelConfig, train_config: TrainConfig, seed: int, n_test: int
) -> dict[str, Any]:
    """The row of one trial; one thread, so trials running side by side in a pool do not share cores."""
    torch.set_num_threads(1)
    task = get_task(task_name)
    result = train_trial(task, model_config=model_config, train_config=train_config, seed=seed)
    test = evaluate(result.model, task, seed=seed, n_test=n_test)
    return {
        "seed": seed,
        "converged": result.converged,
        "sequences_to_criterion": result.sequences_to_criterion,
        "sequences_seen": result.sequences_seen,
        "wrong_paper": test.wrong_paper,
        "wrong_argmax": test.wrong_argmax,
        "n_test": n_test,
        "seconds": round(result.wall_seconds, 2),
    }
