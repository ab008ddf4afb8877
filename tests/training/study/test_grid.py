"""Task 6b scaled to T, the study's grid and each trial's identity."""

from __future__ import annotations

import pytest
import torch

from training.study.grid import StudyGrid, lag_task, minimal_lag, parse_lags, plan_study, trial_key
from training.task import generate, get_task, make_generator


def test_t100_is_exactly_task_6b() -> None:
    assert lag_task(100) == get_task("6b")
    same = generate(lag_task(100), 200, make_generator(7))
    paper = generate(get_task("6b"), 200, make_generator(7))
    assert torch.equal(same.tokens, paper.tokens) and torch.equal(same.labels, paper.labels)


@pytest.mark.parametrize("length", [20, 200, 333, 1000])
def test_scaled_task_keeps_the_fractions_of_6b(length: int) -> None:
    task = lag_task(length)
    assert (task.min_length, task.max_length) == (length, length * 110 // 100)
    assert task.relevant_ranges == tuple((low * length // 100, high * length // 100) for low, high in
                                         ((10, 20), (33, 43), (66, 76)))  # fmt: skip
    batch = generate(task, 500, make_generator(1))
    assert int(batch.lengths.min()) >= length and int(batch.lengths.max()) <= task.max_length
    for column, (low, high) in enumerate(task.relevant_ranges):
        positions = batch.positions[:, column]
        assert int(positions.min()) >= low and int(positions.max()) <= high


def test_minimal_lag_is_from_the_latest_first_symbol_to_the_earliest_trigger() -> None:
    assert minimal_lag(get_task("6b")) == 80
    assert minimal_lag(lag_task(1000)) == 800


def test_too_short_a_length_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match=r"T=10 is too short.*T >= 20"):
        lag_task(10)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("100,abc", r"item 2 \('abc'\) is not a whole number"),
        ("100,5", r"item 2 \(5\) is below the shortest study length 20"),
        ("100,200,100", r"item 3 \(100\) is given twice"),
    ],
)
def test_bad_lags_name_the_item(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_lags(text)


def test_plan_has_every_trial_once_with_its_own_identity() -> None:
    grid = StudyGrid(lags=(200, 100), arches=("rnn", "lstm"), trials=3, budget=1000, n_test=100)
    planned = plan_study(grid)
    assert len(planned) == 2 * 2 * 3
    assert len({trial.key for trial in planned}) == len(planned)
    assert [trial.length for trial in planned][:6] == [100] * 6  # shortest T first
    assert {(t.spec.arch, t.length, t.spec.seed) for t in planned} == {
        (arch, length, seed) for arch in ("rnn", "lstm") for length in (100, 200) for seed in range(3)
    }
    assert all(t.spec.train_config["max_sequences"] == 1000 for t in planned)


def test_identity_is_stable_and_changes_with_every_setting() -> None:
    base = StudyGrid(lags=(100,), arches=("lstm",), trials=1, budget=1000, n_test=100)
    key = plan_study(base)[0].key
    assert plan_study(base)[0].key == key
    assert trial_key(plan_study(base)[0].spec) == key
    for changed in (
        StudyGrid(lags=(120,), arches=("lstm",), trials=1, budget=1000, n_test=100),
        StudyGrid(lags=(100,), arches=("rnn",), trials=1, budget=1000, n_test=100),
        StudyGrid(lags=(100,), arches=("lstm",), trials=1, budget=2000, n_test=100),
        StudyGrid(lags=(100,), arches=("lstm",), trials=1, budget=1000, n_test=101),
        StudyGrid(lags=(100,), arches=("lstm",), trials=1, budget=1000, n_test=100, seed=1),
    ):
        assert plan_study(changed)[0].key != key


def test_a_grid_names_what_is_wrong() -> None:
    with pytest.raises(ValueError, match="unknown architecture 'gruu'"):
        StudyGrid(lags=(100,), arches=("gruu",), trials=1)
    with pytest.raises(ValueError, match="at least one length"):
        StudyGrid(lags=(), arches=("rnn",), trials=1)
