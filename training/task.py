"""The temporal order problem (Hochreiter & Schmidhuber 1997, experiment 6): task specs, a vectorised
generator and the symbol strings of what it generates (training/sequences.py parses and checks strings).

    temporal-order generate --n 5 --seed 1 --task 6b --json
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import torch

SYMBOLS: tuple[str, ...] = ("E", "a", "b", "c", "d", "X", "Y", "B")
SYMBOL_IDS: dict[str, int] = {symbol: index for index, symbol in enumerate(SYMBOLS)}
START, TRIGGER = SYMBOL_IDS["E"], SYMBOL_IDS["B"]
RELEVANT = (SYMBOL_IDS["X"], SYMBOL_IDS["Y"])
DISTRACTORS = tuple(SYMBOL_IDS[s] for s in "abcd")
N_SYMBOLS = len(SYMBOLS)
# Padding after a sequence's end; models read only the first `length` steps, so any id works.
PAD_ID = START


@dataclass(frozen=True)
class TaskSpec:
    """One variant of the task. Positions are the paper's: 1-based, inclusive ranges."""

    name: str
    min_length: int = 100
    max_length: int = 110
    relevant_ranges: tuple[tuple[int, int], ...] = ((10, 20), (33, 43), (66, 76))
    class_names: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        if not 3 <= self.min_length <= self.max_length:
            raise ValueError(f"task {self.name}: need 3 <= min_length <= max_length")
        if not self.relevant_ranges:
            raise ValueError(f"task {self.name}: at least one relevant range is needed")
        previous_end = 1  # position 1 is always the start symbol E
        for index, (low, high) in enumerate(self.relevant_ranges, start=1):
            if not previous_end < low <= high:
                raise ValueError(
                    f"task {self.name}: relevant range {index} ({low}..{high}) must be ordered, "
                    f"non-overlapping and after position {previous_end}"
                )
            previous_end = high
        if previous_end >= self.min_length:
            raise ValueError(
                f"task {self.name}: the last relevant position {previous_end} must come before the "
                f"trigger at min_length {self.min_length}"
            )
        names = tuple("".join(bits) for bits in itertools.product("XY", repeat=len(self.relevant_ranges)))
        object.__setattr__(self, "class_names", names)

    @property
    def n_relevant(self) -> int:
        return len(self.relevant_ranges)

    @property
    def n_classes(self) -> int:
        return len(self.class_names)

    def to_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "min_length": self.min_length,
            "max_length": self.max_length,
            "relevant_ranges": [list(r) for r in self.relevant_ranges],
        }

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> TaskSpec:
        ranges = data["relevant_ranges"]
        assert isinstance(ranges, list | tuple)
        return cls(
            name=str(data["name"]),
            min_length=int(data["min_length"]),  # type: ignore[call-overload]
            max_length=int(data["max_length"]),  # type: ignore[call-overload]
            relevant_ranges=tuple((int(low), int(high)) for low, high in ranges),
        )

    def shortened(self, factor: int) -> TaskSpec:
        """The same task with every position divided by `factor`: quick to learn, for tests and smoke runs."""
        ranges = tuple((max(2, low // factor), max(2, high // factor)) for low, high in self.relevant_ranges)
        fixed: list[tuple[int, int]] = []
        last = 1
        for low, high in ranges:
            low = max(low, last + 1)
            high = max(high, low)
            fixed.append((low, high))
            last = high
        return TaskSpec(
            name=f"{self.name}/{factor}",
            min_length=max(self.min_length // factor, last + 1),
            max_length=max(self.max_length // factor, last + 1),
            relevant_ranges=tuple(fixed),
        )


TASKS: dict[str, TaskSpec] = {
    "6b": TaskSpec("6b"),
    "6a": TaskSpec("6a", relevant_ranges=((10, 20), (50, 60))),
}


def get_task(name: str) -> TaskSpec:
    try:
        return TASKS[name]
    except KeyError:
        raise ValueError(f"unknown task {name!r}; known tasks: {', '.join(sorted(TASKS))}") from None


@dataclass(frozen=True)
class Batch:
    """Generated sequences, padded to the longest: tokens (N, T), lengths (N,), labels (N,),
    positions (N, K) 1-based."""

    tokens: torch.Tensor
    lengths: torch.Tensor
    labels: torch.Tensor
    positions: torch.Tensor

    def __len__(self) -> int:
        return int(self.lengths.shape[0])


def make_generator(seed: int) -> torch.Generator:
    generator = torch.Generator()
    generator.manual_seed(seed)
    return generator


def generate(spec: TaskSpec, n: int, generator: torch.Generator) -> Batch:
    """`n` fresh sequences drawn with `generator`; the same generator state gives the same batch."""
    if n < 0:
        raise ValueError("n must be >= 0")
    lengths = torch.randint(spec.min_length, spec.max_length + 1, (n,), generator=generator)
    width = spec.max_length
    tokens = torch.randint(DISTRACTORS[0], DISTRACTORS[-1] + 1, (n, width), generator=generator)
    positions = torch.stack(
        [torch.randint(low, high + 1, (n,), generator=generator) for low, high in spec.relevant_ranges],
        dim=1,
    )  # (N, K), 1-based
    labels = torch.randint(0, spec.n_classes, (n,), generator=generator)
    # The first relevant symbol is the most significant bit of the class index: XXX=0 ... YYY=7.
    shifts = torch.arange(spec.n_relevant - 1, -1, -1)
    bits = (labels.unsqueeze(1) >> shifts) & 1  # (N, K)
    rows = torch.arange(n).unsqueeze(1)
    tokens[rows, positions - 1] = RELEVANT[0] + bits
    tokens[:, 0] = START
    tokens[torch.arange(n), lengths - 1] = TRIGGER
    steps = torch.arange(width).unsqueeze(0)
    tokens = tokens.masked_fill(steps >= lengths.unsqueeze(1), PAD_ID)
    return Batch(tokens=tokens, lengths=lengths, labels=labels, positions=positions)


class SequenceStream:
    """Fresh sequences for online training, drawn `chunk` at a time and handed out in order.

    A training batch of 16 would otherwise pay generation's fixed cost (a dozen tensor operations) for
    every 16 sequences; the stream's sequences depend only on the generator's seed and `chunk`.
    """

    def __init__(self, spec: TaskSpec, generator: torch.Generator, chunk: int = 1024) -> None:
        if chunk < 1:
            raise ValueError("chunk must be >= 1")
        self.spec = spec
        self.generator = generator
        self.chunk = chunk
        self._buffer = generate(spec, 0, generator)
        self._next = 0

    def take(self, n: int) -> Batch:
        if n < 1:
            raise ValueError("n must be >= 1")
        if self._next + n > len(self._buffer):
            rest = _slice(self._buffer, self._next, len(self._buffer))
            fresh = generate(self.spec, max(self.chunk, n - len(rest)), self.generator)
            self._buffer = _concat(rest, fresh)
            self._next = 0
        batch = _slice(self._buffer, self._next, self._next + n)
        self._next += n
        return batch


def _slice(batch: Batch, start: int, stop: int) -> Batch:
    return Batch(
        tokens=batch.tokens[start:stop],
        lengths=batch.lengths[start:stop],
        labels=batch.labels[start:stop],
        positions=batch.positions[start:stop],
    )


def _concat(first: Batch, second: Batch) -> Batch:
    return Batch(
        tokens=torch.cat([first.tokens, second.tokens]),
        lengths=torch.cat([first.lengths, second.lengths]),
        labels=torch.cat([first.labels, second.labels]),
        positions=torch.cat([first.positions, second.positions]),
    )


def decode(tokens: list[int] | torch.Tensor, length: int | None = None) -> str:
    values = tokens.tolist() if isinstance(tokens, torch.Tensor) else list(tokens)
    if length is not None:
        values = values[:length]
    return "".join(SYMBOLS[int(v)] for v in values)


def decode_batch(batch: Batch) -> list[str]:
    return [decode(row, int(length)) for row, length in zip(batch.tokens, batch.lengths, strict=True)]
