"""One trial: train a fresh model on online-generated sequences until the paper's stopping criterion or a
sequence budget.

    temporal-order train --arch lstm --trials 1 --seed 0
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import torch
import torch.nn.functional as F

from training import kernels
from training.architectures import architecture, build_model, default_config
from training.criterion import StoppingCriterion, judge_batch
from training.flat_parameters import FlatParameters
from training.lstm1997 import OnlineLearner
from training.models import ModelConfig, SequenceClassifier
from training.protocol import CurvePoint, TrialResult
from training.task import Batch, SequenceStream, TaskSpec, make_generator
from training.train_config import TrainConfig

# A grad_clip override of 0 turns clipping off (None as an override means "keep the default").
NO_CLIPPING = 0.0


def default_train_config(arch: str, task: TaskSpec | None = None, **overrides: Any) -> TrainConfig:
    """An architecture's defaults, the task's where the paper's recipe has one, then `overrides` (None: keep)."""
    registered = architecture(arch)
    base = registered.train_config
    if task is not None and registered.task_learning_rates:
        # A shortened variant ("6a/5") keeps its task's rate.
        rate = registered.task_learning_rates.get(task.name.split("/")[0], base.learning_rate)
        base = dataclasses.replace(base, learning_rate=rate)
    chosen = {k: v for k, v in overrides.items() if v is not None}
    if chosen.get("grad_clip") == NO_CLIPPING:
        chosen["grad_clip"] = None
    return dataclasses.replace(base, **chosen)


@dataclass
class Progress:
    """What a progress hook sees after every batch."""

    sequences: int
    max_sequences: int
    train_error: float
    train_accuracy: float


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


def autograd_step(
    model: SequenceClassifier, tokens: torch.Tensor, lengths: torch.Tensor, labels: torch.Tensor
) -> tuple[torch.Tensor, float]:
    """One batch through the module's own forward: the class probabilities (B, C) before any update, and the mean
    cross-entropy, whose gradient replaces every parameter's `.grad`."""
    logits = model.forward_tokens(tokens, lengths)
    loss = F.cross_entropy(logits, labels)
    model.zero_grad(set_to_none=True)
    loss.backward()
    return logits.detach().softmax(dim=1), float(loss.detach())


def train_trial(
    task: TaskSpec,
    *,
    arch: str | None = None,
    model_config: ModelConfig | None = None,
    train_config: TrainConfig | None = None,
    seed: int = 0,
    on_progress: ProgressHook | None = None,
    should_stop: Callable[[], bool] | None = None,
    compiled: bool = True,
) -> TrialResult:
    """Train one fresh model with its own seed; every training sequence is new (online generation). `compiled`
    False keeps the model on torch's operators even where it has a kernel (the baseline benchmarks compare)."""
    if model_config is None:
        if arch is None:
            raise ValueError("give arch or model_config")
        model_config = default_config(arch, n_classes=task.n_classes)
    if model_config.n_classes != task.n_classes:
        raise ValueError(f"model has {model_config.n_classes} classes, task {task.name} has {task.n_classes}")
    config = train_config or default_train_config(model_config.arch, task)
    torch.manual_seed(seed)
    model = build_model(model_config)
    compiled_step = kernels.compiled_train_step(model, config.gradient) if compiled else None
    if compiled_step is None and config.gradient != "full":
        raise ValueError(
            f"{model_config.arch} has no kernel for the {config.gradient} gradient: it learns by the full gradient only"
        )
    training_step = compiled_step or partial(autograd_step, model)
    # The optimizer and clipping see one vector; the model's parameters are views into it (same update).
    flat = FlatParameters(model)
    optimizer = make_optimizer([flat.vector], config)
    # After FlatParameters: the learner updates the very storage the model's parameters now view.
    online = kernels.online_learner(model, config.gradient) if compiled and _plain_online_sgd(config) else None
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
            probabilities, _ = training_step(batch.tokens, batch.lengths, batch.labels)
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
