"""The paper's own network (`lstm1997`): its size, its initialisation, its two gradients against finite
differences of an independent NumPy model, and its on-line learner against the generic training loop."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np
import pytest
import torch

from training import kernels, lstm1997
from training.architectures import build_model
from training.criterion import StoppingCriterion
from training.evaluate import evaluate
from training.models import PaperLSTM, PaperLSTMConfig, one_hot, parameter_count
from training.task import TaskSpec, generate, get_task, make_generator
from training.train import default_train_config, train_trial
from training.train_config import TrainConfig

Arrays = list[np.ndarray]
pytestmark = pytest.mark.usefixtures("one_thread")


def _model(task: str, seed: int = 0) -> PaperLSTM:
    torch.manual_seed(seed)
    model = build_model(PaperLSTMConfig(n_classes=get_task(task).n_classes))
    assert isinstance(model, PaperLSTM)
    return model


@pytest.mark.parametrize(("task", "weights", "blocks"), [("6a", 156, 2), ("6b", 308, 3)])
def test_weight_count_is_the_papers(task: str, weights: int, blocks: int) -> None:
    model = _model(task)
    assert model.config.blocks == blocks
    assert parameter_count(model) == weights


@pytest.mark.parametrize("task", ["6a", "6b"])
def test_initialisation_rules(task: str) -> None:
    model = _model(task, seed=3)
    blocks = model.config.blocks
    cells = 2 * blocks
    input_gate_biases = model.hidden_bias[cells : cells + blocks].tolist()
    assert input_gate_biases == [-2.0, -4.0, -6.0][:blocks]
    everything_else = torch.cat(
        [
            model.hidden_weight.flatten(),
            model.hidden_bias[:cells],
            model.hidden_bias[cells + blocks :],  # output gate biases: random like every weight
            model.output_weight.flatten(),
            model.output_bias,
        ]
    )
    everything_else = everything_else.detach()
    assert float(everything_else.abs().max()) <= 0.1
    # Uniform over the interval, not a constant: both ends of it are reached closely.
    assert float(everything_else.min()) < -0.09 and float(everything_else.max()) > 0.09
    assert all(p.dtype == torch.float64 for p in model.parameters())


# ---- an independent NumPy model of equations 3-9, to check the kernels against ----------------------------


def _logistic(x: np.ndarray) -> np.ndarray:
    return np.asarray(1.0 / (1.0 + np.exp(-x)))


def _half_error(
    weights: Arrays,
    tokens: np.ndarray,
    label: int,
    frozen: np.ndarray | None = None,
    config: PaperLSTMConfig | None = None,
) -> tuple[float, np.ndarray]:
    """E/2 at the sequence end and every step's hidden activations. With `frozen`, the recurrent inputs are
    those activations (of an unperturbed run) instead of the run's own: the truncated system."""
    config = config or PaperLSTMConfig()
    hidden_weight, hidden_bias, output_weight, output_bias = weights
    units = hidden_bias.shape[0]
    cells, per_block = output_weight.shape[1], config.cells_per_block
    blocks = cells // per_block
    forget = config.forget_bias is not None
    fed_back = cells if config.recurrent == "cells" else units
    symbols = hidden_weight.shape[1] - fed_back
    previous = np.zeros(units)
    state = np.zeros(cells)
    history = [previous]
    for t, symbol in enumerate(tokens):
        recurrent = (previous if frozen is None else frozen[t])[:fed_back]
        net = hidden_bias + hidden_weight[:, symbol] + hidden_weight[:, symbols:] @ recurrent
        squashed = _logistic(net)
        input_gate = np.repeat(squashed[cells : cells + blocks], per_block)
        output_gate = np.repeat(squashed[cells + blocks : cells + 2 * blocks], per_block)
        if forget:
            state = state * np.repeat(squashed[cells + 2 * blocks :], per_block)
        state = state + input_gate * config.g_range * (2.0 * squashed[:cells] - 1.0)  # g
        cell = output_gate * config.h_range * (2.0 * _logistic(state) - 1.0)  # h
        previous = np.concatenate([cell, squashed[cells:]])
        history.append(previous)
    outputs = _logistic(output_bias + output_weight @ previous[:cells])
    target = np.zeros(len(output_bias))
    target[label] = 1.0
    return 0.5 * float(((target - outputs) ** 2).sum()), np.array(history)


