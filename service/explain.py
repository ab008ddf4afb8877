"""Per-position attribution: attention weights for attention models, gradient × input for the others."""

from __future__ import annotations

from typing import Literal

import torch

from training.models import SequenceClassifier, one_hot

Method = Literal["attention", "gradient_x_input"]


def attribution(
    model: SequenceClassifier, tokens: torch.Tensor, lengths: torch.Tensor, target: int
) -> tuple[list[float], Method]:
    """One number per symbol of the single sequence in `tokens` (1, T), explaining class `target`.

    Gradient × input is taken with `torch.autograd.grad`, so the model's parameters never accumulate
    gradients and concurrent inference is unaffected.
    """
    length = int(lengths[0])
    if model.has_attention:
        with torch.no_grad():
            weights = model.attention(one_hot(tokens), lengths)  # (1, T)
        return weights[0, :length].float().cpu().tolist(), "attention"
    # cuDNN's RNN backward refuses eval mode; the native kernels give the same numbers.
    with torch.enable_grad(), torch.backends.cudnn.flags(enabled=False):
        inputs = one_hot(tokens).requires_grad_(True)  # (1, T, S)
        log_probabilities = model.log_probabilities(model(inputs, lengths))  # (1, C)
        (gradient,) = torch.autograd.grad(log_probabilities[0, target], inputs)
    scores = (gradient * inputs).sum(dim=2)  # (1, T): the gradient at each step's actual symbol
    return scores[0, :length].detach().float().cpu().tolist(), "gradient_x_input"
