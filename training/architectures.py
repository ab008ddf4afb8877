"""Every architecture, registered once: its config, its module, the training settings it learns with and how the
report shows it. The trainer, the checkpoints, the CLI, the report and the service read the list from here, so
adding an architecture is its config and module (models.py) plus one entry in `_REGISTERED`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from training import models
from training.models import ModelConfig, SequenceClassifier
from training.train_config import TrainConfig


@dataclass(frozen=True)
class Architecture:
    config_type: type[ModelConfig]
    build: Callable[[Any], SequenceClassifier]  # config → a fresh module
    # The defaults that make it learn 6b quickly (bench/train_bench.py measures them).
    train_config: TrainConfig
    title: str  # the report's name for it
    colour: str  # its colour in the report's plot
    # Learning rates that depend on the task family ("6a", "6b"), where its recipe has them.
    task_learning_rates: Mapping[str, float] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.config_type.arch


_REGISTERED = (
    Architecture(
        models.RNNConfig,
        models.ElmanRNN,
        TrainConfig(learning_rate=1e-3, batch_size=32, anneal=True),
        "RNN (IRNN: ReLU, identity recurrence)",
        "tab:blue",
    ),
    # lstm anneals too: without it 3 of 10 trials met the criterion yet missed 1-5 of 3000 test sequences.
    Architecture(
        models.LSTMConfig,
        models.LSTMClassifier,
        TrainConfig(learning_rate=1e-2, batch_size=16, anneal=True),
        "LSTM (forget gate initialised open)",
        "tab:orange",
    ),
    Architecture(
        models.AttnRNNConfig,
        models.AttentionRNN,
        TrainConfig(learning_rate=1e-2, batch_size=32),
        "GRU encoder + attention over its states",
        "tab:green",
    ),
    Architecture(
        models.AttnRNNSeedConfig,
        models.SeedAttentionRNN,
        TrainConfig(learning_rate=3e-2, batch_size=32, max_sequences=30_000),
        "the seed's attention (one-hot keys and values)",
        "tab:gray",
    ),
    # The paper's recipe (section 5.6): on-line gradient descent, one update per sequence, no clipping, no
    # annealing, the truncated gradient; "the learning rate is 0.5 (0.1) for Experiment 6a (6b)".
    Architecture(
        models.PaperLSTMConfig,
        models.PaperLSTM,
        TrainConfig(
            optimizer="sgd",
            learning_rate=0.1,
            batch_size=1,
            grad_clip=None,
            max_sequences=5_000_000,
            gradient="truncated",
        ),
        "the paper's LSTM (1997: no forget gate, truncated gradient, on-line SGD)",
        "tab:red",
        task_learning_rates={"6a": 0.5, "6b": 0.1},
    ),
    # attn_rnn's settings: its encoder alone, without the attention, learns 6b with them too.
    Architecture(
        models.GRUConfig,
        models.GRUClassifier,
        TrainConfig(learning_rate=1e-2, batch_size=32),
        "GRU (its last output, no attention)",
        "tab:purple",
    ),
)
REGISTRY: dict[str, Architecture] = {registered.name: registered for registered in _REGISTERED}
ARCHITECTURES: tuple[str, ...] = tuple(REGISTRY)


def architecture(name: str | None) -> Architecture:
    if name not in REGISTRY:
        raise ValueError(f"unknown architecture {name!r}; known: {', '.join(ARCHITECTURES)}")
    return REGISTRY[name]


def default_config(arch: str, n_classes: int = 8) -> ModelConfig:
    return architecture(arch).config_type(n_classes=n_classes)


def config_from_dict(data: Mapping[str, Any]) -> ModelConfig:
    fields = dict(data)
    return architecture(fields.pop("arch", None)).config_type(**fields)


def build_model(config: ModelConfig) -> SequenceClassifier:
    return architecture(config.arch).build(config)
