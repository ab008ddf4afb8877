"""A fused CPU kernel for the one-layer LSTM on symbol ids: the whole recurrence of a sequence, forward and
backward through time, in one compiled loop (numba), instead of one library call per time step.

Why it exists: at this task's sizes (16 cells, ~105 steps) PyTorch's CPU LSTM is bound by its activation
functions and its per-step call overhead, not by its matrix products (bench/train_bench.py times both paths; the
README has the figures). Here one sequence's step is a 16 x 64 product and 64 gate activations on values that
stay in registers, with tanh as a rational function the compiler vectorises (Eigen's float approximation, a few
ulp from `torch.tanh`).

The inputs are symbol ids, not one-hot vectors: x_t @ W_ih^T is then row `x_t` of W_ih^T, so the input
projection and both biases fold into one (symbols x 4H) table. PyTorch's gate order (i, f, g, o) is kept so
the kernel reads `nn.LSTM`'s parameters as they are, and checkpoints do not change.

Training and inference are compiled differently, on purpose. Training kernels use fast-math (reassociation,
fused multiply-add): the fastest code this CPU allows, and a batch's gradient is a sum in some order anyway.
Inference kernels use strict IEEE arithmetic (no reassociation, no contraction into fused multiply-adds), so
every sequence's probabilities come from the same operations in the same order however the compiler vectorises
the loop around it: bit-identical alone or inside any batch, on one thread or many, in the serial and the
parallel copy. Under fast-math those copies round differently on some CPUs (AVX-512), by an ulp or so.

training/kernels.py hands these kernels to the trainer, the test protocol and the server.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import numba
import numpy as np
import torch
from numba import njit, prange

from training import wide_vectors

# The inference kernels' fastmath flag: off, strict IEEE (see the module docstring). Helpers marked
# inline="always" are inlined into their caller and compiled with the caller's flags.
STRICT_IEEE = False

# Beyond |x| = 7.9988 float32 tanh is ±1 to the last bit; Eigen clamps there too.
_TANH_CLAMP = np.float32(7.99881172180175781)


@njit(inline="always", fastmath=True, error_model="numpy", cache=True)
def _tanh(x: Any) -> Any:
    # Eigen's generic_fast_tanh_float: a [13/6] rational approximation, odd numerator, even denominator.
    # Two selects, not min/max: this form vectorises, min/max did not.
    # np.float32 around the global: numba would otherwise read it as a float64 and widen the whole formula.
    x = np.float32(_TANH_CLAMP) if x > np.float32(_TANH_CLAMP) else x
    x = np.float32(-_TANH_CLAMP) if x < np.float32(-_TANH_CLAMP) else x
    x2 = x * x
    p = np.float32(-2.76076847742355e-16)
    p = p * x2 + np.float32(2.00018790482477e-13)
    p = p * x2 + np.float32(-8.60467152213735e-11)
    p = p * x2 + np.float32(5.12229709037114e-08)
    p = p * x2 + np.float32(1.48572235717979e-05)
    p = p * x2 + np.float32(6.37261928875436e-04)
    p = p * x2 + np.float32(4.89352455891786e-03)
    q = np.float32(1.19825839466702e-06)
    q = q * x2 + np.float32(1.18534705686654e-04)
    q = q * x2 + np.float32(2.26843463243900e-03)
    q = q * x2 + np.float32(4.89352518554385e-03)
    return x * p / q


# The default model has 16 cells. Every kernel below branches once on that size and passes it on as a
# constant, so the compiler unrolls and vectorises the per-cell loops of that copy (the copy for any other size
# stays correct for all, and slower).
DEFAULT_HIDDEN = 16


@njit(inline="always", fastmath=True, error_model="numpy", cache=True)
def _step(table: Any, whh: Any, token: int, h: Any, c: Any, gates: Any, hidden: int) -> None:
    """One time step of one sequence: gates (4H) ← activations, c and h updated in place."""
    width = 4 * hidden
    for k in range(width):
        gates[k] = table[token, k]
    for j in range(hidden):  # gates += h @ whh, along whh's contiguous rows
        hj = h[j]
        for k in range(width):
            gates[k] += hj * whh[j, k]
    # Short loops that each touch one gate block and write one array: the compiler vectorises each (a single
    # loop choosing the activation per element, or writing gates, c and h together, did not vectorise).
    # Gates i, f and o are sigmoids, written as 0.5 + 0.5 tanh(x / 2); gate g is a tanh.
    half = np.float32(0.5)
    for k in range(2 * hidden):
        gates[k] = half + half * _tanh(half * gates[k])
    for k in range(2 * hidden, 3 * hidden):
        gates[k] = _tanh(gates[k])
    for k in range(3 * hidden, width):
        gates[k] = half + half * _tanh(half * gates[k])
    for k in range(hidden):
        c[k] = gates[hidden + k] * c[k] + gates[k] * gates[2 * hidden + k]
    for k in range(hidden):
        h[k] = gates[3 * hidden + k] * _tanh(c[k])


@njit(inline="always", fastmath=True, error_model="numpy", cache=True)
def _final_state_row(table: Any, whh: Any, tokens: Any, length: int, out: Any, hidden: int) -> None:
    h = np.zeros(hidden, dtype=np.float32)
    c = np.zeros(hidden, dtype=np.float32)
    gates = np.empty(4 * hidden, dtype=np.float32)
    for t in range(length):
        _step(table, whh, tokens[t], h, c, gates, hidden)
    for k in range(hidden):
        out[k] = h[k]


@njit(inline="always", fastmath=True, error_model="numpy", cache=True)
def _probability_row(
    table: Any, whh: Any, head_w: Any, head_b: Any, tokens: Any, length: int, state: Any, out: Any, hidden: int
) -> None:
    """One sequence → its class probabilities: final state, the head's logits in float32 (as nn.Linear), a
    softmax in float64."""
    _final_state_row(table, whh, tokens, length, state, hidden)
    classes = head_b.shape[0]
    for n in range(classes):
        logit = head_b[n]
        for k in range(hidden):
            logit += head_w[n, k] * state[k]
        out[n] = np.float64(logit)
    largest = out[0]  # not -inf: fastmath assumes no infinities
    for n in range(1, classes):
        largest = max(largest, out[n])
    total = 0.0
    for n in range(classes):
        out[n] = np.exp(out[n] - largest)
        total += out[n]
    for n in range(classes):
        out[n] /= total


@njit(inline="always", fastmath=True, error_model="numpy", cache=True)
def _probabilities_rows(
    table: Any, whh: Any, head_w: Any, head_b: Any, tokens: Any, lengths: Any, out: Any, first: int, stop: int
) -> None:
    hidden = whh.shape[0]
    state = np.empty(hidden, dtype=np.float32)
    if hidden == DEFAULT_HIDDEN:
        for b in range(first, stop):
            _probability_row(table, whh, head_w, head_b, tokens[b], lengths[b], state, out[b], DEFAULT_HIDDEN)
    else:
        for b in range(first, stop):
            _probability_row(table, whh, head_w, head_b, tokens[b], lengths[b], state, out[b], hidden)


@njit(nogil=True, fastmath=STRICT_IEEE, error_model="numpy", cache=True)
def _probabilities_serial(table: Any, whh: Any, head_w: Any, head_b: Any, tokens: Any, lengths: Any, out: Any) -> None:
    _probabilities_rows(table, whh, head_w, head_b, tokens, lengths, out, 0, tokens.shape[0])


# Rows per parallel task: enough to amortise a task's start, few enough to balance two or more threads.
_ROWS_PER_TASK = 64


@njit(nogil=True, fastmath=STRICT_IEEE, error_model="numpy", cache=True, parallel=True)
def _probabilities_parallel(
    table: Any, whh: Any, head_w: Any, head_b: Any, tokens: Any, lengths: Any, out: Any
) -> None:
    n = tokens.shape[0]
    for task in prange((n + _ROWS_PER_TASK - 1) // _ROWS_PER_TASK):
        first = task * _ROWS_PER_TASK
        _probabilities_rows(table, whh, head_w, head_b, tokens, lengths, out, first, min(n, first + _ROWS_PER_TASK))


# Every fast-math kernel that another kernel calls is inline="always", so that it exists only inside its caller.
# A callee compiled as a kernel of its own is compiled twice in a process that compiles it: once alone, once
# linked into its caller and optimised again there (fusing other multiply-adds), and numba's JIT then resolves
# the caller's call to the lone copy, while a caller loaded from numba's cache runs its own. The two round
# differently, so a trial's result would depend on the cache (tests/training/test_fused_lstm.py checks both).


@njit(inline="always", fastmath=True, error_model="numpy", cache=True)
def _forward_train_impl(
    table: Any, whh: Any, tokens: Any, lengths: Any, gates: Any, cells: Any, states: Any, hidden: int
) -> None:
    width = 4 * hidden
    h = np.empty(hidden, dtype=np.float32)
    c = np.empty(hidden, dtype=np.float32)
    step_gates = np.empty(width, dtype=np.float32)
    for b in range(tokens.shape[0]):
        for k in range(hidden):
            h[k] = 0.0
            c[k] = 0.0
            states[b, 0, k] = 0.0
            cells[b, 0, k] = 0.0
        for t in range(lengths[b]):
            _step(table, whh, tokens[b, t], h, c, step_gates, hidden)
            # Explicit loops: numba's slice assignment goes through a generic broadcasting path.
            for k in range(width):
                gates[b, t, k] = step_gates[k]
            for k in range(hidden):
                states[b, t + 1, k] = h[k]
                cells[b, t + 1, k] = c[k]


@njit(inline="always", fastmath=True, error_model="numpy", cache=True)
def _forward_train_rows(table: Any, whh: Any, tokens: Any, lengths: Any, gates: Any, cells: Any, states: Any) -> None:
    """Forward keeping what backward needs: gate activations (B, T, 4H); c and h before and after each step
    (B, T + 1, H), index 0 holding the zero initial state. Steps past a sequence's length are not written."""
    hidden = whh.shape[0]
    if hidden == DEFAULT_HIDDEN:
        _forward_train_impl(table, whh, tokens, lengths, gates, cells, states, DEFAULT_HIDDEN)
    else:
        _forward_train_impl(table, whh, tokens, lengths, gates, cells, states, hidden)


