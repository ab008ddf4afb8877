"""The task: spec validation and the seeded generator's properties (its strings checked by the rule)."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from training.sequences import check, parse, rule_label
from training.task import (
    DISTRACTORS,
    PAD_ID,
    RELEVANT,
    START,
    SYMBOLS,
    TASKS,
    TRIGGER,
    TaskSpec,
    decode_batch,
    generate,
    get_task,
    make_generator,
)

CUSTOM = TaskSpec("custom", min_length=30, max_length=45, relevant_ranges=((3, 5), (8, 8), (12, 20), (25, 28)))
SPECS = [TASKS["6b"], TASKS["6a"], CUSTOM, TASKS["6b"].shortened(5)]
SPEC_IDS = [spec.name for spec in SPECS]

seeds = st.integers(min_value=0, max_value=2**62)


@st.composite
def task_specs(draw: st.DrawFn) -> TaskSpec:
    """Any valid spec: 1..4 ordered, non-overlapping ranges after position 1, all before min_length."""
    n_ranges = draw(st.integers(1, 4))
    ranges = []
    last = 1
    for _ in range(n_ranges):
        low = last + draw(st.integers(1, 6))
        high = low + draw(st.integers(0, 6))
        ranges.append((low, high))
        last = high
    min_length = last + draw(st.integers(1, 10))
    max_length = min_length + draw(st.integers(0, 10))
    return TaskSpec("drawn", min_length=min_length, max_length=max_length, relevant_ranges=tuple(ranges))


any_spec = st.one_of(st.sampled_from(SPECS), task_specs())


# ---------------------------------------------------------------- the spec


def test_paper_specs() -> None:
    six_b, six_a = get_task("6b"), get_task("6a")
    assert (six_b.min_length, six_b.max_length) == (100, 110)
    assert six_b.relevant_ranges == ((10, 20), (33, 43), (66, 76))
    assert six_b.class_names == ("XXX", "XXY", "XYX", "XYY", "YXX", "YXY", "YYX", "YYY")
    assert six_a.relevant_ranges == ((10, 20), (50, 60))
    assert six_a.class_names == ("XX", "XY", "YX", "YY")
    assert (six_b.n_classes, six_a.n_classes) == (8, 4)


def test_unknown_task_names_the_known_ones() -> None:
    with pytest.raises(ValueError, match=r"unknown task '6c'.*6a, 6b"):
        get_task("6c")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"relevant_ranges": ((10, 20), (15, 30))}, r"relevant range 2 \(15\.\.30\)"),
        ({"relevant_ranges": ((33, 43), (10, 20))}, r"relevant range 2 \(10\.\.20\)"),
        ({"relevant_ranges": ((20, 10),)}, r"relevant range 1 \(20\.\.10\)"),
        ({"relevant_ranges": ((10, 20), (20, 30))}, r"relevant range 2 \(20\.\.30\)"),
        ({"relevant_ranges": ((1, 5),)}, r"relevant range 1 \(1\.\.5\)"),
        ({"relevant_ranges": ()}, r"at least one relevant range"),
        ({"min_length": 76}, r"last relevant position 76 .* min_length 76"),
        ({"min_length": 111, "max_length": 110}, r"min_length <= max_length"),
        ({"min_length": 2, "max_length": 2, "relevant_ranges": ((2, 2),)}, r"3 <= min_length"),
    ],
)
def test_spec_rejects_bad_ranges(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        TaskSpec("bad", **kwargs)  # type: ignore[arg-type]


@given(spec=any_spec)
def test_spec_round_trips_through_a_dict(spec: TaskSpec) -> None:
    assert TaskSpec.from_dict(spec.to_dict()) == spec


@given(spec=st.sampled_from(SPECS), factor=st.integers(1, 200))
def test_shortened_is_a_valid_spec_with_the_same_classes(spec: TaskSpec, factor: int) -> None:
    short = spec.shortened(factor)
    assert short.class_names == spec.class_names
    assert short.relevant_ranges[-1][1] < short.min_length <= short.max_length
    if factor == 1:
        assert (short.min_length, short.max_length, short.relevant_ranges) == (
            spec.min_length,
            spec.max_length,
            spec.relevant_ranges,
        )


# ---------------------------------------------------------------- the generator


@settings(max_examples=40, deadline=None)
@given(spec=any_spec, n=st.integers(1, 64), seed=seeds)
def test_generated_batches_follow_the_spec(spec: TaskSpec, n: int, seed: int) -> None:
    batch = generate(spec, n, make_generator(seed))
    assert len(batch) == n
    assert batch.tokens.shape == (n, spec.max_length)
    assert batch.positions.shape == (n, spec.n_relevant)
    assert ((batch.lengths >= spec.min_length) & (batch.lengths <= spec.max_length)).all()
    assert ((batch.labels >= 0) & (batch.labels < spec.n_classes)).all()
    for k, (low, high) in enumerate(spec.relevant_ranges):
        assert ((batch.positions[:, k] >= low) & (batch.positions[:, k] <= high)).all()

    texts = decode_batch(batch)
    for row in range(n):
        length = int(batch.lengths[row])
        tokens = batch.tokens[row].tolist()
        positions = batch.positions[row].tolist()
        assert len(texts[row]) == length
        assert tokens[0] == START
        assert tokens[length - 1] == TRIGGER
        assert all(t == PAD_ID for t in tokens[length:])
        for step in range(2, length):  # 1-based, between E and B
            if step in positions:
                assert tokens[step - 1] in RELEVANT
            else:
                assert tokens[step - 1] in DISTRACTORS
        # The string a user sees has the generator's label by the rule, and nothing wrong with it.
        result = check(parse(texts[row]), spec)
        assert result.problems == ()
        assert result.in_distribution
        assert result.rule_label == int(batch.labels[row])
        assert result.relevant_positions == tuple(positions)
        assert rule_label(texts[row], spec) == int(batch.labels[row])


def test_class_index_puts_the_first_relevant_symbol_in_the_most_significant_bit() -> None:
    batch = generate(get_task("6b"), 200, make_generator(3))
    for row in range(len(batch)):
        symbols = "".join(SYMBOLS[int(batch.tokens[row, p - 1])] for p in batch.positions[row].tolist())
        assert get_task("6b").class_names[int(batch.labels[row])] == symbols


@settings(max_examples=20, deadline=None)
@given(spec=any_spec, n=st.integers(1, 32), seed=seeds)
def test_same_seed_same_batch(spec: TaskSpec, n: int, seed: int) -> None:
    first = generate(spec, n, make_generator(seed))
    second = generate(spec, n, make_generator(seed))
    for name in ("tokens", "lengths", "labels", "positions"):
        assert torch.equal(getattr(first, name), getattr(second, name)), name


@settings(max_examples=20, deadline=None)
@given(spec=st.sampled_from(SPECS), seeds=st.lists(seeds, min_size=2, max_size=2, unique=True))
def test_different_seeds_and_successive_draws_differ(spec: TaskSpec, seeds: list[int]) -> None:
    a = generate(spec, 16, make_generator(seeds[0]))
    b = generate(spec, 16, make_generator(seeds[1]))
    assert not torch.equal(a.tokens, b.tokens)
    generator = make_generator(seeds[0])
    generate(spec, 16, generator)
    assert not torch.equal(generate(spec, 16, generator).tokens, a.tokens)  # online: every draw is fresh


@pytest.mark.parametrize("spec", SPECS, ids=SPEC_IDS)
def test_classes_positions_lengths_and_distractors_are_uniform(spec: TaskSpec) -> None:
    n = 16_000
    batch = generate(spec, n, make_generator(12345))

    def chi_square(values: torch.Tensor, low: int, high: int) -> float:
        counts = torch.bincount(values - low, minlength=high - low + 1).double()
        assert counts.shape[0] == high - low + 1, "values outside the range"
        expected = len(values) / (high - low + 1)
        return float(((counts - expected) ** 2 / expected).sum())

    def bound(categories: int) -> float:
        # About the 0.9999 quantile of chi-square with categories-1 degrees of freedom (mean k, sd sqrt(2k)).
        dof = categories - 1
        return dof + 6 * (2 * dof) ** 0.5 + 10

    assert chi_square(batch.labels, 0, spec.n_classes - 1) < bound(spec.n_classes)
    assert chi_square(batch.lengths, spec.min_length, spec.max_length) < bound(spec.max_length - spec.min_length + 1)
    for k, (low, high) in enumerate(spec.relevant_ranges):
        assert chi_square(batch.positions[:, k], low, high) < bound(high - low + 1)
    steps = torch.arange(spec.max_length).unsqueeze(0)
    inside = (steps >= 1) & (steps < batch.lengths.unsqueeze(1) - 1)
    distractors = batch.tokens[inside & (batch.tokens != RELEVANT[0]) & (batch.tokens != RELEVANT[1])]
    assert chi_square(distractors, DISTRACTORS[0], DISTRACTORS[-1]) < bound(len(DISTRACTORS))


def test_generate_zero_and_negative() -> None:
    assert len(generate(get_task("6b"), 0, make_generator(0))) == 0
    with pytest.raises(ValueError, match="n must be >= 0"):
        generate(get_task("6b"), -1, make_generator(0))
