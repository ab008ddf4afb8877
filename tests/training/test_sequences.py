"""Symbol strings: parsing with its messages and positions, the rule check of one sequence and of a padded batch."""

from __future__ import annotations

import re

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from training.sequences import (
    MAX_SEQUENCE_LENGTH,
    InvalidSequence,
    SequenceCheck,
    check,
    check_many,
    pad_parsed,
    parse,
    rule_label,
)
from training.task import (
    PAD_ID,
    RELEVANT,
    SYMBOL_IDS,
    SYMBOLS,
    TaskSpec,
    decode,
    decode_batch,
    generate,
    get_task,
    make_generator,
)

SIX_B = get_task("6b")
SPECS = [SIX_B, get_task("6a"), SIX_B.shortened(5)]
GENERATED = decode_batch(generate(SIX_B, 200, make_generator(0)))


def ids(text: str) -> list[int]:
    return list(parse(text).ids)


def build(spec: TaskSpec, length: int, relevant: dict[int, str], *, fill: str = "a") -> str:
    """A compact string of `length` symbols: E first, B last, `relevant` at 1-based positions."""
    symbols = ["E"] + [fill] * (length - 2) + ["B"]
    for position, symbol in relevant.items():
        symbols[position - 1] = symbol
    return "".join(symbols)


# ---------------------------------------------------------------- parsing


@settings(max_examples=30, deadline=None)
@given(
    tokens=st.lists(st.integers(0, len(SYMBOLS) - 1), min_size=1, max_size=200),
    separators=st.lists(st.sampled_from(["", " ", "  ", "\t", "\n", " \r\n "]), min_size=201, max_size=201),
)
def test_parse_decode_round_trip(tokens: list[int], separators: list[str]) -> None:
    text = decode(tokens)
    assert len(text) == len(tokens)
    assert ids(text) == tokens and parse(text).text == text
    spaced = separators[0] + "".join(s + sep for s, sep in zip(text, separators[1:], strict=False))
    assert parse(spaced) == parse(text)
    assert decode(torch.tensor(tokens)) == text
    assert decode(torch.tensor([*tokens, PAD_ID, PAD_ID]), len(tokens)) == text


def test_parse_examples() -> None:
    assert ids("EabXcdB") == [0, 1, 2, 5, 3, 4, 7]
    assert ids(" E a b X\tc d\nB ") == [0, 1, 2, 5, 3, 4, 7]
    assert ids("E\u2003Y\u00a0B") == [0, RELEVANT[1], 7]  # any Unicode whitespace separates


@pytest.mark.parametrize(
    ("text", "position"),
    [
        ("EabcdabcdabcdabcZ", 17),
        ("E a b c d a b c d a b c d a b c Z", 17),
        ("Z", 1),
        ("EabXcdBx", 8),  # symbols are case-sensitive
        ("Eab1", 4),
        ("Ea é", 3),
    ],
)
def test_unknown_symbol_names_its_position(text: str, position: int) -> None:
    with pytest.raises(InvalidSequence) as caught:
        parse(text)
    bad = text.replace(" ", "")[position - 1]
    assert f"unknown symbol {bad!r} at position {position}" in str(caught.value)
    assert caught.value.position == position
    assert isinstance(caught.value, ValueError)


@pytest.mark.parametrize("text", ["", "   ", "\n\t"])
def test_empty_sequence_is_rejected(text: str) -> None:
    with pytest.raises(InvalidSequence, match="empty sequence"):
        parse(text)


@pytest.mark.parametrize(("value", "type_name"), [(None, "NoneType"), (b"EabB", "bytes"), ([0, 1, 7], "list")])
def test_non_string_is_rejected(value: object, type_name: str) -> None:
    with pytest.raises(InvalidSequence, match=f"must be a string of symbols, got {type_name}"):
        parse(value)  # type: ignore[arg-type]


def test_length_limit_is_met_before_what_follows_it() -> None:
    assert len(parse("a" * MAX_SEQUENCE_LENGTH)) == MAX_SEQUENCE_LENGTH
    with pytest.raises(InvalidSequence, match=f"limit of {MAX_SEQUENCE_LENGTH}"):
        parse("a" * (MAX_SEQUENCE_LENGTH + 1))
    with pytest.raises(InvalidSequence, match=f"limit of {MAX_SEQUENCE_LENGTH}"):
        parse("a" * (MAX_SEQUENCE_LENGTH + 1) + "Z")  # read from the left, the limit breaks first
    with pytest.raises(InvalidSequence, match=f"unknown symbol 'Z' at position {MAX_SEQUENCE_LENGTH + 1}"):
        parse("a" * MAX_SEQUENCE_LENGTH + "Z")


