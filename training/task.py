"""The temporal order problem (Hochreiter & Schmidhuber 1997, experiment 6): task specs, a vectorised
generator, symbol strings and their rule labels.

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
# A hard cap on what a caller may submit: far beyond any task, small enough to bound memory.
MAX_SEQUENCE_LENGTH = 10_000


class InvalidSequence(ValueError):
    """A symbol string that cannot be encoded; `position` is 1-based among the symbols, or None."""

    def __init__(self, message: str, position: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.position = position


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
DEFAULT_TASK = "6b"


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


def encode(text: str) -> list[int]:
    """Symbol string → token ids. Whitespace between symbols is ignored."""
    if not isinstance(text, str):
        raise InvalidSequence(f"a sequence must be a string of symbols, got {type(text).__name__}")
    ids: list[int] = []
    for char in text:
        if char.isspace():
            continue
        token = SYMBOL_IDS.get(char)
        if token is None:
            raise InvalidSequence(
                f"unknown symbol {char!r} at position {len(ids) + 1}; allowed symbols: {' '.join(SYMBOLS)}",
                position=len(ids) + 1,
            )
        ids.append(token)
        if len(ids) > MAX_SEQUENCE_LENGTH:
            raise InvalidSequence(f"sequence longer than the limit of {MAX_SEQUENCE_LENGTH} symbols")
    if not ids:
        raise InvalidSequence("empty sequence: expected symbols such as 'EabX…B'")
    return ids


def decode(tokens: list[int] | torch.Tensor, length: int | None = None) -> str:
    values = tokens.tolist() if isinstance(tokens, torch.Tensor) else list(tokens)
    if length is not None:
        values = values[:length]
    return "".join(SYMBOLS[int(v)] for v in values)


def decode_batch(batch: Batch) -> list[str]:
    return [decode(row, int(length)) for row, length in zip(batch.tokens, batch.lengths, strict=True)]


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


def check(tokens: list[int], spec: TaskSpec) -> SequenceCheck:
    problems: list[str] = []
    structural = True
    if tokens[0] != START:
        problems.append(f"position 1 must be 'E', found {SYMBOLS[tokens[0]]!r}")
        structural = False
    if tokens[-1] != TRIGGER:
        problems.append(f"the last position ({len(tokens)}) must be the trigger 'B', found {SYMBOLS[tokens[-1]]!r}")
        structural = False
    for index, token in enumerate(tokens[1:-1], start=2):
        if token in (START, TRIGGER):
            problems.append(f"{SYMBOLS[token]!r} at position {index} may only stand at the start or the end")
            structural = False
    if not spec.min_length <= len(tokens) <= spec.max_length:
        problems.append(f"length {len(tokens)} is outside {spec.min_length}..{spec.max_length}")
    relevant = tuple(i for i, token in enumerate(tokens, start=1) if token in RELEVANT)
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
        for position in relevant:
            label = (label << 1) | (tokens[position - 1] - RELEVANT[0])
    return SequenceCheck(rule_label=label, relevant_positions=relevant, problems=tuple(problems))


def rule_label(text: str, spec: TaskSpec) -> int:
    """The class of a well-formed sequence; raises InvalidSequence naming the first problem otherwise."""
    result = check(encode(text), spec)
    if result.problems or result.rule_label is None:
        raise InvalidSequence(f"not a well-formed {spec.name} sequence: {result.problems[0]}")
    return result.rule_label


def pad(sequences: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
    """Token lists → (tokens (N, T) padded with PAD_ID, lengths (N,))."""
    lengths = torch.tensor([len(s) for s in sequences], dtype=torch.long)
    width = int(lengths.max()) if len(sequences) else 0
    tokens = torch.full((len(sequences), width), PAD_ID, dtype=torch.long)
    for row, sequence in enumerate(sequences):
        tokens[row, : len(sequence)] = torch.tensor(sequence, dtype=torch.long)
    return tokens, lengths