def _finite_differences(function: Callable[[Arrays], float], weights: Arrays, step: float = 1e-6) -> Arrays:
    gradients = []
    for which, array in enumerate(weights):
        gradient = np.zeros_like(array)
        for index in np.ndindex(array.shape):
            for sign in (1.0, -1.0):
                shifted = [w.copy() for w in weights]
                shifted[which][index] += sign * step
                gradient[index] += sign * function(shifted) / (2 * step)
        gradients.append(gradient)
    return gradients


@pytest.fixture(scope="module")
def sequence() -> tuple[Arrays, np.ndarray, int]:
    """Large random weights, so every term of the gradient matters, and a short 6b-like sequence."""
    model = _model("6b", seed=1)
    generator = np.random.default_rng(0)
    weights = [generator.uniform(-1.0, 1.0, size=p.shape) for p in model.weights]
    batch = generate(get_task("6b").shortened(5), 1, make_generator(2))
    tokens = batch.tokens[0, : int(batch.lengths[0])].numpy()
    return weights, tokens, int(batch.labels[0])


def _kernel_gradient(
    weights: Arrays, tokens: np.ndarray, label: int, *, truncated: bool, layout: lstm1997.Layout = lstm1997.Layout()
) -> Arrays:
    gradients, _, _ = lstm1997.batch_gradient(
        (weights[0], weights[1], weights[2], weights[3]),
        tokens[None, :],
        np.array([len(tokens)]),
        np.array([label]),
        truncated=truncated,
        layout=layout,
    )
    return list(gradients)


def _assert_close(got: Arrays, want: Arrays) -> None:
    scale = max(float(np.abs(w).max()) for w in want)
    for g, w in zip(got, want, strict=True):
        assert np.abs(g - w).max() < 1e-6 * max(scale, 1.0)


def test_truncated_gradient_is_the_gradient_of_the_truncated_system(sequence: tuple[Arrays, np.ndarray, int]) -> None:
    weights, tokens, label = sequence
    _, frozen = _half_error(weights, tokens, label)
    numeric = _finite_differences(lambda w: _half_error(w, tokens, label, frozen[:-1])[0], weights)
    _assert_close(_kernel_gradient(weights, tokens, label, truncated=True), numeric)


def test_full_gradient_is_the_gradient_of_the_real_system(sequence: tuple[Arrays, np.ndarray, int]) -> None:
    weights, tokens, label = sequence
    numeric = _finite_differences(lambda w: _half_error(w, tokens, label)[0], weights)
    _assert_close(_kernel_gradient(weights, tokens, label, truncated=False), numeric)
    # And the truncation really drops something: the two gradients differ.
    truncated = _kernel_gradient(weights, tokens, label, truncated=True)
    assert max(float(np.abs(t - n).max()) for t, n in zip(truncated, numeric, strict=True)) > 1e-3


def test_torch_forward_kernel_and_numpy_model_agree() -> None:
    model = _model("6b", seed=4)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.uniform_(-1.0, 1.0)
    batch = generate(get_task("6b"), 16, make_generator(5))
    forward = kernels.compiled_forward(model, torch.device("cpu"))
    assert forward is not None
    with torch.no_grad():
        graph = model.probabilities(model(one_hot(batch.tokens), batch.lengths))
    compiled = torch.from_numpy(forward(batch.tokens.numpy(), batch.lengths.numpy()))
    alone = torch.from_numpy(forward(batch.tokens[3:4].numpy(), batch.lengths[3:4].numpy()))
    assert torch.allclose(graph, compiled, atol=1e-12, rtol=0)
    assert torch.equal(alone[0], compiled[3])
    weights = [p.detach().numpy() for p in model.weights]
    tokens = batch.tokens[3, : int(batch.lengths[3])].numpy()
    half_error, _ = _half_error(weights, tokens, int(batch.labels[3]))
    target = torch.nn.functional.one_hot(batch.labels[3], 8).double()
    assert abs(0.5 * float(((compiled[3] - target) ** 2).sum()) - half_error) < 1e-12


