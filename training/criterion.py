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

    @property
    def mean_error(self) -> float:
        return float(self._errors[: self._filled].mean()) if self._filled else float("nan")

    @property
    def accuracy(self) -> float:
        return float(self._correct[: self._filled].mean()) if self._filled else float("nan")

    def met(self) -> bool:
        return self._filled == self.window and bool(self._correct.all()) and float(self._errors.mean()) < self.max_error
