"""The four classifiers: configs, batch invariance, padding never read, and the seed attention's cap."""

from __future__ import annotations

import copy
import dataclasses
import functools

import pytest
import torch

from training.architectures import ARCHITECTURES, build_model, config_from_dict, default_config
from training.evaluate import evaluate, predict_probabilities
from training.models import (
    AttnRNNConfig,
    AttnRNNSeedConfig,
    GRUConfig,
    LSTMConfig,
    ModelConfig,
    RNNConfig,
    SeedAttentionRNN,
    SequenceClassifier,
    config_to_dict,
    one_hot,
)
from training.sequences import Parsed, pad_parsed, parse
from training.task import (
    N_SYMBOLS,
    RELEVANT,
    SYMBOL_IDS,
    TaskSpec,
    decode,
    generate,
    get_task,
    make_generator,
)
from training.train import default_train_config, train_trial

SIX_B = get_task("6b")


pytestmark = pytest.mark.usefixtures("one_thread")


def model_for(arch: str, seed: int = 0, n_classes: int = 8) -> SequenceClassifier:
    torch.manual_seed(seed)
    model = build_model(default_config(arch, n_classes=n_classes))
    model.eval()
    return model


@torch.no_grad()
def exact_probabilities(model: SequenceClassifier, tokens: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """In float64, so that equal means mathematically equal and not merely equal to float32 noise."""
    model64 = copy.deepcopy(model).double()
    return model64(one_hot(tokens).double(), lengths).softmax(dim=1)


def probabilities(model: SequenceClassifier, tokens: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """The path testing and serving take: a model's compiled forward where it has one (lstm, lstm1997), else its
    module."""
    return predict_probabilities(model, tokens, lengths)


def pad(sequences: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
    return pad_parsed([Parsed(decode(sequence), bytes(sequence)) for sequence in sequences])


def mixed_batch(seed: int) -> list[list[int]]:
    """Sequences of very different lengths: 6b, 6a, a shortened 6b and a short custom task."""
    generator = make_generator(seed)
    custom = TaskSpec("short", min_length=5, max_length=9, relevant_ranges=((2, 2), (3, 4)))
    sequences: list[list[int]] = []
    for spec, n in ((SIX_B, 3), (get_task("6a"), 2), (SIX_B.shortened(5), 3), (custom, 3)):
        batch = generate(spec, n, generator)
        sequences += [row[:length].tolist() for row, length in zip(batch.tokens, batch.lengths, strict=True)]
    order = torch.randperm(len(sequences), generator=generator).tolist()
    return [sequences[i] for i in order]


# ---------------------------------------------------------------- configs


def test_architectures() -> None:
    assert ARCHITECTURES == ("rnn", "lstm", "attn_rnn", "attn_rnn_seed", "lstm1997", "gru")


@pytest.mark.parametrize(
    "config",
    [
        RNNConfig(hidden_size=7, identity_scale=0.5, n_classes=4),
        LSTMConfig(hidden_size=5, forget_bias=1.5),
        AttnRNNConfig(hidden_size=6, identity_scale=0.9, n_classes=2),
        AttnRNNConfig(hidden_size=6, cell="irnn"),
        AttnRNNSeedConfig(n_classes=4),
        GRUConfig(hidden_size=5, n_classes=2),
    ],
    ids=lambda c: c.arch,
)
def test_config_round_trips_and_rebuilds_the_same_module(config: ModelConfig) -> None:
    data = config_to_dict(config)
    assert data["arch"] == config.arch
    restored = config_from_dict(data)
    assert restored == config and type(restored) is type(config)
    original, rebuilt = build_model(config), build_model(restored)
    assert {k: v.shape for k, v in original.state_dict().items()} == {
        k: v.shape for k, v in rebuilt.state_dict().items()
    }
    rebuilt.load_state_dict(original.state_dict())
    tokens, lengths = pad_parsed([parse("EabXcdYaB"), parse("EYXB")])
    assert torch.equal(probabilities(original, tokens, lengths), probabilities(rebuilt, tokens, lengths))
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.n_classes = 3  # type: ignore[misc]


def test_unknown_architecture_is_rejected() -> None:
    with pytest.raises(ValueError, match=r"unknown architecture 'transformer'.*rnn, lstm, attn_rnn, attn_rnn_seed"):
        config_from_dict({"arch": "transformer"})
    with pytest.raises(ValueError, match="unknown architecture 'transformer'"):
        default_config("transformer")
    with pytest.raises(ValueError, match="unknown architecture None"):
        config_from_dict({"hidden_size": 3})


def test_unknown_attention_encoder_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown attention encoder cell 'lstm'"):
        build_model(AttnRNNConfig(cell="lstm"))


def test_one_hot() -> None:
    tokens = torch.tensor([[0, 5, 7], [6, 1, 0]])
    inputs = one_hot(tokens)
    assert inputs.shape == (2, 3, N_SYMBOLS)
    assert inputs.dtype == torch.float32
    assert torch.equal(inputs.argmax(dim=2), tokens)
    assert torch.equal(inputs.sum(dim=2), torch.ones(2, 3))


def test_lstm_forget_gate_starts_open() -> None:
    model = build_model(LSTMConfig(hidden_size=4, forget_bias=3.0))
    lstm = model.lstm  # type: ignore[union-attr]
    forget = lstm.bias_ih_l0[4:8] + lstm.bias_hh_l0[4:8]  # PyTorch's gate order: input, forget, cell, output
    assert torch.allclose(forget, torch.full((4,), 3.0))


# ---------------------------------------------------------------- shapes and batch invariance


@pytest.mark.parametrize("arch", ARCHITECTURES)
@pytest.mark.parametrize("n_classes", [8, 4])
def test_outputs_one_row_of_logits_per_sequence(arch: str, n_classes: int) -> None:
    model = model_for(arch, n_classes=n_classes)
    tokens, lengths = pad(mixed_batch(0))
    logits = model(one_hot(tokens), lengths)
    assert logits.shape == (len(lengths), n_classes)
    assert torch.isfinite(logits).all()


# Every architecture's default, plus the attention model's other encoder.
INVARIANCE_CONFIGS = [default_config(arch) for arch in ARCHITECTURES] + [AttnRNNConfig(cell="irnn")]
INVARIANCE_IDS = [*ARCHITECTURES, "attn_rnn-irnn"]


@pytest.mark.parametrize("config", INVARIANCE_CONFIGS, ids=INVARIANCE_IDS)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_sequence_alone_equals_itself_inside_a_padded_batch(config: ModelConfig, seed: int) -> None:
    torch.manual_seed(seed)
    model = build_model(config).eval()
    sequences = mixed_batch(seed)
    tokens, lengths = pad(sequences)
    assert len(set(lengths.tolist())) > 3
    together = probabilities(model, tokens, lengths)
    for row, sequence in enumerate(sequences):
        alone = probabilities(model, torch.tensor([sequence]), torch.tensor([len(sequence)]))
        assert torch.allclose(alone[0], together[row], atol=1e-5), f"row {row}, length {len(sequence)}"


@pytest.mark.parametrize("config", INVARIANCE_CONFIGS, ids=INVARIANCE_IDS)
def test_padding_is_never_read(config: ModelConfig) -> None:
    torch.manual_seed(5)
    model = build_model(config).eval()
    tokens, lengths = pad(mixed_batch(5))
    before = probabilities(model, tokens, lengths)
    noisy = tokens.clone()
    steps = torch.arange(tokens.shape[1]).unsqueeze(0)
    padding = steps >= lengths.unsqueeze(1)
    assert padding.any()
    noisy[padding] = torch.randint(0, N_SYMBOLS, (int(padding.sum()),), generator=make_generator(9))
    # Extra padding columns change nothing either.
    wider = torch.cat([noisy, torch.full((len(lengths), 17), SYMBOL_IDS["X"])], dim=1)
    assert torch.allclose(before, probabilities(model, noisy, lengths), atol=1e-5)
    assert torch.allclose(before, probabilities(model, wider, lengths), atol=1e-5)


@pytest.mark.parametrize("arch", ["attn_rnn", "attn_rnn_seed"])
def test_attention_weights_cover_only_real_steps(arch: str) -> None:
    model = model_for(arch)
    tokens, lengths = pad(mixed_batch(3))
    with torch.no_grad():
        weights = model.attention(one_hot(tokens), lengths)
    assert weights.shape == tokens.shape
    steps = torch.arange(tokens.shape[1]).unsqueeze(0)
    assert torch.all(weights[steps >= lengths.unsqueeze(1)] == 0)
    assert torch.all(weights[steps < lengths.unsqueeze(1)] > 0)
    assert torch.allclose(weights.sum(dim=1), torch.ones(len(lengths)), atol=1e-5)


@pytest.mark.parametrize("arch", ["rnn", "lstm", "gru"])
def test_models_without_attention_say_so(arch: str) -> None:
    tokens, lengths = pad_parsed([parse("EXYB")])
    with pytest.raises(TypeError, match="has no attention weights"):
        model_for(arch).attention(one_hot(tokens), lengths)


# ---------------------------------------------------------------- the seed attention's cap


def same_bag_pair() -> tuple[list[int], list[int]]:
    """A 6b XXY sequence and the XYX sequence with the same symbols at the same positions otherwise."""
    batch = generate(SIX_B, 1, make_generator(21))
    base = batch.tokens[0, : int(batch.lengths[0])].tolist()
    t1, t2, t3 = batch.positions[0].tolist()
    x, y = RELEVANT
    first, second = list(base), list(base)
    first[t1 - 1], first[t2 - 1], first[t3 - 1] = x, x, y
    second[t1 - 1], second[t2 - 1], second[t3 - 1] = x, y, x
    return first, second


@functools.cache
def briefly_trained(arch: str) -> SequenceClassifier:
    """A few steps of each architecture's own training on 6b, so no check rests on the initial weights."""
    config = default_train_config(arch, max_sequences=64)
    return train_trial(SIX_B, arch=arch, train_config=config, seed=4).model


@pytest.mark.parametrize("trained", [False, True], ids=["init", "trained"])
def test_seed_attention_cannot_tell_apart_sequences_with_the_same_bag(trained: bool) -> None:
    first, second = same_bag_pair()
    assert decode(first) != decode(second)
    assert sorted(first) == sorted(second)
    tokens, lengths = pad([first, second])
    seed_model = briefly_trained("attn_rnn_seed") if trained else model_for("attn_rnn_seed", seed=1)
    assert isinstance(seed_model, SeedAttentionRNN)
    seed_out = exact_probabilities(seed_model, tokens, lengths)
    assert torch.allclose(seed_out[0], seed_out[1], rtol=0, atol=1e-12)
    for arch in ("attn_rnn", "lstm"):
        model = briefly_trained(arch) if trained else model_for(arch, seed=1)
        out = exact_probabilities(model, tokens, lengths)
        assert (out[0] - out[1]).abs().max() > 1e-9, arch


def test_seed_attention_output_is_a_function_of_the_bag() -> None:
    """Any reordering of a sequence's relevant symbols over its relevant positions leaves the output alone."""
    model = briefly_trained("attn_rnn_seed")
    batch = generate(SIX_B, 64, make_generator(8))
    permuted = batch.tokens.clone()
    rows = torch.arange(64).unsqueeze(1)
    shuffle = torch.stack([torch.randperm(3, generator=make_generator(i)) for i in range(64)])
    permuted[rows, batch.positions - 1] = batch.tokens[rows, (batch.positions - 1).gather(1, shuffle)]
    assert not torch.equal(permuted, batch.tokens)
    assert torch.allclose(
        exact_probabilities(model, batch.tokens, batch.lengths),
        exact_probabilities(model, permuted, batch.lengths),
        rtol=0,
        atol=1e-12,
    )


def test_seed_attention_learns_up_to_the_bag_ceiling_and_no_further() -> None:
    """Trained long enough to learn what the bag of symbols tells (6b with positions divided by 5, so it is
    quick), the seed attention gets near half of the test set right, and never more than the best any
    order-blind classifier can get on that very test set."""
    from training.evaluate import bag_of_symbols_ceiling

    task = SIX_B.shortened(5)
    config = default_train_config("attn_rnn_seed", max_sequences=5_000)
    model = train_trial(task, arch="attn_rnn_seed", train_config=config, seed=4).model
    test = evaluate(model, task, seed=0, n_test=3000)
    ceiling = bag_of_symbols_ceiling(task, seed=0, n_test=3000)
    assert 0.45 <= test.accuracy <= ceiling, (test.accuracy, ceiling)  # chance would be 1/8
