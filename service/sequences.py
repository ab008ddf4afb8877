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

from training.task import MAX_SEQUENCE_LENGTH, PAD_ID, SYMBOLS, SequenceCheck, TaskSpec, check, decode, encode

_COMPACT = re.compile(f"[{''.join(SYMBOLS)}]{{1,{MAX_SEQUENCE_LENGTH}}}")
_RELEVANT = re.compile("[XY]")
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


def pad_parsed(sequences: list[Parsed]) -> tuple[torch.Tensor, torch.Tensor]:
    """Sequences → (tokens (N, T) int64 padded with PAD_ID, lengths (N,) int64), without a per-row loop."""
    lengths = np.fromiter((len(s.ids) for s in sequences), dtype=np.int64, count=len(sequences))
    width = int(lengths.max()) if len(sequences) else 0
    tokens = np.full((len(sequences), width), PAD_ID, dtype=np.int64)
    if len(sequences):
        flat = np.frombuffer(b"".join(s.ids for s in sequences), dtype=np.uint8)
        rows = np.repeat(np.arange(len(sequences)), lengths)
        starts = np.cumsum(lengths) - lengths
        columns = np.arange(len(flat)) - np.repeat(starts, lengths)
        tokens[rows, columns] = flat
    return torch.from_numpy(tokens), torch.from_numpy(lengths)