def _read_one_by_one(text: str) -> list[int]:
    """Parsing as the paper's reader would do it, symbol by symbol: the reference `parse` must agree with."""
    read: list[int] = []
    for char in text:
        if char.isspace():
            continue
        if char not in SYMBOL_IDS:
            raise InvalidSequence(f"unknown symbol {char!r} at position {len(read) + 1}", len(read) + 1)
        read.append(SYMBOL_IDS[char])
        if len(read) > MAX_SEQUENCE_LENGTH:
            raise InvalidSequence("longer than the limit")
    if not read:
        raise InvalidSequence("empty sequence")
    return read


def _same_as_read_one_by_one(text: str) -> None:
    try:
        expected = _read_one_by_one(text)
    except InvalidSequence as error:
        with pytest.raises(InvalidSequence) as raised:
            parse(text)
        assert raised.value.position == error.position and raised.value.message.startswith(error.message)
        return
    assert ids(text) == expected


@settings(max_examples=300, deadline=None)
@given(
    base=st.sampled_from(GENERATED),
    edits=st.lists(
        st.tuples(st.integers(0, 120), st.sampled_from([*"EabcdXYB", " ", "\t", "Z", "é", "\u2003", "\x1c", ""])),
        max_size=4,
    ),
)
def test_parse_of_mutated_sequences(base: str, edits: list[tuple[int, str]]) -> None:
    text = list(base)
    for position, symbol in edits:
        if position < len(text):
            text[position] = symbol
    _same_as_read_one_by_one("".join(text))


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="EabcdXYB \n?\x85", max_size=40))
def test_parse_of_arbitrary_strings(text: str) -> None:
    _same_as_read_one_by_one(text)


# ---------------------------------------------------------------- the rule


def test_rule_label_of_hand_written_sequences() -> None:
    # E, 8 distractors, X at 10, ..., Y at 33, ..., X at 66, ..., B at 100: class XYX = 2.
    text = "E" + "abcd" * 2 + "X" + "abcd" * 5 + "ab" + "Y" + "abcd" * 8 + "X" + "abcd" * 8 + "aB"
    assert len(text) == 100
    assert [i + 1 for i, s in enumerate(text) if s in "XY"] == [10, 33, 66]
    assert rule_label(text, SIX_B) == 2
    assert rule_label(" ".join(text), SIX_B) == 2
    assert rule_label(build(SIX_B, 110, {20: "Y", 43: "Y", 76: "Y"}), SIX_B) == 7
    assert rule_label(build(SIX_B, 105, {15: "Y", 40: "X", 70: "Y"}), SIX_B) == 5
    six_a = get_task("6a")
    assert rule_label(build(six_a, 100, {10: "X", 60: "Y"}), six_a) == 1
    assert rule_label(build(six_a, 110, {20: "Y", 50: "X"}), six_a) == 2


GOOD = {12: "X", 35: "Y", 70: "Y"}