# Beyond the paper, for the ablation ladder (bench/ablation_bench.py): a forget gate, blocks of one cell with
# recurrence from the cells only (nn.LSTM's wiring), and the squashing ranges as Table 10's legend reads them.
VARIANTS = {
    "forget gate": PaperLSTMConfig(forget_bias=3.0),
    "own gates": PaperLSTMConfig(
        blocks=4, cells_per_block=1, forget_bias=3.0, recurrent="cells", input_gate_bias_step=0.0
    ),
    "table 10 ranges": PaperLSTMConfig(g_range=1.0, h_range=2.0),
}


def _random_weights(config: PaperLSTMConfig) -> Arrays:
    torch.manual_seed(1)
    model = build_model(config)
    generator = np.random.default_rng(0)
    return [generator.uniform(-1.0, 1.0, size=p.shape) for p in model.weights]


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_full_gradient_of_each_variant_is_the_gradient_of_its_system(
    name: str, sequence: tuple[Arrays, np.ndarray, int]
) -> None:
    config = VARIANTS[name]
    _, tokens, label = sequence
    weights = _random_weights(config)
    numeric = _finite_differences(lambda w: _half_error(w, tokens, label, config=config)[0], weights)
    layout = lstm1997.Layout.of(config)
    _assert_close(_kernel_gradient(weights, tokens, label, truncated=False, layout=layout), numeric)


def test_truncated_gradient_under_table_10_ranges(sequence: tuple[Arrays, np.ndarray, int]) -> None:
    config = VARIANTS["table 10 ranges"]
    _, tokens, label = sequence
    weights = _random_weights(config)
    _, frozen = _half_error(weights, tokens, label, config=config)
    numeric = _finite_differences(lambda w: _half_error(w, tokens, label, frozen[:-1], config)[0], weights)
    layout = lstm1997.Layout.of(config)
    _assert_close(_kernel_gradient(weights, tokens, label, truncated=True, layout=layout), numeric)


def test_a_forget_gate_has_no_truncated_gradient(sequence: tuple[Arrays, np.ndarray, int]) -> None:
    config = VARIANTS["forget gate"]
    _, tokens, label = sequence
    with pytest.raises(ValueError, match="no forget gate"):
        _kernel_gradient(_random_weights(config), tokens, label, truncated=True, layout=lstm1997.Layout.of(config))
    with pytest.raises(ValueError, match="no forget gate"):
        train_trial(get_task("6b"), model_config=config, train_config=default_train_config("lstm1997"))


def test_variant_sizes_and_forget_bias() -> None:
    forget = build_model(PaperLSTMConfig(forget_bias=3.0))  # 6b's 3 blocks + 3 forget gates: 15 x 23 + 15 + 56
    assert parameter_count(forget) == 416
    assert forget.hidden_bias[-3:].tolist() == [3.0, 3.0, 3.0]
    # 16 cells with gates of their own, wired as nn.LSTM (which has 1,800 with its two bias vectors).
    own = build_model(PaperLSTMConfig(blocks=16, cells_per_block=1, forget_bias=3.0, recurrent="cells"))
    assert parameter_count(own) == 64 * (8 + 16) + 64 + 8 * 16 + 8


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_each_variants_torch_forward_and_kernel_agree(name: str) -> None:
    model = build_model(VARIANTS[name])
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.uniform_(-1.0, 1.0)
    batch = generate(get_task("6b"), 8, make_generator(5))
    forward = kernels.compiled_forward(model, torch.device("cpu"))
    assert forward is not None
    with torch.no_grad():
        graph = model.probabilities(model(one_hot(batch.tokens), batch.lengths))
    assert torch.allclose(graph, torch.from_numpy(forward(batch.tokens.numpy(), batch.lengths.numpy())), atol=1e-12)


