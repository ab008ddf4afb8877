"""The paper's per-sequence rules and its stopping criterion, on hand-computed numbers and built streams."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from training.criterion import (
    CRITERION_ERROR,
    CRITERION_WINDOW,
    PAPER_TOLERANCE,
    StoppingCriterion,
    argmax_correct,
    judge_batch,
    paper_correct,
    sequence_errors,
)


def probs(*rows: list[float]) -> torch.Tensor:
    return torch.tensor(rows, dtype=torch.float64)


def test_paper_constants() -> None:
    assert (PAPER_TOLERANCE, CRITERION_WINDOW, CRITERION_ERROR) == (0.3, 2000, 0.1)


# ---------------------------------------------------------------- per-sequence rules


def test_sequence_errors_hand_computed() -> None:
    p = probs(
        [0.75, 0.25, 0.0, 0.0],  # label 0: 0.25² + 0.25² = 0.125
        [0.1, 0.2, 0.6, 0.1],  # label 2: 0.01 + 0.04 + 0.16 + 0.01 = 0.22
        [1.0, 0.0, 0.0, 0.0],  # label 3: 1 + 1 = 2
        [0.25, 0.25, 0.25, 0.25],  # label 1: 3 · 0.0625 + 0.5625 = 0.75
    )
    errors = sequence_errors(p, torch.tensor([0, 2, 3, 1]))
    assert errors.shape == (4,)
    assert torch.allclose(errors, torch.tensor([0.125, 0.22, 2.0, 0.75], dtype=torch.float64))


def test_paper_rule_hand_computed() -> None:
    p = probs(
        [0.75, 0.25, 0.0, 0.0],  # label 0: |0.75-1| = 0.25, |0.25-0| = 0.25, both < 0.3 → correct
        [0.65, 0.35, 0.0, 0.0],  # label 0: 0.35 off on unit 1 → wrong, though argmax is right
        [0.5, 0.4, 0.1, 0.0],  # label 0: 0.5 off its target → wrong, though argmax is right
        [0.1, 0.1, 0.75, 0.05],  # label 2: largest miss 0.25 → correct
        [0.1, 0.1, 0.75, 0.05],  # label 1: 0.9 off its target → wrong, argmax wrong too
        [0.0, 0.0, 0.0, 1.0],  # label 3: exact
    )
    labels = torch.tensor([0, 0, 0, 2, 1, 3])
    assert paper_correct(p, labels).tolist() == [True, False, False, True, False, True]
    assert argmax_correct(p, labels).tolist() == [True, True, True, True, False, True]


def test_paper_rule_is_strict_at_the_tolerance() -> None:
    # Exactly `tolerance` away is not within it: the paper asks for an absolute error below 0.3.
    p = probs([0.75, 0.0, 0.0, 0.25], [0.5, 0.5, 0.0, 0.0])
    labels = torch.tensor([0, 0])
    assert paper_correct(p, labels, tolerance=0.25).tolist() == [False, False]
    assert paper_correct(p, labels, tolerance=0.2500001).tolist() == [True, False]
    assert paper_correct(p, labels, tolerance=0.6).tolist() == [True, True]


@settings(max_examples=50, deadline=None)
@given(
    logits=st.lists(st.floats(-8, 8), min_size=8, max_size=8),
    label=st.integers(0, 7),
)
def test_paper_rule_implies_argmax_and_bounds_the_error(logits: list[float], label: int) -> None:
    p = torch.tensor([logits], dtype=torch.float64).softmax(dim=1)
    labels = torch.tensor([label])
    error = float(sequence_errors(p, labels)[0])
    assert 0.0 <= error <= 2.0
    if bool(paper_correct(p, labels)[0]):
        # Target unit above 0.7 means every other unit is below 0.3: argmax is right.
        assert bool(argmax_correct(p, labels)[0])
    if error < 0.3**2:  # every unit's error is below sqrt(error) < 0.3
        assert bool(paper_correct(p, labels)[0])


def test_judge_batch_is_the_paper_rule_the_training_loop_applies() -> None:
    """`judge_batch` is what training calls: it must be the 0.3 rule, not argmax and not a looser tolerance."""
    p = np.array(
        [
            [0.75, 0.25, 0.0, 0.0],  # label 0: every unit within 0.3 → correct, error 0.125
            [0.65, 0.35, 0.0, 0.0],  # label 0: argmax right, 0.35 off → wrong
            [0.6, 0.4, 0.0, 0.0],  # label 0: within 0.5 but not 0.3 → wrong
            [0.1, 0.1, 0.75, 0.05],  # label 1: argmax wrong → wrong
            [0.0, 0.0, 0.0, 1.0],  # label 3: exact
        ],
        dtype=np.float32,
    )
    labels = np.array([0, 0, 0, 1, 3])
    correct, errors = judge_batch(p, labels)
    assert correct.tolist() == [True, False, False, False, True]
    assert errors == pytest.approx([0.125, 0.245, 0.32, 1.385, 0.0], abs=1e-6)
    assert p[0, 0] == np.float32(0.75), "the caller's probabilities are left alone"
    # Strict, as `paper_correct`: a unit exactly `tolerance` off is not within it.
    exact = np.array([[0.75, 0.0, 0.0, 0.25]])
    assert judge_batch(exact, np.array([0]), tolerance=0.25)[0].tolist() == [False]
    assert judge_batch(exact, np.array([0]), tolerance=0.2500001)[0].tolist() == [True]


@settings(max_examples=50, deadline=None)
@given(
    logits=st.lists(st.lists(st.floats(-8, 8), min_size=8, max_size=8), min_size=1, max_size=16),
    labels=st.lists(st.integers(0, 7), min_size=16, max_size=16),
    tolerance=st.sampled_from([PAPER_TOLERANCE, 0.1, 0.5]),
)
def test_judge_batch_agrees_with_the_tensor_rules(
    logits: list[list[float]], labels: list[int], tolerance: float
) -> None:
    p = torch.tensor(logits, dtype=torch.float64).softmax(dim=1)
    label_tensor = torch.tensor(labels[: len(logits)])
    correct, errors = judge_batch(p.numpy(), label_tensor.numpy(), tolerance)
    assert correct.tolist() == paper_correct(p, label_tensor, tolerance).tolist()
    assert np.allclose(errors, sequence_errors(p, label_tensor).numpy(), rtol=0, atol=1e-12)


# ---------------------------------------------------------------- the stopping criterion


def feed_one_by_one(criterion: StoppingCriterion, correct: list[bool], errors: list[float]) -> list[bool]:
    """met() after each single sequence."""
    history = []
    for ok, error in zip(correct, errors, strict=True):
        criterion.update(np.array([ok]), np.array([error]))
        history.append(criterion.met())
    return history


def test_met_after_exactly_2000_correct_low_error_sequences() -> None:
    criterion = StoppingCriterion()
    history = feed_one_by_one(criterion, [True] * 2001, [0.05] * 2001)
    assert history.index(True) == 1999  # the 2000th sequence
    assert all(history[1999:])


def test_met_after_2000_when_fed_in_batches() -> None:
    criterion = StoppingCriterion()
    for _ in range(62):  # 1984 sequences
        criterion.update(torch.ones(32, dtype=torch.bool), torch.full((32,), 0.01))
        assert not criterion.met()
    criterion.update(torch.ones(15, dtype=torch.bool), torch.full((15,), 0.01))
    assert not criterion.met()  # 1999
    criterion.update(torch.ones(1, dtype=torch.bool), torch.full((1,), 0.01))
    assert criterion.met()  # 2000


def test_one_wrong_sequence_in_the_window_blocks_until_it_slides_out() -> None:
    criterion = StoppingCriterion()
    criterion.update(np.ones(2000, dtype=bool), np.full(2000, 0.01))
    assert criterion.met()
    criterion.update(np.array([False]), np.array([0.01]))  # a wrong one with a tiny error
    assert not criterion.met()
    history = feed_one_by_one(criterion, [True] * 2000, [0.01] * 2000)
    # The wrong sequence is still among the most recent 2000 until 2000 correct ones follow it.
    assert history.index(True) == 1999


def test_one_wrong_sequence_among_the_first_2000_blocks() -> None:
    criterion = StoppingCriterion()
    correct = np.ones(2000, dtype=bool)
    correct[1234] = False
    criterion.update(correct, np.zeros(2000))
    assert not criterion.met()
    assert criterion.accuracy == pytest.approx(1999 / 2000)


@pytest.mark.parametrize("error", [0.1, 0.1000001, 0.5])
def test_all_correct_but_mean_error_not_below_0_1(error: float) -> None:
    criterion = StoppingCriterion()
    criterion.update(np.ones(2000, dtype=bool), np.full(2000, error))
    assert not criterion.met()
    assert criterion.accuracy == 1.0


def test_mean_error_counts_the_whole_window() -> None:
    criterion = StoppingCriterion()
    # 1000 at 0.2 and 1000 at 0.0: mean 0.1, not below it.
    criterion.update(np.ones(1000, dtype=bool), np.full(1000, 0.2))
    criterion.update(np.ones(1000, dtype=bool), np.zeros(1000))
    assert criterion.mean_error == pytest.approx(0.1)
    assert not criterion.met()
    # Once a single 0.2 slides out, the mean drops below 0.1.
    criterion.update(np.ones(1, dtype=bool), np.zeros(1))
    assert criterion.mean_error < 0.1
    assert criterion.met()


@pytest.mark.parametrize(("window", "max_error"), [(1, 0.1), (4, 0.25), (2000, 0.125)])
def test_mean_error_exactly_at_the_threshold_is_not_below_it(window: int, max_error: float) -> None:
    criterion = StoppingCriterion(window=window, max_error=max_error)
    criterion.update(np.ones(window, dtype=bool), np.full(window, max_error))  # the mean is exactly max_error
    assert criterion.mean_error == max_error
    assert not criterion.met()


def test_just_below_the_error_threshold_is_met() -> None:
    criterion = StoppingCriterion()
    criterion.update(np.ones(2000, dtype=bool), np.full(2000, 0.0999))
    assert criterion.met()


def test_not_met_before_the_window_fills() -> None:
    criterion = StoppingCriterion()
    assert not criterion.met()
    assert math.isnan(criterion.mean_error) and math.isnan(criterion.accuracy)
    criterion.update(np.ones(1999, dtype=bool), np.zeros(1999))
    assert not criterion.met()
    assert criterion.accuracy == 1.0 and criterion.mean_error == 0.0


def test_partial_window_statistics() -> None:
    criterion = StoppingCriterion(window=10)
    criterion.update(np.array([True, False, True]), np.array([0.2, 1.0, 0.3]))
    assert criterion.accuracy == pytest.approx(2 / 3)
    assert criterion.mean_error == pytest.approx(0.5)


@pytest.mark.parametrize(("wrong_at", "met"), [(0, True), (499, True), (500, False), (2499, False)])
def test_batch_larger_than_the_window_keeps_its_last_2000(wrong_at: int, met: bool) -> None:
    criterion = StoppingCriterion()
    correct = np.ones(2500, dtype=bool)
    correct[wrong_at] = False
    criterion.update(correct, np.zeros(2500))
    assert criterion.met() is met


def test_batch_larger_than_the_window_after_a_partial_fill() -> None:
    criterion = StoppingCriterion(window=100)
    criterion.update(np.array([False] * 30), np.ones(30))
    big_errors = np.zeros(250)
    big_errors[:150] = 5.0  # the first 150 of the batch are older than the window
    criterion.update(np.ones(250, dtype=bool), big_errors)
    assert criterion.met()
    assert criterion.mean_error == 0.0
    criterion.update(np.array([False]), np.array([0.0]))
    assert not criterion.met()


def test_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="window must be >= 1"):
        StoppingCriterion(window=0)
    criterion = StoppingCriterion(window=10)
    with pytest.raises(ValueError, match="same length"):
        criterion.update(np.ones(3, dtype=bool), np.zeros(4))


def test_rejects_mismatched_lengths_even_when_both_exceed_the_window() -> None:
    criterion = StoppingCriterion(window=10)
    with pytest.raises(ValueError, match="same length"):
        criterion.update(np.ones(30, dtype=bool), np.zeros(25))


@settings(max_examples=60, deadline=None)
@given(
    window=st.integers(1, 40),
    max_error=st.sampled_from([0.05, 0.1, 0.5]),
    batches=st.lists(
        st.lists(st.tuples(st.booleans() | st.just(True), st.sampled_from([0.0, 0.04, 0.09, 0.2])), max_size=90),
        max_size=12,
    ),
)
def test_matches_a_reference_over_the_most_recent_window(
    window: int, max_error: float, batches: list[list[tuple[bool, float]]]
) -> None:
    criterion = StoppingCriterion(window=window, max_error=max_error)
    stream: list[tuple[bool, float]] = []
    for batch in batches:
        criterion.update(np.array([c for c, _ in batch], dtype=bool), np.array([e for _, e in batch]))
        stream.extend(batch)
        recent = stream[-window:]
        expected = (
            len(recent) == window and all(c for c, _ in recent) and sum(e for _, e in recent) / window < max_error
        )
        assert criterion.met() == expected
        if recent:
            assert criterion.accuracy == pytest.approx(sum(c for c, _ in recent) / len(recent))
            assert criterion.mean_error == pytest.approx(sum(e for _, e in recent) / len(recent))
