"""One trial: train a fresh model on online-generated sequences until the paper's stopping criterion or a
sequence budget.

    temporal-order train --arch lstm --trials 1 --seed 0
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import torch

from training.criterion import (
    CRITERION_ERROR,
    CRITERION_WINDOW,
    StoppingCriterion,
    judge_batch,
)
from training.flat_parameters import FlatParameters
from training.lstm1997 import OnlineLearner
from training.models import ModelConfig, SequenceClassifier, build_model, default_config
from training.task import Batch, SequenceStream, TaskSpec, make_generator

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


# Defaults that make each architecture learn 6b quickly (see bench/train_bench.py for the figures).
DEFAULT_TRAIN_CONFIGS: dict[str, TrainConfig] = {
    "rnn": TrainConfig(learning_rate=1e-3, batch_size=32, anneal=True),
    # lstm anneals too: without it 3 of 10 trials met the criterion yet missed 1-5 of 3000 test sequences.
    "lstm": TrainConfig(learning_rate=1e-2, batch_size=16, anneal=True),
    "attn_rnn": TrainConfig(learning_rate=1e-2, batch_size=32),
    "attn_rnn_seed": TrainConfig(learning_rate=3e-2, batch_size=32, max_sequences=30_000),
    # The paper's recipe (section 5.6): on-line gradient descent, one update per sequence, no clipping, no
    # annealing, the truncated gradient. Its learning rate depends on the task (PAPER_LEARNING_RATES).
    "lstm1997": TrainConfig(
        optimizer="sgd",
        learning_rate=0.1,
        batch_size=1,
        grad_clip=None,
        max_sequences=5_000_000,
        gradient="truncated",
    ),
}
# A grad_clip override of 0 turns clipping off (None as an override means "keep the default").
NO_CLIPPING = 0.0
# Section 5.6: "The learning rate is 0.5 (0.1) for Experiment 6a (6b)."
PAPER_LEARNING_RATES: dict[str, float] = {"6a": 0.5, "6b": 0.1}


def default_train_config(arch: str, task: TaskSpec | None = None, **overrides: Any) -> TrainConfig:
    """An architecture's defaults, the task's where the paper's recipe has one, then `overrides` (None: keep)."""
    base = DEFAULT_TRAIN_CONFIGS.get(arch, TrainConfig())
    if arch == "lstm1997" and task is not None:
        # A shortened variant ("6a/5") keeps its task's rate.
        base = dataclasses.replace(base, learning_rate=PAPER_LEARNING_RATES.get(task.name.split("/")[0], 0.1))
    chosen = {k: v for k, v in overrides.items() if v is not None}
    if chosen.get("grad_clip") == NO_CLIPPING:
        chosen["grad_clip"] = None
    return dataclasses.replace(base, **chosen)


@dataclass(frozen=True)
class CurvePoint:
    sequences: int
    train_error: float
    train_accuracy: float


@dataclass
class Progress:
    """What a progress hook sees after every batch."""

    sequences: int
    max_sequences: int
    train_error: float
    train_accuracy: float


@dataclass
class TrialResult:
    model: SequenceClassifier
    model_config: ModelConfig
    train_config: TrainConfig
    task: TaskSpec
    seed: int
    converged: bool
    sequences_seen: int
    sequences_to_criterion: int | None
    curve: list[CurvePoint] = field(default_factory=list)
    wall_seconds: float = 0.0


class TrainingCancelled(Exception):
    """Raised out of `train_trial` when the `should_stop` hook asks to stop."""


ProgressHook = Callable[[Progress], None]


def make_optimizer(parameters: list[torch.nn.Parameter], config: TrainConfig) -> torch.optim.Optimizer:
    # Fused: one kernel for all parameters instead of a dozen small operations each (same update).
    if config.optimizer == "sgd":
        return torch.optim.SGD(parameters, lr=config.learning_rate, momentum=config.momentum, fused=True)
    return torch.optim.Adam(parameters, lr=config.learning_rate, fused=True)


def annealing_factor(criterion: StoppingCriterion, config: TrainConfig) -> float:
    error = criterion.mean_error
    if error != error or error >= config.criterion_error:  # NaN before the first batch
        return 1.0
    return max(config.anneal_floor, error / config.criterion_error)


