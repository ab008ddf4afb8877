"""The compiled paths of the models that have them, behind the three questions the trainer, the test protocol and
the server ask: a compiled forward (symbol ids → class probabilities), a compiled training step, an on-line
learner. Each answers None where a model runs on torch's operators alone (any model off the CPU, and the modules
without a kernel); the modules in models.py know nothing of their kernels. Importing this changes nothing global.

    python -m training.warm_kernels     # compiles, or loads from numba's cache, every kernel reached from here
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Protocol

import numpy as np
import torch

from training import fused_lstm, lstm1997
from training.models import LSTMClassifier, PaperLSTM, SequenceClassifier
from training.train_config import Gradient


class CompiledForward(Protocol):
    def __call__(self, tokens: np.ndarray, lengths: np.ndarray, *, threads: int = 1) -> np.ndarray:
        """Class probabilities (B, C) float64 for symbol ids (B, T) int64 and lengths (B,) int64; each row the same
        alone or in any batch, on any number of threads."""
        ...


# tokens (B, T), lengths (B,), labels (B,) → the class probabilities (B, C) before any update and the mean loss;
# every parameter's `.grad` is replaced by the gradient of that loss.
TrainStep = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], tuple[torch.Tensor, float]]


def _fused_lstm_runs(model: LSTMClassifier) -> bool:
    weight = model.lstm.weight_ih_l0
    return weight.device.type == "cpu" and weight.dtype == torch.float32


def compiled_forward(model: SequenceClassifier, device: torch.device) -> CompiledForward | None:
    """A frozen copy of the model's weights that computes class probabilities in one compiled call, which holds no
    lock of Python's, or None where the model has no such kernel on `device`."""
    if device.type != "cpu":
        return None
    if isinstance(model, LSTMClassifier) and _fused_lstm_runs(model):
        return fused_lstm.FrozenLSTMClassifier.of(model.lstm, model.head).probabilities
    if isinstance(model, PaperLSTM):
        frozen = lstm1997.as_arrays([p.detach().clone() for p in model.weights])
        return partial(_paper_lstm_probabilities, frozen, lstm1997.Layout.of(model.config))
    return None


def _paper_lstm_probabilities(
    weights: lstm1997.Weights, layout: lstm1997.Layout, tokens: np.ndarray, lengths: np.ndarray, *, threads: int = 1
) -> np.ndarray:
    # One thread whatever `threads` says: the kernel runs sequences one after another. The logistic output units
    # are torch's sigmoid, as in PaperLSTM.probabilities.
    return torch.sigmoid(torch.from_numpy(lstm1997.output_nets(weights, tokens, lengths, layout))).numpy()


def compiled_train_step(model: SequenceClassifier, gradient: Gradient) -> TrainStep | None:
    """The model's compiled training step for `gradient`, or None: the trainer then backpropagates through the
    module's own forward. The truncated gradient of the 1997 paper exists only as lstm1997's kernel."""
    if isinstance(model, PaperLSTM):
        return partial(_paper_lstm_step, model, gradient == "truncated")
    if isinstance(model, LSTMClassifier) and gradient == "full" and _fused_lstm_runs(model):
        return partial(fused_lstm.train_step, model.lstm, model.head)
    return None


def _paper_lstm_step(
    model: PaperLSTM, truncated: bool, tokens: torch.Tensor, lengths: torch.Tensor, labels: torch.Tensor
) -> tuple[torch.Tensor, float]:
    """Mean over the batch of E/2 and its gradient (appendix A.1's truncated one, or the full one); the outputs are
    the logistic units' activations."""
    gradients, outputs, total = lstm1997.batch_gradient(
        lstm1997.as_arrays(model.weights),
        tokens.numpy(),
        lengths.numpy(),
        labels.numpy(),
        truncated=truncated,
        layout=lstm1997.Layout.of(model.config),
    )
    batch = len(lengths)
    for parameter, gradient in zip(model.weights, gradients, strict=True):
        parameter.grad = torch.from_numpy(gradient / batch)
    return torch.from_numpy(outputs), total / (2 * batch)


def online_learner(model: SequenceClassifier, gradient: Gradient) -> lstm1997.OnlineLearner | None:
    """A compiled learner that trains on-line (one plain gradient step per sequence) in place on the model's
    weights, much faster than the generic loop can, or None when the model has none."""
    if isinstance(model, PaperLSTM):
        return lstm1997.OnlineLearner(
            model.weights, truncated=gradient == "truncated", layout=lstm1997.Layout.of(model.config)
        )
    return None