# ---- training ---------------------------------------------------------------------------------------------


def test_default_training_settings_are_the_papers() -> None:
    for task, rate in (("6a", 0.5), ("6b", 0.1)):
        config = default_train_config("lstm1997", get_task(task))
        assert (config.optimizer, config.learning_rate, config.batch_size) == ("sgd", rate, 1)
        assert config.grad_clip is None and not config.anneal and config.momentum == 0
        assert config.gradient == "truncated" and config.max_sequences == 5_000_000
    # An explicit choice still wins over the task's rate.
    assert default_train_config("lstm1997", get_task("6a"), learning_rate=0.2).learning_rate == 0.2


def test_only_lstm1997_has_the_truncated_gradient() -> None:
    with pytest.raises(ValueError, match="full gradient only"):
        train_trial(get_task("6b"), arch="lstm", train_config=TrainConfig(gradient="truncated", max_sequences=16))


# Learnt in a few thousand sequences, so the generic loop (about a millisecond a sequence) stays quick.
SMALL = TaskSpec("6a", min_length=12, max_length=14, relevant_ranges=((2, 3), (6, 7)))


@pytest.mark.parametrize("gradient", ["truncated", "full"])
def test_online_learner_is_the_generic_loop_at_batch_one(monkeypatch: pytest.MonkeyPatch, gradient: str) -> None:
    # The compiled learner trains in chunks and takes back the updates after the sequence that met the
    # criterion; the generic loop (the compiled mini-batch step + torch SGD, one sequence per batch) must agree.
    config = default_train_config(
        "lstm1997", SMALL, gradient=gradient, criterion_window=50, criterion_error=0.3, max_sequences=30_000
    )
    compiled = train_trial(SMALL, arch="lstm1997", train_config=config, seed=8)
    assert compiled.converged and compiled.sequences_to_criterion is not None
    monkeypatch.setattr(kernels, "online_learner", lambda model, gradient: None)
    config = dataclasses.replace(config, max_sequences=compiled.sequences_to_criterion)
    generic = train_trial(SMALL, arch="lstm1997", train_config=config, seed=8)
    assert generic.converged and compiled.sequences_to_criterion == generic.sequences_to_criterion
    for a, b in zip(compiled.model.parameters(), generic.model.parameters(), strict=True):
        assert torch.allclose(a, b, atol=1e-9, rtol=0)


def test_learns_the_temporal_order() -> None:
    task = get_task("6a").shortened(3)
    result = train_trial(task, arch="lstm1997", seed=0, train_config=default_train_config("lstm1997", task))
    assert result.converged
    assert evaluate(result.model, task, seed=0, n_test=1000).wrong_paper <= 3


def test_criterion_update_until_met_is_one_at_a_time() -> None:
    generator = np.random.default_rng(1)
    correct = generator.random(3000) > 0.02
    errors = generator.random(3000) * 0.3
    one_at_a_time = StoppingCriterion(window=40, max_error=0.14)
    expected = None
    for index in range(3000):
        one_at_a_time.update(correct[index : index + 1], errors[index : index + 1])
        if one_at_a_time.met():
            expected = index
            break
    assert expected is not None
    chunked = StoppingCriterion(window=40, max_error=0.14)
    start = 0
    found = None
    while found is None:
        met_at = chunked.update_until_met(correct[start : start + 97], errors[start : start + 97])
        found = None if met_at is None else start + met_at
        start += 97
    assert found == expected
    assert chunked.mean_error == pytest.approx(one_at_a_time.mean_error) and chunked.met()


def test_every_modern_choice_can_be_turned_off() -> None:
    # What `temporal-order train --optimizer sgd --grad-clip 0 --no-anneal --batch-size 1` asks for.
    config = default_train_config("lstm", optimizer="sgd", grad_clip=0.0, anneal=False, batch_size=1)
    assert (config.optimizer, config.grad_clip, config.anneal, config.batch_size) == ("sgd", None, False, 1)