@njit(inline="always", fastmath=True, error_model="numpy", cache=True)
def _backward(
    whh: Any,
    tokens: Any,
    lengths: Any,
    gates: Any,
    cells: Any,
    states: Any,
    grad_final: Any,
    grad_table: Any,
    grad_whh: Any,
) -> None:
    """Backpropagation through time from d loss / d h_final (B, H); accumulates into the two gradients."""
    hidden = whh.shape[0]
    if hidden == DEFAULT_HIDDEN:
        _backward_impl(whh, tokens, lengths, gates, cells, states, grad_final, grad_table, grad_whh, DEFAULT_HIDDEN)
    else:
        _backward_impl(whh, tokens, lengths, gates, cells, states, grad_final, grad_table, grad_whh, hidden)


@njit(inline="always", fastmath=True, error_model="numpy", cache=True)
def _backward_impl(
    whh: Any,
    tokens: Any,
    lengths: Any,
    gates: Any,
    cells: Any,
    states: Any,
    grad_final: Any,
    grad_table: Any,
    grad_whh: Any,
    hidden: int,
) -> None:
    width = 4 * hidden
    one = np.float32(1.0)
    dh = np.empty(hidden, dtype=np.float32)
    dc = np.empty(hidden, dtype=np.float32)
    da = np.empty(width, dtype=np.float32)
    h_old = np.empty(hidden, dtype=np.float32)
    for b in range(tokens.shape[0]):
        for k in range(hidden):
            dh[k] = grad_final[b, k]
            dc[k] = 0.0
        for t in range(lengths[b] - 1, -1, -1):
            # Split into loops that each write one array, so that each vectorises (see _step).
            for k in range(hidden):
                tc = _tanh(cells[b, t + 1, k])
                o = gates[b, t, 3 * hidden + k]
                da[3 * hidden + k] = dh[k] * tc * o * (one - o)
                da[k] = dh[k] * o * (one - tc * tc)  # d loss / d c_t through h_t, parked in da[:H]
            for k in range(hidden):
                dc[k] += da[k]
            for k in range(hidden):
                i = gates[b, t, k]
                f = gates[b, t, hidden + k]
                g = gates[b, t, 2 * hidden + k]
                da[k] = dc[k] * g * i * (one - i)
                da[hidden + k] = dc[k] * cells[b, t, k] * f * (one - f)
                da[2 * hidden + k] = dc[k] * i * (one - g * g)
            for k in range(hidden):
                dc[k] *= gates[b, t, hidden + k]
            for k in range(hidden):
                h_old[k] = states[b, t, k]
            token = tokens[b, t]
            for k in range(width):
                grad_table[token, k] += da[k]
            for j in range(hidden):
                hj = h_old[j]
                acc = np.float32(0.0)
                for k in range(width):
                    grad_whh[j, k] += hj * da[k]
                    acc += whh[j, k] * da[k]
                dh[j] = acc