@pytest.mark.parametrize(
    ("text", "problem", "label"),
    [
        ("a" + build(SIX_B, 104, GOOD)[1:], "position 1 must be 'E', found 'a'", None),
        (build(SIX_B, 104, GOOD)[:-1] + "c", "the last position (104) must be the trigger 'B', found 'c'", None),
        (build(SIX_B, 104, {12: "X", 70: "Y"}), "expected 3 relevant symbols (X or Y), found 2", None),
        (build(SIX_B, 104, {**GOOD, 50: "X"}), "expected 3 relevant symbols (X or Y), found 4", None),
        (build(SIX_B, 104, {12: "X", 45: "Y", 70: "Y"}), "relevant symbol 2 at position 45 is outside 33..43", 3),
        (build(SIX_B, 104, {9: "Y", 35: "Y", 70: "Y"}), "relevant symbol 1 at position 9 is outside 10..20", 7),
        (build(SIX_B, 99, GOOD), "length 99 is outside 100..110", 3),
        (build(SIX_B, 111, GOOD), "length 111 is outside 100..110", 3),
        (build(SIX_B, 104, {**GOOD, 50: "B"}), "'B' at position 50 may only stand at the start or the end", None),
        (build(SIX_B, 104, {**GOOD, 51: "E"}), "'E' at position 51 may only stand at the start or the end", None),
        (build(SIX_B, 104, {**GOOD, 2: "B"}), "'B' at position 2 may only stand at the start or the end", None),
        (build(SIX_B, 104, {**GOOD, 103: "E"}), "'E' at position 103 may only stand at the start or the end", None),
    ],
)
def test_check_names_each_problem_and_where(text: str, problem: str, label: int | None) -> None:
    result = check(parse(text), SIX_B)
    assert problem in result.problems
    assert not result.in_distribution
    assert result.rule_label == label
    with pytest.raises(InvalidSequence, match=re.escape(f"not a well-formed 6b sequence: {result.problems[0]}")):
        rule_label(text, SIX_B)


def test_check_reports_every_problem() -> None:
    text = "c" + build(SIX_B, 120, {12: "X", 70: "Y"})[1:-1] + "a"
    problems = check(parse(text), SIX_B).problems
    assert len(problems) == 4
    assert any("position 1" in p for p in problems)
    assert any("last position (120)" in p for p in problems)
    assert any("length 120" in p for p in problems)
    assert any("found 2" in p for p in problems)


@pytest.mark.parametrize(("text", "first"), [("B", "position 1 must be 'E', found 'B'"), ("E", "the last position")])
def test_check_of_a_single_symbol(text: str, first: str) -> None:
    assert check(parse(text), SIX_B).problems[0].startswith(first)


def test_check_well_formed_sequence() -> None:
    result = check(parse(build(SIX_B, 104, GOOD)), SIX_B)
    assert result == SequenceCheck(rule_label=3, relevant_positions=(12, 35, 70), problems=())


# ---------------------------------------------------------------- padded batches


def test_pad_parsed() -> None:
    tokens, lengths = pad_parsed([parse("EaB"), parse("EB"), parse("EXYbB")])
    assert lengths.tolist() == [3, 2, 5]
    assert tokens.dtype == torch.int64 and tokens.shape == (3, 5)
    assert tokens.tolist() == [[0, 1, 7, PAD_ID, PAD_ID], [0, 7, PAD_ID, PAD_ID, PAD_ID], [0, 5, 6, 2, 7]]
    empty_tokens, empty_lengths = pad_parsed([])
    assert empty_tokens.shape == (0, 0) and empty_lengths.shape == (0,)


def test_padding_matches_the_generator() -> None:
    batch = generate(SIX_B, 64, make_generator(3))
    tokens, lengths = pad_parsed([parse(text) for text in decode_batch(batch)])
    assert torch.equal(lengths, batch.lengths)
    width = tokens.shape[1]
    mask = torch.arange(width).unsqueeze(0) < lengths.unsqueeze(1)
    assert torch.equal(tokens[mask], batch.tokens[:, :width][mask])


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
def test_batch_check_equals_the_check_of_each_row(rows: list[tuple[str, list[tuple[int, str]]]]) -> None:
    parsed = []
    for base, edits in rows:
        text = list(base)
        for position, symbol in edits:
            if position < len(text):
                text[position] = symbol
        if "".join(text):
            parsed.append(parse("".join(text)))
    if not parsed:
        return
    tokens, lengths = pad_parsed(parsed)
    for spec in SPECS:
        assert check_many(parsed, tokens.numpy(), lengths.numpy(), spec) == [check(p, spec) for p in parsed]


def test_batch_check_of_generated_sequences_finds_every_label() -> None:
    batch = generate(SIX_B, 300, make_generator(4))
    parsed = [parse(text) for text in decode_batch(batch)]
    tokens, lengths = pad_parsed(parsed)
    checks = check_many(parsed, tokens.numpy(), lengths.numpy(), SIX_B)
    assert [c.rule_label for c in checks] == batch.labels.tolist()
    assert all(c.in_distribution for c in checks)
    assert [list(c.relevant_positions) for c in checks] == batch.positions.tolist()
    assert check_many([], tokens[:0].numpy(), lengths[:0].numpy(), SIX_B) == []
