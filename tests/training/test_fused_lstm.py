"""The fused CPU LSTM kernels against nn.LSTM: same outputs, same gradients, batch invariance, threads."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import numba
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from numba.core.registry import CPUDispatcher

from training import fused_lstm, kernels, lstm1997
from training.architectures import build_model, default_config
from training.evaluate import predict_probabilities
from training.flat_parameters import FlatParameters
from training.models import LSTMClassifier, LSTMConfig, one_hot
from training.task import generate, get_task, make_generator

SIX_B = get_task("6b")


pytestmark = pytest.mark.usefixtures("one_thread")


def lstm_model(seed: int = 0, hidden: int = 16) -> LSTMClassifier:
    torch.manual_seed(seed)
    model = build_model(LSTMConfig(hidden_size=hidden))
    assert isinstance(model, LSTMClassifier)
    # Trained weights are larger than fresh ones: scale them so saturated gates are exercised too.
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.mul_(3.0)
    return model


def reference_logits(model: LSTMClassifier, tokens: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    return model(one_hot(tokens), lengths)  # nn.LSTM (oneDNN) path


def frozen_of(model: LSTMClassifier) -> fused_lstm.FrozenLSTMClassifier:
    frozen = fused_lstm.FrozenLSTMClassifier.of(model.lstm, model.head)
    assert kernels.compiled_forward(model, torch.device("cpu")) is not None
    return frozen


def test_tanh_approximation_is_float32_accurate() -> None:
    model = lstm_model()
    # A one-step sequence isolates the activations: h = o * tanh(i * g) from the table row alone.
    tokens = torch.arange(8).view(8, 1)
    lengths = torch.ones(8, dtype=torch.int64)
    fused = frozen_of(model).probabilities(tokens.numpy(), lengths.numpy())
    with torch.no_grad():
        reference = reference_logits(model, tokens, lengths).softmax(dim=1).double().numpy()
    assert np.abs(fused - reference).max() < 1e-6


def test_gradients_match_autograd_through_nn_lstm() -> None:
    model = lstm_model(seed=3)
    batch = generate(SIX_B, 16, make_generator(2))
    logits = reference_logits(model, batch.tokens, batch.lengths)
    F.cross_entropy(logits, batch.labels).backward()
    expected = {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None}
    step = kernels.compiled_train_step(model, "full")
    assert step is not None
    probabilities, loss = step(batch.tokens, batch.lengths, batch.labels)
    assert loss == pytest.approx(float(F.cross_entropy(logits.detach(), batch.labels)), rel=1e-5)
    assert torch.allclose(probabilities, logits.softmax(dim=1), atol=1e-5)
    for name, parameter in model.named_parameters():
        assert parameter.grad is not None, name
        scale = expected[name].abs().max().item()
        # Float32 sums over ~1,700 steps in another order: agreement to 1e-3 of the largest entry; a wrong
        # term in the backward pass is off by far more.
        assert torch.allclose(parameter.grad, expected[name], rtol=1e-3, atol=1e-4 * max(1.0, scale)), name


def test_padding_is_never_read() -> None:
    frozen = frozen_of(lstm_model().eval())
    batch = generate(SIX_B, 8, make_generator(7))
    scrambled = batch.tokens.clone()
    for row, length in enumerate(batch.lengths.tolist()):
        scrambled[row, length:] = 5  # 'X' where the padding was
    lengths = batch.lengths.numpy()
    assert np.array_equal(
        frozen.probabilities(batch.tokens.numpy(), lengths), frozen.probabilities(scrambled.numpy(), lengths)
    )


def test_no_compiled_path_where_the_kernel_does_not_run() -> None:
    # The kernel reads float32 weights on a CPU; anywhere else the trainer and the server use the module itself.
    model = lstm_model().double()
    assert kernels.compiled_forward(model, torch.device("cpu")) is None
    assert kernels.compiled_train_step(model, "full") is None
    assert kernels.compiled_forward(lstm_model(), torch.device("meta")) is None
    rnn = build_model(default_config("rnn"))
    assert kernels.compiled_forward(rnn, torch.device("cpu")) is None
    assert kernels.compiled_train_step(rnn, "full") is None and kernels.online_learner(rnn, "full") is None


def test_flat_parameters_are_views_and_release_gives_own_storage() -> None:
    model = lstm_model()
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    flat = FlatParameters(model)
    assert flat.vector.numel() == sum(p.numel() for p in model.parameters())
    for name, parameter in model.named_parameters():
        assert torch.equal(parameter, before[name]), name
    with torch.no_grad():
        flat.vector.add_(1.0)
    assert torch.equal(model.head.bias, before["head.bias"] + 1.0)
    model.zero_grad(set_to_none=True)
    model.head.bias.grad = torch.ones_like(model.head.bias)
    flat.gather_gradients()
    assert flat.vector.grad is not None and float(flat.vector.grad.sum()) == model.head.bias.numel()
    flat.release()
    storages = {p.untyped_storage().data_ptr() for p in model.parameters()}
    assert len(storages) == len(list(model.parameters()))


@pytest.mark.parametrize("hidden", [16, 7])
def test_frozen_classifier_gives_the_models_probabilities(hidden: int) -> None:
    model = lstm_model(hidden=hidden).eval()
    batch = generate(SIX_B, 300, make_generator(9))
    frozen = frozen_of(model)
    serial = frozen.probabilities(batch.tokens.numpy(), batch.lengths.numpy(), threads=1)
    with torch.no_grad():
        expected = reference_logits(model, batch.tokens, batch.lengths).softmax(dim=1).double().numpy()
    assert serial.dtype == np.float64 and serial.shape == (300, SIX_B.n_classes)
    assert np.abs(serial - expected).max() < 1e-5
    assert np.allclose(serial.sum(axis=1), 1.0, atol=1e-12)
    # Every row is bit-identical alone, batched, and in the separately compiled parallel copy (which two threads
    # reach when numba has them; called directly too, so one thread still compares the two copies). The two
    # copies rounded differently on an AVX-512 CPU when they were compiled with fast-math.
    parallel = frozen.probabilities(batch.tokens.numpy(), batch.lengths.numpy(), threads=2)
    alone_tokens = np.ascontiguousarray(batch.tokens[5:6, : int(batch.lengths[5])].numpy())  # no padding at all
    alone = frozen.probabilities(alone_tokens, batch.lengths[5:6].numpy())
    forced = np.empty_like(serial)
    arrays = (frozen.table, frozen.recurrent, frozen.head_weight, frozen.head_bias, batch.tokens.numpy())
    fused_lstm.run_parallel(fused_lstm._probabilities_parallel, (*arrays, batch.lengths.numpy(), forced), threads=2)
    assert np.array_equal(parallel, serial)
    assert np.array_equal(forced, serial)
    assert np.array_equal(alone[0], serial[5])


def test_the_test_protocol_scores_with_the_served_forward() -> None:
    # /metrics reports the test errors of the very probabilities /classify answers.
    model = lstm_model().eval()
    batch = generate(SIX_B, 20, make_generator(12))
    served = kernels.compiled_forward(model, torch.device("cpu"))
    assert served is not None
    scored = predict_probabilities(model, batch.tokens, batch.lengths)
    assert np.array_equal(scored.numpy(), served(batch.tokens.numpy(), batch.lengths.numpy()))


def test_frozen_classifier_is_a_copy() -> None:
    model = lstm_model().eval()
    batch = generate(SIX_B, 4, make_generator(10))
    forward = kernels.compiled_forward(model, torch.device("cpu"))
    assert forward is not None
    before = forward(batch.tokens.numpy(), batch.lengths.numpy())
    with torch.no_grad():
        model.head.bias.add_(1.0)  # a later change to the module does not reach the frozen weights
    assert np.array_equal(forward(batch.tokens.numpy(), batch.lengths.numpy()), before)


def test_parallel_kernels_run_on_numbas_work_queue() -> None:
    # OpenMP's spinning workers would take the core a server's event loop needs (see fused_lstm).
    frozen = frozen_of(lstm_model().eval())
    batch = generate(SIX_B, 8, make_generator(11))
    arrays = (frozen.table, frozen.recurrent, frozen.head_weight, frozen.head_bias, batch.tokens.numpy())
    out = np.empty((8, SIX_B.n_classes))
    fused_lstm.run_parallel(fused_lstm._probabilities_parallel, (*arrays, batch.lengths.numpy(), out), threads=2)
    assert numba.threading_layer() == "workqueue"


def test_an_empty_batch_gives_an_empty_result() -> None:
    out = frozen_of(lstm_model()).probabilities(np.zeros((0, 5), np.int64), np.zeros(0, np.int64), threads=2)
    assert out.shape == (0, SIX_B.n_classes)


@pytest.mark.parametrize("max_norm", [0.01, 1.0, 1e6])
def test_flat_clipping_equals_torchs(max_norm: float) -> None:
    model = lstm_model()
    flat = FlatParameters(model)
    flat.vector.grad = torch.randn(flat.vector.numel()) * 0.1
    expected = flat.vector.grad.clone()
    reference = torch.nn.Parameter(torch.zeros_like(expected))
    reference.grad = expected.clone()
    torch.nn.utils.clip_grad_norm_(reference, max_norm)
    norm = flat.clip_gradient_norm(max_norm)
    assert norm == pytest.approx(float(expected.norm()), rel=1e-6)
    assert torch.allclose(flat.vector.grad, reference.grad, rtol=1e-6, atol=0)


FAST_MATH_FLAG = re.compile(r"= (?:fadd|fmul|fsub|fdiv|fcmp) (?:fast|reassoc|contract|nnan|ninf|nsz|arcp|afn)\b")


INFERENCE_KERNELS = [fused_lstm._probabilities_serial, fused_lstm._probabilities_parallel]


@pytest.mark.parametrize("kernel", INFERENCE_KERNELS, ids=lambda kernel: kernel.__name__)
def test_inference_kernels_are_compiled_without_fast_math(kernel: Any) -> None:
    # The reason the serving kernels are exact on every CPU: with no reassociation and no contraction into fused
    # multiply-adds, vectorising or threading a loop cannot change a single rounding (fast-math copies of the
    # serial and parallel kernels rounded differently on an AVX-512 CPU).
    assert not kernel.targetoptions["fastmath"]


def test_strict_arithmetic_reaches_the_inlined_helpers() -> None:
    # The helpers (_step, _tanh, ...) are declared fast-math for training and inlined everywhere; inlined, they
    # must take the strict flags of the serving kernel that calls them. Read the IR of a copy compiled now (the
    # cached one keeps no IR).
    kernel = fused_lstm._probabilities_serial
    options = {name: value for name, value in kernel.targetoptions.items() if name not in ("cache", "nopython")}
    fresh = numba.njit(**options)(kernel.py_func)
    table, recurrent = np.zeros((8, 64), np.float32), np.zeros((16, 64), np.float32)
    head_w, head_b = np.zeros((8, 16), np.float32), np.zeros(8, np.float32)
    tokens, lengths = np.zeros((2, 3), np.int64), np.full(2, 3, np.int64)
    fresh(table, recurrent, head_w, head_b, tokens, lengths, np.empty((2, 8)))
    (ir,) = fresh.inspect_llvm().values()
    assert re.search(r"= (?:fadd|fmul) ", ir), "no floating-point arithmetic found: the check would be empty"
    assert not FAST_MATH_FLAG.search(ir), FAST_MATH_FLAG.search(ir)


def test_fast_math_kernels_that_kernels_call_are_inlined() -> None:
    # A fast-math callee compiled as a kernel of its own exists twice in a process that compiles it: alone, and
    # linked into its caller and optimised again there (more fused multiply-adds). numba's JIT resolves the
    # caller's call to the lone copy, while a caller loaded from numba's cache runs the copy inside it: training
    # then depended on the cache's state (lstm on 6b, seed 0: 29,296 sequences compiled, 18,208 cached).
    # Strict kernels may call one another: without fast-math every copy rounds the same.
    found = {
        name: value
        for module in (fused_lstm, lstm1997)
        for name, value in vars(module).items()
        if isinstance(value, CPUDispatcher)
    }
    called = {name for kernel in found.values() for name in kernel.py_func.__code__.co_names}
    separate_fast_math_callees = sorted(
        name
        for name, kernel in found.items()
        if name in called and kernel.targetoptions.get("fastmath") and kernel.targetoptions.get("inline") != "always"
    )
    assert "_step" in called and "_train_step" in called, "the scan found no calls: the check would be empty"
    assert not separate_fast_math_callees


_STEP_SCRIPT = """
import hashlib, torch
from training import fused_lstm
from training.architectures import build_model, default_config
from training.task import generate, get_task, make_generator
task = get_task("6b")
torch.manual_seed(0)
model = build_model(default_config("lstm", n_classes=task.n_classes))
batch = generate(task, 16, make_generator(0))
probabilities, loss = fused_lstm.train_step(model.lstm, model.head, batch.tokens, batch.lengths, batch.labels)
digest = hashlib.sha256(probabilities.numpy().tobytes())
for parameter in model.parameters():
    digest.update(parameter.grad.numpy().tobytes())
kernel = fused_lstm._train_step_on_parameters
print(sum(kernel.stats.cache_hits.values()), sum(kernel.stats.cache_misses.values()), loss.hex(), digest.hexdigest())
"""


def test_a_training_step_is_the_same_compiled_or_loaded_from_numbas_cache(tmp_path: Path) -> None:
    # The same machine against itself, so on any CPU: a process that compiles the training kernel, then one that
    # loads it from the cache the first wrote, must give bit-identical probabilities, loss and gradients.
    environment = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path))
    root = str(Path(fused_lstm.__file__).resolve().parents[1])
    environment["PYTHONPATH"] = os.pathsep.join(filter(None, (root, environment.get("PYTHONPATH"))))

    def run() -> list[str]:
        done = subprocess.run(
            [sys.executable, "-c", _STEP_SCRIPT], env=environment, cwd=root, capture_output=True, text=True, timeout=600
        )
        assert done.returncode == 0, done.stderr
        return done.stdout.split()

    compiled, loaded = run(), run()
    assert compiled[:2] == ["0", "1"] and loaded[:2] == ["1", "0"], (compiled, loaded)  # compiled, then cached
    assert compiled[2:] == loaded[2:]