@njit(inline="always", fastmath=True, error_model="numpy", cache=True)
def _train_step(
    table: Any,
    whh: Any,
    head_w: Any,
    head_b: Any,
    tokens: Any,
    lengths: Any,
    labels: Any,
    probabilities: Any,
    grad_table: Any,
    grad_whh: Any,
    grad_head_w: Any,
    grad_head_b: Any,
) -> float:
    """Forward, softmax cross-entropy (mean over the batch) and backward, in one call.

    Writes each sequence's class probabilities and the gradients of the mean loss (the grad arrays must be
    zeroed by the caller); returns the loss. The head is logits = head_w @ h_final + head_b.
    """
    batch, width = tokens.shape
    hidden = whh.shape[0]
    classes = head_w.shape[0]
    gates = np.empty((batch, width, 4 * hidden), dtype=np.float32)
    cells = np.empty((batch, width + 1, hidden), dtype=np.float32)
    states = np.empty((batch, width + 1, hidden), dtype=np.float32)
    _forward_train_rows(table, whh, tokens, lengths, gates, cells, states)
    grad_final = np.empty((batch, hidden), dtype=np.float32)
    logits = np.empty(classes, dtype=np.float32)
    scale = np.float32(1.0 / batch)
    loss = 0.0
    for b in range(batch):
        final = states[b, lengths[b]]
        for n in range(classes):
            value = head_b[n]
            for k in range(hidden):
                value += head_w[n, k] * final[k]
            logits[n] = value
        top = logits[0]  # not -inf: fastmath assumes no infinities
        for n in range(1, classes):
            top = max(top, logits[n])
        total = np.float32(0.0)
        for n in range(classes):
            logits[n] = np.exp(logits[n] - top)
            total += logits[n]
        label = labels[b]
        loss -= np.log(logits[label] / total)
        for k in range(hidden):
            grad_final[b, k] = 0.0
        for n in range(classes):
            p = logits[n] / total
            probabilities[b, n] = p
            d = (p - (np.float32(1.0) if n == label else np.float32(0.0))) * scale
            grad_head_b[n] += d
            for k in range(hidden):
                grad_head_w[n, k] += d * final[k]
                grad_final[b, k] += d * head_w[n, k]
    _backward(whh, tokens, lengths, gates, cells, states, grad_final, grad_table, grad_whh)
    return loss / batch


