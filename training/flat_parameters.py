"""A model's parameters as views into one contiguous vector, so the optimizer and gradient clipping work
on one tensor instead of one per weight matrix and bias.

Why: the models here are tiny (a few thousand numbers in six tensors), and on a CPU every tensor operation
has a fixed cost of several microseconds. Adam and clipping over six tensors cost more per batch than the
16-cell LSTM's whole forward and backward; over one vector they cost a few operations.
"""

from __future__ import annotations

import torch
from torch import nn


class FlatParameters:
    """Re-homes every trainable parameter of `model` into `vector`; `release()` gives each its own storage
    back (needed before saving: safetensors refuses tensors that share memory)."""

    def __init__(self, model: nn.Module) -> None:
        self.parameters = [p for p in model.parameters() if p.requires_grad]
        total = sum(p.numel() for p in self.parameters)
        first = self.parameters[0]
        self.vector = nn.Parameter(torch.empty(total, dtype=first.dtype, device=first.device))
        offset = 0
        with torch.no_grad():
            for parameter in self.parameters:
                size = parameter.numel()
                view = self.vector.data[offset : offset + size].view_as(parameter)
                view.copy_(parameter.data)
                parameter.data = view
                offset += size

    def gather_gradients(self) -> None:
        """vector.grad ← the parameters' gradients (a parameter without one contributes zeros)."""
        grads = [
            torch.zeros(p.numel(), dtype=p.dtype, device=p.device) if p.grad is None else p.grad.reshape(-1)
            for p in self.parameters
        ]
        self.vector.grad = torch.cat(grads)

    def clip_gradient_norm(self, max_norm: float) -> float:
        """`torch.nn.utils.clip_grad_norm_` on the one vector, in two operations instead of a dozen: scale the
        gradient by max_norm / (norm + 1e-6) when that is below 1. Returns the norm before clipping."""
        assert self.vector.grad is not None, "gather_gradients first"
        norm = float(torch.linalg.vector_norm(self.vector.grad))
        scale = max_norm / (norm + 1e-6)
        if scale < 1.0:
            self.vector.grad.mul_(scale)
        return norm

    def release(self) -> None:
        with torch.no_grad():
            for parameter in self.parameters:
                parameter.data = parameter.data.clone()
