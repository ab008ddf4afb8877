"""Symbol strings → token ids and rule checks: fast on the common path, exact on every other.

A compact ASCII string of known symbols takes the fast path (regular expressions and `bytes.translate`, all
in C); anything else falls back to `training.task.encode` / `check`, which give the authoritative messages
and positions. Both paths return the same answer (tests/service/test_sequences.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import torch

from training.task import (
    MAX_SEQUENCE_LENGTH,
    PAD_ID,
    RELEVANT,
    START,
    SYMBOLS,
    TRIGGER,
    SequenceCheck,
    TaskSpec,
    check,
    decode,
    encode,
)

_COMPACT = re.compile(f"[{''.join(SYMBOLS)}]{{1,{MAX_SEQUENCE_LENGTH}}}")
_RELEVANT = re.compile("[XY]")
_PAD_BYTE = bytes([PAD_ID])
_TO_IDS = bytes.maketrans("".join(SYMBOLS).encode("ascii"), bytes(range(len(SYMBOLS))))


@dataclass(frozen=True, slots=True)
class Parsed:
    """One sequence: its compact text (no whitespace) and its token ids as bytes (one byte per symbol)."""

    text: str
    ids: bytes

    def __len__(self) -> int:
        return len(self.ids)


def parse(text: str) -> Parsed:
    """Parse a symbol string; raises `InvalidSequence` naming what is wrong and where."""
    if isinstance(text, str) and _COMPACT.fullmatch(text):
        return Parsed(text, text.encode("ascii").translate(_TO_IDS))
    ids = encode(text)
    return Parsed(decode(ids), bytes(ids))


def check_parsed(sequence: Parsed, spec: TaskSpec) -> SequenceCheck:
    """The same answer as `training.task.check`, computed without a Python loop over symbols when possible."""
    text = sequence.text
    n = len(text)
    if spec.min_length <= n <= spec.max_length and text[0] == "E" and text[-1] == "B":
        inner = text[1:-1]
        if "E" not in inner and "B" not in inner:
            positions = [match.start() + 1 for match in _RELEVANT.finditer(text)]
            if len(positions) == spec.n_relevant and all(
                low <= position <= high for position, (low, high) in zip(positions, spec.relevant_ranges, strict=True)
            ):
                label = 0
                for position in positions:
                    label = (label << 1) | (text[position - 1] == "Y")
                return SequenceCheck(rule_label=label, relevant_positions=tuple(positions), problems=())
    return check(list(sequence.ids), spec)


def check_many(sequences: list[Parsed], tokens: np.ndarray, lengths: np.ndarray, spec: TaskSpec) -> list[SequenceCheck]:
    """`check_parsed` for a padded batch (tokens (N, T), lengths (N,)): well-formed, in-distribution rows are
    recognised with array operations over the whole batch; every other row goes through `check_parsed`."""
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
    return [found or check_parsed(sequences[row], spec) for row, found in enumerate(checks)]


def pad_parsed(sequences: list[Parsed]) -> tuple[torch.Tensor, torch.Tensor]:
    """Sequences → (tokens (N, T) int64 padded with PAD_ID, lengths (N,) int64), without a per-row NumPy call:
    the rows' id bytes are padded and joined in C, then read as one array."""
    lengths = np.fromiter((len(s.ids) for s in sequences), dtype=np.int64, count=len(sequences))
    width = int(lengths.max()) if len(sequences) else 0
    flat = np.frombuffer(b"".join(s.ids.ljust(width, _PAD_BYTE) for s in sequences), dtype=np.uint8)
    tokens = flat.reshape(len(sequences), width).astype(np.int64)
    return torch.from_numpy(tokens), torch.from_numpy(lengths)
