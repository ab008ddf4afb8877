"""The trial runner: ordered results, per-trial seeds, worker processes, progress and cancellation."""

from __future__ import annotations

import pytest
import torch

from training.experiment import run_architectures
from training.models import one_hot
from training.protocol import TrialProgress
from training.task import generate, get_task, make_generator
from training.train import TrainingCancelled
from training.trial import TrialSpec

SHORT = get_task("6b").shortened(10)
TINY = {"max_sequences": 256, "batch_size": 32}


def test_trials_use_consecutive_seeds_and_report_progress() -> None:
    seen: list[TrialProgress] = []
    (records,) = run_architectures(
        ["lstm"], SHORT, trials=2, seed=5, overrides=TINY, n_test=50, on_progress=seen.append
    ).values()
    assert [r.trial.seed for r in records] == [5, 6]
    assert all(r.test.n_test == 50 for r in records)
    assert {p.trial for p in seen} == {1, 2}
    assert seen[-1].sequences == 256


def test_worker_processes_give_the_same_models_as_in_process() -> None:
    in_process = run_architectures(["rnn", "lstm"], SHORT, trials=2, seed=3, overrides=TINY, n_test=50)
    delivered: list[tuple[str, int]] = []

    def on_trial(spec: TrialSpec, _: object) -> None:
        delivered.append((spec.arch, spec.index))

    pooled = run_architectures(
        ["rnn", "lstm"], SHORT, trials=2, seed=3, overrides=TINY, n_test=50, workers=2, on_trial=on_trial
    )
    assert delivered == [("rnn", 1), ("rnn", 2), ("lstm", 1), ("lstm", 2)]  # in order, to be recorded in order
    batch = generate(SHORT, 20, make_generator(99))
    for arch in ("rnn", "lstm"):
        assert [r.trial.seed for r in pooled[arch]] == [3, 4]
        for local, remote in zip(in_process[arch], pooled[arch], strict=True):
            assert local.outcome == remote.outcome
            with torch.no_grad():
                expected = local.trial.model(one_hot(batch.tokens), batch.lengths)
                actual = remote.trial.model(one_hot(batch.tokens), batch.lengths)
            assert torch.allclose(expected, actual, atol=1e-5)


@pytest.mark.parametrize("workers", [1, 2])
def test_should_stop_cancels_the_run(workers: int) -> None:
    with pytest.raises(TrainingCancelled):
        run_architectures(
            ["lstm"], SHORT, trials=2, overrides={"max_sequences": 10**6}, workers=workers, should_stop=lambda: True
        )


def test_unknown_architecture_is_rejected_before_any_work() -> None:
    with pytest.raises(ValueError, match="unknown architecture"):
        run_architectures(["transformer"], SHORT, trials=1)