def _numpy(tensor: torch.Tensor) -> np.ndarray:
    return tensor.detach().contiguous().numpy()


def lstm_weights(lstm: torch.nn.LSTM) -> dict[str, torch.nn.Parameter]:
    if lstm.num_layers != 1 or lstm.bidirectional or not lstm.bias or lstm.proj_size:
        raise ValueError("the fused kernel covers one unidirectional layer with biases and no projection")
    return dict(lstm.named_parameters())


@njit(error_model="numpy", cache=True)  # no fastmath: the sums keep torch's order, so the table is bit-equal
def _fold(w_ih: Any, b_ih: Any, b_hh: Any, w_hh: Any) -> tuple[Any, Any]:
    """nn.LSTM's parameters → the kernel's table (S, 4H) = W_ih^T + b_ih + b_hh and W_hh^T (H, 4H)."""
    width, symbols = w_ih.shape
    hidden = w_hh.shape[1]
    table = np.empty((symbols, width), dtype=np.float32)
    for s in range(symbols):
        for k in range(width):
            table[s, k] = (w_ih[k, s] + b_ih[k]) + b_hh[k]
    recurrent = np.empty((hidden, width), dtype=np.float32)
    for j in range(hidden):
        for k in range(width):
            recurrent[j, k] = w_hh[k, j]
    return table, recurrent


