"""The compiled kernels of `lstm1997`, the network of Hochreiter & Schmidhuber (1997), section 5.6 and appendix
A.1: one sequence's forward pass, its gradient (the truncated one of appendix A.1, or the full one of the real
system by backpropagation through time) and, for on-line learning, the weight update after every sequence.

    temporal-order train --arch lstm1997 --task 6a --trials 1

Units and weights (the layout `models.PaperLSTM` stores; `Layout` names it):
- the hidden units are, in this order, the C = s·b memory cells (block j owns cells s·j .. s·j + s - 1; the paper
  has s = 2), the b input gates, the b output gates and, only where a forget gate is asked for (the ablation
  ladder's; the paper has none), the b forget gates: U = C + 2b (+ b) units;
- `hidden_weight` (U, S + R): column x < S is the weight from input unit x (the one-hot symbols), column S + m
  the weight from hidden unit m < R, where R = U (connectivity "F": every cell and gate, the paper's) or R = C
  (the cells only, as `nn.LSTM` has); `hidden_bias` (U,);
- `output_weight` (K, C) from the cells to the K logistic output units; `output_bias` (K,).
- g = g_range·(2σ − 1) and h = h_range·(2σ − 1): the paper's section 5.6 and equations 4-5 give g in [−2, 2] and
  h in [−1, 1] (the default); the legend of its Table 10 gives the opposite, kept as an option.

Timing (equations 6-9): every net input reads the previous step's activations y^u(t-1). The input units are
clamped to symbol t of the sequence at step t-1, so at step t the cells and gates see symbol t together with
the cells' and gates' own activations of step t-1 (y = 0 and s = 0 before the first symbol). The output units,
which receive the cells only, take the cells' activations after the last symbol (the trigger B): the target
is applied to them at the sequence end, and only there.

Error and update: E = Σ_k (d_k - y_k)², at the sequence end only. The algorithm (equations 19-28) uses
e_k = f'(net_k)(d_k - y_k) and Δw = α e y, which is -α ∂(E/2)/∂w: equation 19 drops the 2 of ∂E/∂net. The
kernels follow the algorithm, so the gradient they return is that of E/2 (an update at rate α with the
gradient of E itself is the same update at rate 2α).

The truncated gradient cuts every error flow that leaves a memory cell or a gate through the recurrent
connections: net inputs are differentiated as if the previous step's activations were constants. The
derivatives ∂s_c/∂w of each cell's state with respect to its own incoming weights and its input gate's are
carried forward in time (equations 25 and 27), so the backward pass happens at the sequence end in O(W).
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np
from numba import njit

from training.models import PaperLSTMConfig

Weights = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


class Layout(NamedTuple):
    """What the kernels need to know beyond the weights' shapes (see the module docstring)."""

    cells_per_block: int = 2
    forget: bool = False
    recurrent: int = 0  # R: how many hidden units (from the first) feed back; 0 means all of them
    g_range: float = 2.0
    h_range: float = 1.0

    @classmethod
    def of(cls, config: PaperLSTMConfig) -> Layout:
        cells = config.blocks * config.cells_per_block
        return cls(
            cells_per_block=config.cells_per_block,
            forget=config.forget_bias is not None,
            recurrent=cells if config.recurrent == "cells" else 0,
            g_range=config.g_range,
            h_range=config.h_range,
        )


PAPER_LAYOUT = Layout()


