"""The service's fast symbol parsing and rule check give exactly the answers of training.task."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from service.sequences import check_many, check_parsed, pad_parsed, parse
from training.task import InvalidSequence, check, decode_batch, encode, generate, get_task, make_generator

SPEC = get_task("6b")
GENERATED = decode_batch(generate(SPEC, 200, make_generator(0)))


def _same_as_training(text: str) -> None:
    try:
        expected = encode(text)
    except InvalidSequence as error:
        with pytest.raises(InvalidSequence) as raised:
            parse(text)
        assert (raised.value.message, raised.value.position) == (error.message, error.position)
        return
    parsed = parse(text)
    assert list(parsed.ids) == expected
    for spec in (SPEC, get_task("6a"), SPEC.shortened(5)):
        assert check_parsed(parsed, spec) == check(expected, spec)


@pytest.mark.parametrize("text", GENERATED[:50])
def test_generated_sequences(text: str) -> None:
    _same_as_training(text)
    assert check_parsed(parse(text), SPEC).in_distribution


@settings(max_examples=300, deadline=None)
@given(
    base=st.sampled_from(GENERATED),
    edits=st.lists(
        st.tuples(st.integers(0, 120), st.sampled_from([*"EabcdXYB", " ", "\t", "Z", "é", "\u2003", ""])),
        max_size=4,
    ),
)
def test_mutated_sequences(base: str, edits: list[tuple[int, str]]) -> None:
    text = list(base)
    for position, symbol in edits:
        if position < len(text):
            text[position] = symbol
    _same_as_training("".join(text))


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="EabcdXYB \n?", max_size=40))
def test_arbitrary_strings(text: str) -> None:
    _same_as_training(text)


def test_padding_matches_the_generator() -> None:
    batch = generate(SPEC, 64, make_generator(3))
    tokens, lengths = pad_parsed([parse(text) for text in decode_batch(batch)])
    assert torch.equal(lengths, batch.lengths)
    width = tokens.shape[1]
    mask = torch.arange(width).unsqueeze(0) < lengths.unsqueeze(1)
    assert torch.equal(tokens[mask], batch.tokens[:, :width][mask])


def _valid(texts: list[str]) -> list[str]:
    kept = []
    for text in texts:
        try:
            parse(text)
        except InvalidSequence:
            continue
        kept.append(text)
    return kept


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(GENERATED),
            st.lists(st.tuples(st.integers(0, 112), st.sampled_from([*"EabcdXYB", ""])), max_size=3),
        ),
        min_size=1,
        max_size=12,
    )
)
def test_batch_check_equals_the_row_check(rows: list[tuple[str, list[tuple[int, str]]]]) -> None:
    texts = []
    for base, edits in rows:
        text = list(base)
        for position, symbol in edits:
            if position < len(text):
                text[position] = symbol
        texts.append("".join(text))
    parsed = [parse(text) for text in _valid(texts)]
    if not parsed:
        return
    tokens, lengths = pad_parsed(parsed)
    for spec in (SPEC, get_task("6a"), SPEC.shortened(5)):
        assert check_many(parsed, tokens.numpy(), lengths.numpy(), spec) == [check_parsed(p, spec) for p in parsed]


def test_batch_check_of_generated_sequences_finds_every_label() -> None:
    batch = generate(SPEC, 300, make_generator(4))
    parsed = [parse(text) for text in decode_batch(batch)]
    tokens, lengths = pad_parsed(parsed)
    checks = check_many(parsed, tokens.numpy(), lengths.numpy(), SPEC)
    assert [c.rule_label for c in checks] == batch.labels.tolist()
    assert all(c.in_distribution for c in checks)
    assert [list(c.relevant_positions) for c in checks] == batch.positions.tolist()