def folded_weights(weights: dict[str, torch.nn.Parameter]) -> tuple[np.ndarray, np.ndarray]:
    """lstm_weights' parameters → the kernels' table (S, 4H) and recurrent weights (H, 4H)."""
    return _fold(*(_numpy(weights[name]) for name in ("weight_ih_l0", "bias_ih_l0", "bias_hh_l0", "weight_hh_l0")))


# The training step runs 4H = 64 float32 lanes per loop at the default size: on an AVX-512 CPU its code may use
# 512-bit vectors, which LLVM's tuning of those CPUs otherwise avoids (training/wide_vectors.py).
@wide_vectors.njit(nogil=True, fastmath=True, error_model="numpy", cache=True)
def _train_step_on_parameters(
    table: Any, recurrent: Any, head_w: Any, head_b: Any, tokens: Any, lengths: Any, labels: Any
) -> tuple[float, Any, Any, Any, Any, Any, Any]:
    """_train_step on _fold's table and recurrent weights, with the gradients in nn.LSTM's own layouts: returns the
    loss, the probabilities and the gradients of W_ih (4H, S), W_hh (4H, H), each bias (4H), the head's weight
    (C, H) and bias (C)."""
    symbols, width = table.shape
    hidden = recurrent.shape[0]
    grad_table = np.zeros((symbols, width), dtype=np.float32)
    grad_recurrent = np.zeros((hidden, width), dtype=np.float32)
    grad_head_w = np.zeros(head_w.shape, dtype=np.float32)
    grad_head_b = np.zeros(head_b.shape, dtype=np.float32)
    probabilities = np.empty((tokens.shape[0], head_w.shape[0]), dtype=np.float32)
    loss = _train_step(
        table, recurrent, head_w, head_b, tokens, lengths, labels, probabilities,
        grad_table, grad_recurrent, grad_head_w, grad_head_b,
    )  # fmt: skip
    # table = W_ih^T + b_ih + b_hh: W_ih's gradient is the table's, transposed; each bias gets its column sums.
    grad_w_ih = np.empty((width, symbols), dtype=np.float32)
    grad_bias = np.zeros(width, dtype=np.float32)
    for s in range(symbols):
        for k in range(width):
            grad_w_ih[k, s] = grad_table[s, k]
            grad_bias[k] += grad_table[s, k]
    grad_w_hh = np.empty((width, hidden), dtype=np.float32)
    for j in range(hidden):
        for k in range(width):
            grad_w_hh[k, j] = grad_recurrent[j, k]
    return loss, probabilities, grad_w_ih, grad_w_hh, grad_bias, grad_head_w, grad_head_b