@njit(inline="always", cache=True)
def _logistic(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


@njit(cache=True)
def _forward(
    hidden_weight: np.ndarray,
    hidden_bias: np.ndarray,
    tokens: np.ndarray,
    length: int,
    trace: np.ndarray,
    carried: np.ndarray,
    truncated: bool,
    shape: np.ndarray,
    ranges: np.ndarray,
) -> None:
    """Run one sequence. Row t of `trace` (T+1, 2U + C) holds the state after symbol t (row 0: before the first
    symbol): the activations of the U hidden units, the C cells' states s, and σ(net) of every hidden unit.
    When `truncated`, `carried` (2, C, S + R + 1) accumulates ∂s_c/∂w for the cell's own incoming weights
    (row 0) and for its input gate's (row 1); column S + R is the bias. `shape` is (C, cells per block, forget
    gates or not, R) and `ranges` (g_range, h_range), from `Layout`."""
    units = hidden_bias.shape[0]
    cells, per_block, forget, fed_back = shape[0], shape[1], shape[2] == 1, shape[3]
    g_range, h_range = ranges[0], ranges[1]
    blocks = cells // per_block
    symbols = hidden_weight.shape[1] - fed_back
    bias_column = symbols + fed_back
    if truncated:
        carried[:] = 0.0
    trace[0, :] = 0.0
    recurrent_t = np.empty((fed_back, units))  # recurrent_t[m, u]: the weight from hidden unit m to unit u
    for m in range(fed_back):
        for u in range(units):
            recurrent_t[m, u] = hidden_weight[u, symbols + m]
    nets = np.empty(units)
    for t in range(length):
        previous = trace[t]
        current = trace[t + 1]
        symbol = tokens[t]
        # The net inputs, each summed in the order bias, input, hidden units 0..R-1 (the order fixes the rounding):
        # the loop over units innermost, over the transposed weights, lets the compiler add R terms to all U
        # net inputs at once (a dot product per unit would be a serial chain of additions); about 1.3× faster.
        for u in range(units):
            nets[u] = hidden_bias[u] + hidden_weight[u, symbol]
        for m in range(fed_back):
            y = previous[m]
            for u in range(units):
                nets[u] += recurrent_t[m, u] * y
        for u in range(units):
            current[units + cells + u] = _logistic(nets[u])  # σ(net_u)
        for u in range(cells, units):
            current[u] = current[units + cells + u]  # a gate's activation is σ(net)
        for c in range(cells):
            j = c // per_block
            y_in = current[cells + j]
            y_out = current[cells + blocks + j]
            y_forget = current[cells + 2 * blocks + j] if forget else 1.0
            sigma_c = current[units + cells + c]
            g = g_range * (2.0 * sigma_c - 1.0)
            state = y_forget * previous[units + c] + y_in * g
            current[units + c] = state
            current[c] = y_out * h_range * (2.0 * _logistic(state) - 1.0)  # y_c = y_out h(s)
            if truncated:
                # Equations 27 (the cell's own weights) and 25 (its input gate's), one-hot input: only column
                # `symbol` of the inputs is non-zero.
                sigma_in = current[units + cells + cells + j]
                cell_factor = y_in * 2.0 * g_range * sigma_c * (1.0 - sigma_c)  # y_in g'(net_c)
                gate_factor = g * sigma_in * (1.0 - sigma_in)  # g(net_c) f'(net_in)
                carried[0, c, symbol] += cell_factor
                carried[1, c, symbol] += gate_factor
                for m in range(fed_back):
                    carried[0, c, symbols + m] += cell_factor * previous[m]
                    carried[1, c, symbols + m] += gate_factor * previous[m]
                carried[0, c, bias_column] += cell_factor
                carried[1, c, bias_column] += gate_factor


@njit(cache=True)
def _output(output_weight: np.ndarray, output_bias: np.ndarray, final: np.ndarray, outputs: np.ndarray) -> None:
    """The logistic output units at the sequence end, from the cells' activations in `final`; `outputs` (K,)."""
    for k in range(output_bias.shape[0]):
        net = output_bias[k]
        for c in range(output_weight.shape[1]):
            net += output_weight[k, c] * final[c]
        outputs[k] = _logistic(net)


@njit(cache=True)
def _sequence_gradient(
    hidden_weight: np.ndarray,
    hidden_bias: np.ndarray,
    output_weight: np.ndarray,
    output_bias: np.ndarray,
    tokens: np.ndarray,
    length: int,
    label: int,
    truncated: bool,
    shape: np.ndarray,
    ranges: np.ndarray,
    gradients: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    outputs: np.ndarray,
    trace: np.ndarray,
    carried: np.ndarray,
    backward: np.ndarray,
) -> float:
    """Add the gradient of E/2 for one sequence to `gradients` (same shapes as the weights), write the output
    units' activations to `outputs`, return E."""
    grad_hidden, grad_hidden_bias, grad_output, grad_output_bias = gradients
    units = hidden_bias.shape[0]
    cells, per_block, forget, fed_back = shape[0], shape[1], shape[2] == 1, shape[3]
    g_range, h_range = ranges[0], ranges[1]
    blocks = cells // per_block
    symbols = hidden_weight.shape[1] - fed_back
    _forward(hidden_weight, hidden_bias, tokens, length, trace, carried, truncated, shape, ranges)
    final = trace[length]
    _output(output_weight, output_bias, final, outputs)
    error = 0.0
    # backward[0]: ∂(E/2)/∂y of every hidden unit at the step being processed; backward[1]: ∂(E/2)/∂s.
    backward[:] = 0.0
    for k in range(outputs.shape[0]):
        target = 1.0 if k == label else 0.0
        y = outputs[k]
        error += (target - y) * (target - y)
        delta = (y - target) * y * (1.0 - y)  # -e_k of equation 19
        grad_output_bias[k] += delta
        for c in range(cells):
            grad_output[k, c] += delta * final[c]
            backward[0, c] += delta * output_weight[k, c]  # ∂(E/2)/∂y_c at the last step
    if truncated:
        previous = trace[length - 1]
        symbol = tokens[length - 1]
        for j in range(blocks):
            y_out = final[cells + blocks + j]
            into_gate = 0.0
            for v in range(per_block):
                c = j * per_block + v
                sigma_s = _logistic(final[units + c])
                into_gate += h_range * (2.0 * sigma_s - 1.0) * backward[0, c]
                # Equation 23: the state's error; equations 26 and 28 with the carried ∂s/∂w.
                state_error = y_out * 2.0 * h_range * sigma_s * (1.0 - sigma_s) * backward[0, c]
                gate = cells + j
                for m in range(symbols + fed_back):
                    grad_hidden[c, m] += state_error * carried[0, c, m]
                    grad_hidden[gate, m] += state_error * carried[1, c, m]
                grad_hidden_bias[c] += state_error * carried[0, c, symbols + fed_back]
                grad_hidden_bias[gate] += state_error * carried[1, c, symbols + fed_back]
            # Equations 21-22: the output gate at the last step only.
            out = cells + blocks + j
            delta_out = into_gate * y_out * (1.0 - y_out)
            grad_hidden[out, symbol] += delta_out
            for m in range(fed_back):
                grad_hidden[out, symbols + m] += delta_out * previous[m]
            grad_hidden_bias[out] += delta_out
        return error
    # The full gradient: backpropagation through time over the real system, every recurrent path included.
    for t in range(length, 0, -1):
        current = trace[t]
        previous = trace[t - 1]
        symbol = tokens[t - 1]
        deltas = backward[2]
        for j in range(blocks):
            y_in = current[cells + j]
            y_out = current[cells + blocks + j]
            into_out = backward[0, cells + blocks + j]  # through the recurrent connections of step t + 1
            into_in = backward[0, cells + j]
            y_forget = 1.0
            into_forget = 0.0
            if forget:
                y_forget = current[cells + 2 * blocks + j]
                into_forget = backward[0, cells + 2 * blocks + j]
            for v in range(per_block):
                c = j * per_block + v
                sigma_s = _logistic(current[units + c])
                into_out += h_range * (2.0 * sigma_s - 1.0) * backward[0, c]
                backward[1, c] += backward[0, c] * y_out * 2.0 * h_range * sigma_s * (1.0 - sigma_s)  # ∂/∂s(t)
                sigma_c = current[units + cells + c]
                into_in += backward[1, c] * g_range * (2.0 * sigma_c - 1.0)
                into_forget += backward[1, c] * previous[units + c]  # s(t) = y_forget s(t-1) + ...
                deltas[c] = backward[1, c] * y_in * 2.0 * g_range * sigma_c * (1.0 - sigma_c)  # ∂/∂net_c
                backward[1, c] *= y_forget  # ∂s(t)/∂s(t-1): 1 without a forget gate
            deltas[cells + j] = into_in * y_in * (1.0 - y_in)
            deltas[cells + blocks + j] = into_out * y_out * (1.0 - y_out)
            if forget:
                deltas[cells + 2 * blocks + j] = into_forget * y_forget * (1.0 - y_forget)
        # The activations' gradients restart from the recurrent connections into step t.
        for m in range(units):
            backward[0, m] = 0.0
        for u in range(units):
            delta = deltas[u]
            grad_hidden[u, symbol] += delta
            grad_hidden_bias[u] += delta
            for m in range(fed_back):
                grad_hidden[u, symbols + m] += delta * previous[m]
                backward[0, m] += delta * hidden_weight[u, symbols + m]
    return error


def _scratch(weights: Weights, max_length: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Work arrays of one sequence at a time: the trace of every step, the carried ∂s/∂w, backward signals."""
    units, columns = weights[0].shape
    cells = weights[2].shape[1]
    trace = np.zeros((max_length + 1, 2 * units + cells), dtype=np.float64)
    carried = np.zeros((2, cells, columns + 1), dtype=np.float64)
    backward = np.zeros((3, units), dtype=np.float64)
    return trace, carried, backward


@njit(cache=True)
def _batch_gradient(
    hidden_weight: np.ndarray,
    hidden_bias: np.ndarray,
    output_weight: np.ndarray,
    output_bias: np.ndarray,
    tokens: np.ndarray,
    lengths: np.ndarray,
    labels: np.ndarray,
    truncated: bool,
    shape: np.ndarray,
    ranges: np.ndarray,
    gradients: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    outputs: np.ndarray,
    trace: np.ndarray,
    carried: np.ndarray,
    backward: np.ndarray,
) -> float:
    total = 0.0
    for row in range(lengths.shape[0]):
        total += _sequence_gradient(
            hidden_weight,
            hidden_bias,
            output_weight,
            output_bias,
            tokens[row],
            lengths[row],
            labels[row],
            truncated,
            shape,
            ranges,
            gradients,
            outputs[row],
            trace,
            carried,
            backward,
        )
    return total


@njit(cache=True)
def _train_online(
    hidden_weight: np.ndarray,
    hidden_bias: np.ndarray,
    output_weight: np.ndarray,
    output_bias: np.ndarray,
    tokens: np.ndarray,
    lengths: np.ndarray,
    labels: np.ndarray,
    truncated: bool,
    shape: np.ndarray,
    ranges: np.ndarray,
    learning_rate: float,
    gradients: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    outputs: np.ndarray,
    trace: np.ndarray,
    carried: np.ndarray,
    backward: np.ndarray,
) -> None:
    grad_hidden, grad_hidden_bias, grad_output, grad_output_bias = gradients
    for row in range(lengths.shape[0]):
        grad_hidden[:] = 0.0
        grad_hidden_bias[:] = 0.0
        grad_output[:] = 0.0
        grad_output_bias[:] = 0.0
        _sequence_gradient(
            hidden_weight,
            hidden_bias,
            output_weight,
            output_bias,
            tokens[row],
            lengths[row],
            labels[row],
            truncated,
            shape,
            ranges,
            gradients,
            outputs[row],
            trace,
            carried,
            backward,
        )
        for u in range(hidden_weight.shape[0]):
            hidden_bias[u] -= learning_rate * grad_hidden_bias[u]
            for m in range(hidden_weight.shape[1]):
                hidden_weight[u, m] -= learning_rate * grad_hidden[u, m]
        for k in range(output_weight.shape[0]):
            output_bias[k] -= learning_rate * grad_output_bias[k]
            for c in range(output_weight.shape[1]):
                output_weight[k, c] -= learning_rate * grad_output[k, c]


@njit(cache=True)
def _output_nets(
    hidden_weight: np.ndarray,
    hidden_bias: np.ndarray,
    output_weight: np.ndarray,
    output_bias: np.ndarray,
    tokens: np.ndarray,
    lengths: np.ndarray,
    shape: np.ndarray,
    ranges: np.ndarray,
    outputs: np.ndarray,
    trace: np.ndarray,
    carried: np.ndarray,
) -> None:
    for row in range(lengths.shape[0]):
        _forward(hidden_weight, hidden_bias, tokens[row], lengths[row], trace, carried, False, shape, ranges)
        final = trace[lengths[row]]
        for k in range(output_bias.shape[0]):
            net = output_bias[k]
            for c in range(output_weight.shape[1]):
                net += output_weight[k, c] * final[c]
            outputs[row, k] = net


def _check(weights: Weights, tokens: np.ndarray, lengths: np.ndarray, layout: Layout) -> tuple[np.ndarray, np.ndarray]:
    """Check the arrays against each other and against `layout`; return the kernels' `shape` and `ranges`."""
    for array in weights:
        if array.dtype != np.float64 or not array.flags.c_contiguous:
            raise TypeError("lstm1997 kernels take C-contiguous float64 weights")
    if tokens.ndim != 2 or lengths.shape != (tokens.shape[0],):
        raise ValueError("tokens must be (N, T) and lengths (N,)")
    if len(lengths) and (lengths.min() < 1 or lengths.max() > tokens.shape[1]):
        raise ValueError("every length must be in 1..T")
    units = weights[1].shape[0]
    cells = weights[2].shape[1]
    gates = 3 if layout.forget else 2
    if cells % layout.cells_per_block or units != cells + gates * (cells // layout.cells_per_block):
        raise ValueError(f"{units} hidden units and {cells} cells do not fit the layout {layout}")
    fed_back = layout.recurrent or units
    shape = np.array([cells, layout.cells_per_block, int(layout.forget), fed_back], dtype=np.int64)
    return shape, np.array([layout.g_range, layout.h_range], dtype=np.float64)


def output_nets(weights: Weights, tokens: np.ndarray, lengths: np.ndarray, layout: Layout = PAPER_LAYOUT) -> np.ndarray:
    """The output units' net inputs at each sequence's end (N, K); their activations are the logistic of these."""
    shape, ranges = _check(weights, tokens, lengths, layout)
    out = np.empty((len(lengths), weights[3].shape[0]), dtype=np.float64)
    trace, carried, _ = _scratch(weights, tokens.shape[1])
    _output_nets(
        *weights, np.ascontiguousarray(tokens), np.ascontiguousarray(lengths), shape, ranges, out, trace, carried
    )
    return out


def _zeros_like(weights: Weights) -> Weights:
    return (np.zeros_like(weights[0]), np.zeros_like(weights[1]), np.zeros_like(weights[2]), np.zeros_like(weights[3]))


def _truncation_fits(layout: Layout, truncated: bool) -> None:
    if truncated and layout.forget:
        raise ValueError("the truncated gradient of appendix A.1 has no forget gate: use the full gradient")


def batch_gradient(
    weights: Weights,
    tokens: np.ndarray,
    lengths: np.ndarray,
    labels: np.ndarray,
    *,
    truncated: bool,
    layout: Layout = PAPER_LAYOUT,
) -> tuple[Weights, np.ndarray, float]:
    """The gradient of Σ over the batch of E/2 (shapes of `weights`), the outputs (N, K) and Σ E."""
    shape, ranges = _check(weights, tokens, lengths, layout)
    _truncation_fits(layout, truncated)
    gradients = _zeros_like(weights)
    out = np.empty((len(lengths), weights[3].shape[0]), dtype=np.float64)
    trace, carried, backward = _scratch(weights, tokens.shape[1])
    total = _batch_gradient(
        *weights,
        np.ascontiguousarray(tokens),
        np.ascontiguousarray(lengths),
        np.ascontiguousarray(labels),
        truncated,
        shape,
        ranges,
        gradients,
        out,
        trace,
        carried,
        backward,
    )
    return gradients, out, float(total)


def train_online(
    weights: Weights,
    tokens: np.ndarray,
    lengths: np.ndarray,
    labels: np.ndarray,
    *,
    learning_rate: float,
    truncated: bool,
    layout: Layout = PAPER_LAYOUT,
) -> np.ndarray:
    """On-line gradient descent, the paper's: for each sequence in order, its outputs with the weights as they
    are, then w -= learning_rate · ∂(E/2)/∂w, in place. Returns the outputs (N, K) each sequence was judged by."""
    shape, ranges = _check(weights, tokens, lengths, layout)
    _truncation_fits(layout, truncated)
    gradients = _zeros_like(weights)
    out = np.empty((len(lengths), weights[3].shape[0]), dtype=np.float64)
    trace, carried, backward = _scratch(weights, tokens.shape[1])
    _train_online(
        *weights,
        np.ascontiguousarray(tokens),
        np.ascontiguousarray(lengths),
        np.ascontiguousarray(labels),
        truncated,
        shape,
        ranges,
        float(learning_rate),
        gradients,
        out,
        trace,
        carried,
        backward,
    )
    return out


def as_arrays(tensors: Any) -> Weights:
    """NumPy views of the four weight tensors (hidden weight and bias, output weight and bias): no copy, so the
    kernels' in-place updates are the model's."""
    return tuple(t.detach().numpy() for t in tensors)  # type: ignore[return-value]


class OnlineLearner:
    """On-line training in place on a model's four weight tensors (see `train_online`); `snapshot`/`restore` let
    the trainer take back the updates of sequences that followed the one that met the stopping criterion."""

    def __init__(self, tensors: Any, *, truncated: bool, layout: Layout = PAPER_LAYOUT) -> None:
        self.arrays = as_arrays(tensors)
        self.truncated = truncated
        self.layout = layout
        _truncation_fits(layout, truncated)

    def train(self, tokens: Any, lengths: Any, labels: Any, learning_rate: float) -> np.ndarray:
        return train_online(
            self.arrays,
            tokens.numpy(),
            lengths.numpy(),
            labels.numpy(),
            learning_rate=learning_rate,
            truncated=self.truncated,
            layout=self.layout,
        )

    def snapshot(self) -> list[np.ndarray]:
        return [array.copy() for array in self.arrays]

    def restore(self, snapshot: list[np.ndarray]) -> None:
        for array, saved in zip(self.arrays, snapshot, strict=True):
            array[...] = saved
