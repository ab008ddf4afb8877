"""How one trial trains: the settings `train_trial` reads, apart from the loop so that the architecture registry can
hold each architecture's defaults without importing the trainer."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, Literal

from training.criterion import CRITERION_ERROR, CRITERION_WINDOW

Optimizer = Literal["adam", "sgd"]
Gradient = Literal["full", "truncated"]


@dataclass(frozen=True)
class TrainConfig:
    """How one trial trains. `max_sequences` is the budget; the paper's criterion usually stops it first."""

    optimizer: Optimizer = "adam"
    learning_rate: float = 1e-2
    batch_size: int = 32
    grad_clip: float | None = 1.0
    momentum: float = 0.0
    max_sequences: int = 1_000_000
    criterion_window: int = CRITERION_WINDOW
    criterion_error: float = CRITERION_ERROR
    curve_every: int = 1_000
    # Scale the learning rate by (window error / criterion error) once the window's mean error is below the
    # criterion's, never under `anneal_floor` of it: weights settle instead of oscillating near the goal.
    anneal: bool = False
    anneal_floor: float = 0.05
    # "truncated": the gradient of the 1997 paper's appendix A.1 (lstm1997 only); "full": backpropagation
    # through time, what every other architecture learns by.
    gradient: Gradient = "full"

    def __post_init__(self) -> None:
        if self.optimizer not in ("adam", "sgd"):
            raise ValueError(f"optimizer must be 'adam' or 'sgd', got {self.optimizer!r}")
        if self.gradient not in ("full", "truncated"):
            raise ValueError(f"gradient must be 'full' or 'truncated', got {self.gradient!r}")
        if not (self.learning_rate > 0 and math.isfinite(self.learning_rate)):
            raise ValueError("learning_rate must be a positive finite number")
        if self.batch_size < 1 or self.max_sequences < 1 or self.curve_every < 1:
            raise ValueError("batch_size, max_sequences and curve_every must be >= 1")
        if not 0 < self.anneal_floor <= 1:
            raise ValueError("anneal_floor must be in (0, 1]")
        if self.grad_clip is not None and not self.grad_clip > 0:
            raise ValueError("grad_clip must be positive or None")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)