def train_step(
    lstm: torch.nn.LSTM, head: torch.nn.Linear, tokens: torch.Tensor, lengths: torch.Tensor, labels: torch.Tensor
) -> tuple[torch.Tensor, float]:
    """One batch through `lstm` and `head` without autograd: returns the class probabilities (B, C) the
    network gave before any update and the mean cross-entropy, and sets every parameter's `.grad` to the
    gradient of that loss, as `loss.backward()` would (previous gradients are replaced, not added to)."""
    weights = lstm_weights(lstm)
    table, recurrent = folded_weights(weights)
    loss, probabilities, grad_w_ih, grad_w_hh, grad_bias, grad_head_w, grad_head_b = _train_step_on_parameters(
        table,
        recurrent,
        _numpy(head.weight),
        _numpy(head.bias),
        _numpy(tokens.to(torch.int64)),
        _numpy(lengths.to(torch.int64)),
        _numpy(labels.to(torch.int64)),
    )
    weights["weight_ih_l0"].grad = torch.from_numpy(grad_w_ih)
    weights["weight_hh_l0"].grad = torch.from_numpy(grad_w_hh)
    weights["bias_ih_l0"].grad = torch.from_numpy(grad_bias)
    weights["bias_hh_l0"].grad = torch.from_numpy(grad_bias.copy())
    head.weight.grad = torch.from_numpy(grad_head_w)
    head.bias.grad = torch.from_numpy(grad_head_b)
    return torch.from_numpy(probabilities), float(loss)


# numba's thread pool must not be entered by two threads at once.
_parallel_lock = threading.Lock()


def _prefer_work_queue() -> None:
    """Run numba's parallel loops on its own work queue, not OpenMP: OpenMP's workers spin for a while after each
    loop, and on a small machine that spinning takes the core a server's event loop needs. numba reads the
    setting at the process's first parallel launch, so this runs just before ours rather than at import (an
    import changes nothing global); an explicit NUMBA_THREADING_LAYER wins."""
    if not numba.config.THREADING_LAYER or numba.config.THREADING_LAYER == "default":  # type: ignore[attr-defined]
        numba.config.THREADING_LAYER = "workqueue"  # type: ignore[attr-defined]


def run_parallel(parallel: Any, arrays: tuple, *, threads: int) -> None:
    """Run a parallel kernel on `threads` threads, or as many as numba has (NUMBA_NUM_THREADS may be 1), on numba's
    own work queue."""
    _prefer_work_queue()
    with _parallel_lock:
        numba.set_num_threads(max(1, min(threads, numba.config.NUMBA_NUM_THREADS)))  # type: ignore[attr-defined]
        parallel(*arrays)


@dataclass(frozen=True)
class FrozenLSTMClassifier:
    """An LSTM classifier's weights as the kernel reads them, folded once: symbol ids in, class probabilities
    out, in one compiled call that holds no lock of Python's. A server thread running it never waits for the
    interpreter between steps (a torch operator call releases and retakes the GIL, and each retake can wait a
    switch interval, 5 ms, while the event loop runs Python)."""

    table: np.ndarray  # (S, 4H) float32
    recurrent: np.ndarray  # (H, 4H) float32
    head_weight: np.ndarray  # (C, H) float32
    head_bias: np.ndarray  # (C,) float32

    @classmethod
    def of(cls, lstm: torch.nn.LSTM, head: torch.nn.Linear) -> FrozenLSTMClassifier:
        table, recurrent = folded_weights(lstm_weights(lstm))
        return cls(table, recurrent, _numpy(head.weight).copy(), _numpy(head.bias).copy())

    def probabilities(self, tokens: np.ndarray, lengths: np.ndarray, *, threads: int = 1) -> np.ndarray:
        """Class probabilities (B, C) float64 for symbol ids (B, T) int64 and lengths (B,) int64, on up to `threads`
        threads: the caller decides when a batch is large enough to be worth waking more. Each row is computed
        by the same code whatever the batch or the threads: bit-identical alone or batched."""
        out = np.empty((tokens.shape[0], self.head_bias.shape[0]), dtype=np.float64)
        arrays = (self.table, self.recurrent, self.head_weight, self.head_bias, tokens, lengths, out)
        if min(threads, numba.config.NUMBA_NUM_THREADS) > 1:  # type: ignore[attr-defined]
            run_parallel(_probabilities_parallel, arrays, threads=threads)
        else:
            _probabilities_serial(*arrays)
        return out