def set_learning_rate(optimizer: torch.optim.Optimizer, learning_rate: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = learning_rate


# Sequences per call of a compiled on-line learner: progress and cancellation are seen between calls.
ONLINE_CHUNK = 256


def _plain_online_sgd(config: TrainConfig) -> bool:
    """One plain gradient step per sequence and nothing else: what a compiled on-line learner does alone."""
    return (
        config.optimizer == "sgd"
        and config.batch_size == 1
        and config.momentum == 0
        and config.grad_clip is None
        and not config.anneal
    )


def _train_online_chunk(online: OnlineLearner, batch: Batch, criterion: StoppingCriterion, learning_rate: float) -> int:
    """Train on `batch` one sequence at a time, judging each before its update; stop at the sequence with which
    the criterion is met, keeping exactly the weights it was judged with. Returns the sequences consumed."""
    before = online.snapshot()
    outputs = online.train(batch.tokens, batch.lengths, batch.labels, learning_rate)
    met_at = criterion.update_until_met(*judge_batch(outputs, batch.labels.numpy()))
    if met_at is None:
        return len(batch)
    # The updates of the judged sequence and of those after it are taken back: replay only the ones before.
    online.restore(before)
    if met_at > 0:
        online.train(batch.tokens[:met_at], batch.lengths[:met_at], batch.labels[:met_at], learning_rate)
    return met_at + 1


def train_trial(
    task: TaskSpec,
    *,
    arch: str | None = None,
    model_config: ModelConfig | None = None,
    train_config: TrainConfig | None = None,
    seed: int = 0,
    on_progress: ProgressHook | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> TrialResult:
    """Train one fresh model with its own seed; every training sequence is new (online generation)."""
    if model_config is None:
        if arch is None:
            raise ValueError("give arch or model_config")
        model_config = default_config(arch, n_classes=task.n_classes)
    if model_config.n_classes != task.n_classes:
        raise ValueError(f"model has {model_config.n_classes} classes, task {task.name} has {task.n_classes}")
    config = train_config or default_train_config(model_config.arch, task)
    torch.manual_seed(seed)
    model = build_model(model_config)
    model.select_gradient(config.gradient)
    # The optimizer and clipping see one vector; the model's parameters are views into it (same update).
    flat = FlatParameters(model)
    optimizer = make_optimizer([flat.vector], config)
    # After FlatParameters: the learner updates the very storage the model's parameters now view.
    online = model.online_learner() if _plain_online_sgd(config) else None
    data = SequenceStream(task, make_generator(seed))
    criterion = StoppingCriterion(config.criterion_window, config.criterion_error)
    curve: list[CurvePoint] = []
    seen = 0
    next_curve_point = config.curve_every
    started = time.perf_counter()
    converged = False
    model.train()
    while seen < config.max_sequences:
        if should_stop is not None and should_stop():
            raise TrainingCancelled(f"stopped after {seen} sequences")
        if online is not None:
            batch = data.take(min(ONLINE_CHUNK, config.max_sequences - seen))
            seen += _train_online_chunk(online, batch, criterion, config.learning_rate)
            converged = criterion.met()
        else:
            batch = data.take(min(config.batch_size, config.max_sequences - seen))
            # The criterion judges the outputs the network gave before this batch's update, as online learning
            # does. Once it is met, the update is skipped: the trial keeps exactly the weights that were judged.
            probabilities, _ = model.training_step(batch.tokens, batch.lengths, batch.labels)
            criterion.update(*judge_batch(probabilities.numpy(), batch.labels.numpy()))
            seen += len(batch)
            converged = criterion.met()
        if not converged and online is None:
            flat.gather_gradients()
            if config.grad_clip is not None:
                flat.clip_gradient_norm(config.grad_clip)
            if config.anneal:
                set_learning_rate(optimizer, config.learning_rate * annealing_factor(criterion, config))
            optimizer.step()
        if seen >= next_curve_point:
            curve.append(CurvePoint(seen, criterion.mean_error, criterion.accuracy))
            next_curve_point += config.curve_every
        if on_progress is not None:
            on_progress(Progress(seen, config.max_sequences, criterion.mean_error, criterion.accuracy))
        if converged:
            break
    if not curve or curve[-1].sequences != seen:
        curve.append(CurvePoint(seen, criterion.mean_error, criterion.accuracy))
    flat.release()
    model.eval()
    return TrialResult(
        model=model,
        model_config=model_config,
        train_config=config,
        task=task,
        seed=seed,
        converged=converged,
        sequences_seen=seen,
        sequences_to_criterion=seen if converged else None,
        curve=curve,
        wall_seconds=time.perf_counter() - started,
    )
