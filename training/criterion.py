"""The paper's per-sequence rules and its stopping criterion, kept apart from any training loop."""

from __future__ import annotations

import numpy as np
import torch

# Paper: a sequence is classified correctly when every output is within 0.3 of its target.
PAPER_TOLERANCE = 0.3
# Paper: stop once the most recent 2000 sequences were all correct with mean training error below 0.1.
CRITERION_WINDOW = 2000
CRITERION_ERROR = 0.1


def sequence_errors(probabilities: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Training error of each sequence: Σ over output units of the squared error. (B, C) → (B,)."""
    targets = torch.nn.functional.one_hot(labels, probabilities.shape[1]).to(probabilities.dtype)
    return ((probabilities - targets) ** 2).sum(dim=1)


def paper_correct(
    probabilities: torch.Tensor, labels: torch.Tensor, tolerance: float = PAPER_TOLERANCE
) -> torch.Tensor:
    """Paper's rule: every output unit within `tolerance` of its one-hot target. (B, C) → (B,) bool."""
    targets = torch.nn.functional.one_hot(labels, probabilities.shape[1]).to(probabilities.dtype)
    return ((probabilities - targets).abs() < tolerance).all(dim=1)


def judge_batch(
    probabilities: np.ndarray, labels: np.ndarray, tolerance: float = PAPER_TOLERANCE
) -> tuple[np.ndarray, np.ndarray]:
    """`paper_correct` and `sequence_errors` at once, in NumPy: a training batch of 16 would otherwise pay
    a dozen tensor operations' fixed cost for 128 numbers. (B, C), (B,) → correct (B,), errors (B,)."""
    difference = probabilities.astype(np.float64)
    difference[np.arange(len(labels)), labels] -= 1.0
    return np.asarray((np.abs(difference) < tolerance).all(axis=1)), np.asarray((difference * difference).sum(axis=1))


def argmax_correct(probabilities: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    return probabilities.argmax(dim=1) == labels


class StoppingCriterion:
    """A ring buffer over the most recent `window` training sequences.

    `update` takes a batch's per-sequence correctness and errors in the order the sequences were seen;
    `met` is true once the window is full, every sequence in it is correct and its mean error is below
    `max_error`.
    """

    def __init__(self, window: int = CRITERION_WINDOW, max_error: float = CRITERION_ERROR) -> None:
        if window < 1:
            raise ValueError("window must be >= 1")
        self.window = window
        self.max_error = max_error
        self._errors = np.zeros(window, dtype=np.float64)
        self._correct = np.zeros(window, dtype=bool)
        self._next = 0
        self._filled = 0

    def update(self, correct: np.ndarray | torch.Tensor, errors: np.ndarray | torch.Tensor) -> None:
        correct_values = np.asarray(correct, dtype=bool).reshape(-1)
        error_values = np.asarray(errors, dtype=np.float64).reshape(-1)
        if correct_values.shape != error_values.shape:
            raise ValueError("correct and errors must have the same length")
        # Only the newest `window` values can matter.
        correct_values, error_values = correct_values[-self.window :], error_values[-self.window :]
        slots = (self._next + np.arange(len(correct_values))) % self.window
        self._correct[slots] = correct_values
        self._errors[slots] = error_values
        self._next = (self._next + len(correct_values)) % self.window
        self._filled = min(self.window, self._filled + len(correct_values))

    def update_until_met(self, correct: np.ndarray, errors: np.ndarray) -> int | None:
        """Feed sequences in order and stop right after the first one with which the criterion is met: return
        its index (the later ones are not fed), or None once all are fed without meeting it.

        The same as `update` one sequence at a time with `met` after each, but `met` is only asked where the
        window can hold no wrong sequence: `window` sequences in a row correct, counting those fed before.
        """
        correct_values = np.asarray(correct, dtype=bool).reshape(-1)
        error_values = np.asarray(errors, dtype=np.float64).reshape(-1)
        if correct_values.shape != error_values.shape:
            raise ValueError("correct and errors must have the same length")
        history = np.roll(self._correct, -self._next)[self.window - self._filled :]  # oldest first
        wrong_before = np.flatnonzero(~history)
        # Index (relative to this chunk) of the most recent wrong sequence, as if it came before the chunk.
        last_wrong = (int(wrong_before[-1]) - len(history)) if len(wrong_before) else -self._filled - 1
        indices = np.arange(len(correct_values))
        latest = np.maximum.accumulate(np.where(correct_values, last_wrong, indices))
        candidates = np.flatnonzero(indices - latest >= self.window)
        fed = 0
        for candidate in candidates:
            self.update(correct_values[fed : candidate + 1], error_values[fed : candidate + 1])
            fed = int(candidate) + 1
            if self.met():
                return int(candidate)
        self.update(correct_values[fed:], error_values[fed:])
        return None

    @property
    def mean_error(self) -> float:
        return float(self._errors[: self._filled].mean()) if self._filled else float("nan")

    @property
    def accuracy(self) -> float:
        return float(self._correct[: self._filled].mean()) if self._filled else float("nan")

    def met(self) -> bool:
        return self._filled == self.window and bool(self._correct.all()) and float(self._errors.mean()) < self.max_error
