"""Symbol strings: parse one into token ids, check it against a task's rule, pad a list of them into a batch.

    check(parse(text), get_task("6b")).rule_label     # the class by the rule, or None; .problems say where

`check` is the rule for one sequence; `check_many` answers the same for a padded batch with array operations
over all rows at once (the service checks a 1,024-sequence request with it while the forward runs).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import torch

from training.task import PAD_ID, RELEVANT, START, SYMBOLS, TRIGGER, TaskSpec

# A hard cap on what a caller may submit: far beyond any task, small enough to bound memory.
MAX_SEQUENCE_LENGTH = 10_000

_NOT_A_SYMBOL = re.compile(f"[^{''.join(SYMBOLS)}]")
_TO_IDS = bytes.maketrans("".join(SYMBOLS).encode("ascii"), bytes(range(len(SYMBOLS))))
# Translation tables that mark (with 1) the ids of one kind: bytes.translate and bytes.find then locate them in C.
_MARKERS = bytes(token in (START, TRIGGER) for token in range(256))
_RELEVANT = bytes(token in RELEVANT for token in range(256))
_PAD_BYTE = bytes([PAD_ID])


class InvalidSequence(ValueError):
    """A symbol string that cannot be parsed; `position` is 1-based among the symbols, or None."""

    def __init__(self, message: str, position: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.position = position


@dataclass(frozen=True, slots=True)
class Parsed:
    """One sequence: its compact text (no whitespace) and its token ids as bytes (one byte per symbol)."""

    text: str
    ids: bytes

    def __len__(self) -> int:
        return len(self.ids)


def parse(text: str) -> Parsed:
    """Symbol string → token ids, whitespace between symbols ignored; raises `InvalidSequence` naming what is
    wrong and where (the first problem met reading from the left)."""
    if not isinstance(text, str):
        raise InvalidSequence(f"a sequence must be a string of symbols, got {type(text).__name__}")
    compact = "".join(text.split())
    # Read from the left, symbol MAX_SEQUENCE_LENGTH + 1 breaks the limit before anything after it is read.
    unknown = _NOT_A_SYMBOL.search(compact, 0, MAX_SEQUENCE_LENGTH + 1)
    if unknown is not None:
        position = unknown.start() + 1
        raise InvalidSequence(
            f"unknown symbol {unknown.group()!r} at position {position}; allowed symbols: {' '.join(SYMBOLS)}",
            position=position,
        )
    if len(compact) > MAX_SEQUENCE_LENGTH:
        raise InvalidSequence(f"sequence longer than the limit of {MAX_SEQUENCE_LENGTH} symbols")
    if not compact:
        raise InvalidSequence("empty sequence: expected symbols such as 'EabX…B'")
    return Parsed(compact, compact.encode("ascii").translate(_TO_IDS))


@dataclass(frozen=True)
class SequenceCheck:
    """What the task's rule says about one sequence.

    `rule_label` is the class by the rule when the sequence has the task's structure (E first, B last,
    exactly K relevant symbols); `problems` lists every way it departs from the training distribution
    (length, positions), each naming where. An in-distribution sequence has no problems.
    """

    rule_label: int | None
    relevant_positions: tuple[int, ...]
    problems: tuple[str, ...]

    @property
    def in_distribution(self) -> bool:
        return not self.problems


def check(sequence: Parsed, spec: TaskSpec) -> SequenceCheck:
    """The rule applied to one sequence: its class when well-formed, and every problem, each naming where."""
    ids = sequence.ids
    problems: list[str] = []
    structural = True
    if ids[0] != START:
        problems.append(f"position 1 must be 'E', found {SYMBOLS[ids[0]]!r}")
        structural = False
    if ids[-1] != TRIGGER:
        problems.append(f"the last position ({len(ids)}) must be the trigger 'B', found {SYMBOLS[ids[-1]]!r}")
        structural = False
    for index in _marked(ids, _MARKERS, 1, len(ids) - 1):
        problems.append(f"{SYMBOLS[ids[index]]!r} at position {index + 1} may only stand at the start or the end")
        structural = False
    if not spec.min_length <= len(ids) <= spec.max_length:
        problems.append(f"length {len(ids)} is outside {spec.min_length}..{spec.max_length}")
    relevant = tuple(index + 1 for index in _marked(ids, _RELEVANT))  # 1-based positions
    if len(relevant) != spec.n_relevant:
        problems.append(f"expected {spec.n_relevant} relevant symbols (X or Y), found {len(relevant)}")
        structural = False
    else:
        for index, (position, (low, high)) in enumerate(zip(relevant, spec.relevant_ranges, strict=True), 1):
            if not low <= position <= high:
                problems.append(f"relevant symbol {index} at position {position} is outside {low}..{high}")
    label = None
    if structural:
        label = 0
        for position in relevant:  # the first relevant symbol is the most significant bit: XXX = 0 ... YYY = 7
            label = (label << 1) | (ids[position - 1] - RELEVANT[0])
    return SequenceCheck(rule_label=label, relevant_positions=relevant, problems=tuple(problems))


def _marked(ids: bytes, table: bytes, start: int = 0, end: int | None = None) -> list[int]:
    """The indices in ids[start:end] of the ids that `table` marks, in order."""
    marked = ids.translate(table)
    found: list[int] = []
    index = marked.find(1, start, end)
    while index >= 0:
        found.append(index)
        index = marked.find(1, index + 1, end)
    return found


def check_many(sequences: list[Parsed], tokens: np.ndarray, lengths: np.ndarray, spec: TaskSpec) -> list[SequenceCheck]:
    """`check` for every row of a padded batch (tokens (N, T), lengths (N,) from `pad_parsed`): the well-formed,
    in-distribution rows are recognised with array operations over the whole batch; every other row, whose
    problems need naming, goes through `check`."""
    n, width = tokens.shape
    if n == 0:
        return []
    real = np.arange(width)[None, :] < lengths[:, None]  # padding is 'E': never count it
    relevant = ((tokens == RELEVANT[0]) | (tokens == RELEVANT[1])) & real
    markers = ((tokens == START) | (tokens == TRIGGER)) & real
    fast = (
        (lengths >= spec.min_length)
        & (lengths <= spec.max_length)
        & (tokens[:, 0] == START)
        & (tokens[np.arange(n), lengths - 1] == TRIGGER)
        & (markers.sum(axis=1) == 2)
        & (relevant.sum(axis=1) == spec.n_relevant)
    )
    candidates = np.flatnonzero(fast)
    # Row-major order: each candidate's K relevant positions, in order along the sequence.
    columns: np.ndarray = np.nonzero(relevant[candidates])[1].reshape(len(candidates), spec.n_relevant)
    lows = np.array([low for low, _ in spec.relevant_ranges])
    highs = np.array([high for _, high in spec.relevant_ranges])
    positions = columns + 1  # 1-based
    in_range: list[bool] = np.asarray(((positions >= lows) & (positions <= highs)).all(axis=1)).tolist()
    bits = tokens[candidates[:, None], columns] == RELEVANT[1]  # Y is 1: XXX = 0 ... YYY = 7
    labels: list[int] = (bits.astype(np.int64) @ (1 << np.arange(spec.n_relevant - 1, -1, -1))).tolist()
    where: list[list[int]] = positions.tolist()
    checks: list[SequenceCheck | None] = [None] * n
    for i, row in enumerate(candidates.tolist()):
        if in_range[i]:
            checks[row] = SequenceCheck(rule_label=labels[i], relevant_positions=tuple(where[i]), problems=())
    return [found or check(sequences[row], spec) for row, found in enumerate(checks)]


def rule_label(text: str, spec: TaskSpec) -> int:
    """The class of a well-formed sequence; raises InvalidSequence naming the first problem otherwise."""
    result = check(parse(text), spec)
    if result.problems or result.rule_label is None:
        raise InvalidSequence(f"not a well-formed {spec.name} sequence: {result.problems[0]}")
    return result.rule_label


def pad_parsed(sequences: list[Parsed]) -> tuple[torch.Tensor, torch.Tensor]:
    """Sequences → (tokens (N, T) int64 padded with PAD_ID, lengths (N,) int64), without a per-row NumPy call:
    the rows' id bytes are padded and joined in C, then read as one array."""
    lengths = np.fromiter((len(s.ids) for s in sequences), dtype=np.int64, count=len(sequences))
    width = int(lengths.max()) if len(sequences) else 0
    flat = np.frombuffer(b"".join(s.ids.ljust(width, _PAD_BYTE) for s in sequences), dtype=np.uint8)
    tokens = flat.reshape(len(sequences), width).astype(np.int64)
    return torch.from_numpy(tokens), torch.from_numpy(lengths)
