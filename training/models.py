"""The classifiers. Only `nn.Module`s and their frozen configs live here: no I/O, no arguments, no compiled
kernels (training/kernels.py); training/architectures.py registers each.

Every model maps one-hot inputs (B, T, S) and lengths (B,) to class logits (B, C). Steps at or past a
sequence's length are never read, so a sequence gets the same output alone or inside any padded batch.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from training.task import N_SYMBOLS


@dataclass(frozen=True)
class RNNConfig:
    """Elman RNN with ReLU units and an identity-initialised recurrence (IRNN, Le et al. 2015)."""

    arch: ClassVar[str] = "rnn"
    # 128 units: with 64 the criterion is met as fast, but a few trials then miss 4-10 of 3000 test sequences.
    hidden_size: int = 128
    identity_scale: float = 1.0
    n_inputs: int = N_SYMBOLS
    n_classes: int = 8


@dataclass(frozen=True)
class LSTMConfig:
    """One LSTM layer; the forget gate starts open so memory survives the 30+ step gaps."""

    arch: ClassVar[str] = "lstm"
    # 16 cells: learns as fast as 32 and runs faster (4 x 16 gates fill the vector lanes of oneDNN's kernels and
    # of ours); 6, 8 and 12 cells learn slower or run slower.
    hidden_size: int = 16
    forget_bias: float = 3.0
    n_inputs: int = N_SYMBOLS
    n_classes: int = 8


@dataclass(frozen=True)
class AttnRNNConfig:
    """Recurrent encoder whose per-step states are attended to by its final state.

    The default encoder is a GRU: with it the attention model meets the criterion several times sooner than
    with an IRNN encoder (`cell="irnn"`), which learns too.
    """

    arch: ClassVar[str] = "attn_rnn"
    hidden_size: int = 32
    identity_scale: float = 1.0  # IRNN encoder only
    cell: str = "gru"  # "gru" or "irnn" (ReLU, identity recurrence)
    n_inputs: int = N_SYMBOLS
    n_classes: int = 8


@dataclass(frozen=True)
class GRUConfig:
    """One GRU layer and a linear head on its last output: the gated recurrent baseline without attention."""

    arch: ClassVar[str] = "gru"
    hidden_size: int = 32
    n_inputs: int = N_SYMBOLS
    n_classes: int = 8


@dataclass(frozen=True)
class AttnRNNSeedConfig:
    """The seed notebook's attention: keys and values are the one-hot inputs themselves."""

    arch: ClassVar[str] = "attn_rnn_seed"
    n_inputs: int = N_SYMBOLS
    n_classes: int = 8


@dataclass(frozen=True)
class PaperLSTMConfig:
    """The LSTM of Hochreiter & Schmidhuber (1997), section 5.6: blocks of 2 memory cells sharing an input and an
    output gate, no forget gate, logistic output units on the cells only (training/lstm1997.py has the details).

    `blocks` 0 means one block per relevant symbol of the task: 2 for 6a (156 weights), 3 for 6b (308). The other
    fields reach beyond the paper for the ablation ladder (bench/ablation_bench.py); their defaults are the paper's.
    """

    arch: ClassVar[str] = "lstm1997"
    blocks: int = 0
    cells_per_block: int = 2
    # None: no forget gate (the paper's). A number: a forget gate per block, its bias starting there.
    forget_bias: float | None = None
    # "all": cells and gates see every cell and gate (connectivity "F", the paper's); "cells": the cells only.
    recurrent: str = "all"
    # g in [-g_range, g_range], h in [-h_range, h_range]: section 5.6 and equations 4-5 (Table 10's legend swaps them).
    g_range: float = 2.0
    h_range: float = 1.0
    # Block j (1-based) starts with input gate bias j x this: -2, -4, -6 as in the paper.
    input_gate_bias_step: float = -2.0
    init_range: float = 0.1
    n_inputs: int = N_SYMBOLS
    n_classes: int = 8

    def __post_init__(self) -> None:
        if self.blocks == 0:
            # The task has 2^relevant classes; the paper gives each relevant symbol a block to store it in.
            object.__setattr__(self, "blocks", max(1, self.n_classes.bit_length() - 1))
        if self.blocks < 1:
            raise ValueError(f"blocks must be >= 1 (or 0 for one per relevant symbol), got {self.blocks}")
        if self.cells_per_block < 1:
            raise ValueError(f"cells_per_block must be >= 1, got {self.cells_per_block}")
        if self.recurrent not in ("all", "cells"):
            raise ValueError(f"recurrent must be 'all' or 'cells', got {self.recurrent!r}")
        if not (self.init_range > 0 and self.g_range > 0 and self.h_range > 0):
            raise ValueError("init_range, g_range and h_range must be positive")

    @property
    def cells(self) -> int:
        return self.blocks * self.cells_per_block

    @property
    def units(self) -> int:
        """Hidden units: the cells, then an input and an output gate per block (and a forget gate, if any)."""
        return self.cells + (3 if self.forget_bias is not None else 2) * self.blocks


ModelConfig = RNNConfig | LSTMConfig | AttnRNNConfig | AttnRNNSeedConfig | PaperLSTMConfig | GRUConfig


def config_to_dict(config: ModelConfig) -> dict[str, Any]:
    return {"arch": config.arch, **dataclasses.asdict(config)}


def one_hot(tokens: torch.Tensor) -> torch.Tensor:
    """Token ids (B, T) → one-hot float inputs (B, T, S)."""
    return F.one_hot(tokens, N_SYMBOLS).float()


def last_step(states: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """The state at each sequence's final step: (B, T, H) → (B, H)."""
    index = (lengths - 1).to(states.device).view(-1, 1, 1).expand(-1, 1, states.shape[-1])
    return states.gather(1, index).squeeze(1)


def step_mask(lengths: torch.Tensor, width: int) -> torch.Tensor:
    """True on real steps, False on padding: (B, T)."""
    steps = torch.arange(width, device=lengths.device).unsqueeze(0)
    return steps < lengths.unsqueeze(1)


def sigmoid_attention(scores: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The seed's normalisation: weights = sigmoid(e_i) / Σ_j sigmoid(e_j) over real steps. (B, T)."""
    gates = torch.sigmoid(scores) * mask.to(scores.device)
    return gates / gates.sum(dim=1, keepdim=True)


class SequenceClassifier(nn.Module):
    """Common surface: forward(inputs, lengths) → logits; attention models also expose their weights."""

    config: ModelConfig
    has_attention: ClassVar[bool] = False

    def attention(self, inputs: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        raise TypeError(f"{type(self).__name__} has no attention weights")

    def forward_tokens(self, tokens: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Logits (B, C) from symbol ids (B, T). Compiled paths for some models: training/kernels.py."""
        return self(one_hot(tokens), lengths)

    def probabilities(self, outputs: torch.Tensor) -> torch.Tensor:
        """What the model's outputs (B, C) mean as class probabilities: a softmax over logits, unless the model
        has output units of its own kind."""
        return outputs.softmax(dim=1)

    def log_probabilities(self, outputs: torch.Tensor) -> torch.Tensor:
        return outputs.log_softmax(dim=1)


def _irnn(n_inputs: int, hidden_size: int, identity_scale: float) -> nn.RNN:
    rnn = nn.RNN(n_inputs, hidden_size, nonlinearity="relu", batch_first=True)
    weights = dict(rnn.named_parameters())
    with torch.no_grad():
        weights["weight_hh_l0"].copy_(torch.eye(hidden_size) * identity_scale)
        weights["bias_hh_l0"].zero_()
        weights["bias_ih_l0"].zero_()
        weights["weight_ih_l0"].normal_(0.0, 0.1)
    return rnn


class ElmanRNN(SequenceClassifier):
    def __init__(self, config: RNNConfig) -> None:
        super().__init__()
        self.config = config
        self.rnn = _irnn(config.n_inputs, config.hidden_size, config.identity_scale)
        self.head = nn.Linear(config.hidden_size, config.n_classes)

    def forward(self, inputs: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        states, _ = self.rnn(inputs)  # (B, T, H)
        return self.head(last_step(states, lengths))  # (B, C)


class LSTMClassifier(SequenceClassifier):
    def __init__(self, config: LSTMConfig) -> None:
        super().__init__()
        self.config = config
        self.lstm = nn.LSTM(config.n_inputs, config.hidden_size, batch_first=True)
        hidden = config.hidden_size
        biases = dict(self.lstm.named_parameters())
        with torch.no_grad():
            # PyTorch's gate order is input, forget, cell, output.
            biases["bias_ih_l0"][hidden : 2 * hidden].fill_(config.forget_bias)
            biases["bias_hh_l0"][hidden : 2 * hidden].zero_()
        self.head = nn.Linear(hidden, config.n_classes)

    def forward(self, inputs: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        states, _ = self.lstm(inputs)  # (B, T, H)
        return self.head(last_step(states, lengths))  # (B, C)


class GRUClassifier(SequenceClassifier):
    def __init__(self, config: GRUConfig) -> None:
        super().__init__()
        self.config = config
        self.gru = nn.GRU(config.n_inputs, config.hidden_size, batch_first=True)
        self.head = nn.Linear(config.hidden_size, config.n_classes)

    def forward(self, inputs: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        states, _ = self.gru(inputs)  # (B, T, H)
        return self.head(last_step(states, lengths))  # (B, C)


class AttentionRNN(SequenceClassifier):
    """query = final output O_T, e_i = cos(O_T, O_i), keys = values = the encoder's per-step states."""

    has_attention = True

    def __init__(self, config: AttnRNNConfig) -> None:
        super().__init__()
        self.config = config
        self.encoder: nn.RNNBase
        if config.cell == "gru":
            self.encoder = nn.GRU(config.n_inputs, config.hidden_size, batch_first=True)
        elif config.cell == "irnn":
            self.encoder = _irnn(config.n_inputs, config.hidden_size, config.identity_scale)
        else:
            raise ValueError(f"unknown attention encoder cell {config.cell!r}; use 'irnn' or 'gru'")
        self.head = nn.Linear(2 * config.hidden_size, config.n_classes)

    def _attend(self, inputs: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        states, _ = self.encoder(inputs)  # (B, T, H)
        query = last_step(states, lengths)  # (B, H)
        scores = F.cosine_similarity(states, query.unsqueeze(1), dim=2, eps=1e-6)  # (B, T)
        weights = sigmoid_attention(scores, step_mask(lengths, states.shape[1]))  # (B, T)
        context = torch.einsum("bt,bth->bh", weights, states)  # (B, H)
        return self.head(torch.cat([context, query], dim=1)), weights

    def forward(self, inputs: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        return self._attend(inputs, lengths)[0]

    def attention(self, inputs: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        return self._attend(inputs, lengths)[1]


class SeedAttentionRNN(SequenceClassifier):
    """The seed's attention with keys and values = the one-hot inputs V_i.

    The context Σ_i w_i V_i is a weighted bag of symbols. Any query that depended on the sequence would
    only re-weight whole symbols, so the query here is one learned vector and the output is exactly a
    function of the bag: XXY, XYX and YXX look the same, which caps 6b accuracy at 4 of 8 classes (50%).
    """

    has_attention = True

    def __init__(self, config: AttnRNNSeedConfig) -> None:
        super().__init__()
        self.config = config
        self.query = nn.Parameter(torch.randn(config.n_inputs) * 0.1)
        self.head = nn.Linear(config.n_inputs, config.n_classes)
        # The context sums weights, so counts matter; scale them to a range the head learns quickly.
        self.count_scale = nn.Parameter(torch.tensor(10.0))

    def _attend(self, inputs: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        query = self.query.view(1, 1, -1).expand_as(inputs)  # (B, T, S)
        scores = F.cosine_similarity(inputs, query, dim=2, eps=1e-6)  # (B, T)
        weights = sigmoid_attention(scores, step_mask(lengths, inputs.shape[1]))  # (B, T)
        context = torch.einsum("bt,bts->bs", weights, inputs)  # (B, S)
        return self.head(context * self.count_scale), weights

    def forward(self, inputs: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        return self._attend(inputs, lengths)[0]

    def attention(self, inputs: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        return self._attend(inputs, lengths)[1]


class PaperLSTM(SequenceClassifier):
    """The network of section 5.6 and appendix A.1 (training/lstm1997.py: timing, truncation, the kernels).

    Hidden units in order: the cells, the input gates, the output gates (and the forget gates, beyond the paper).
    Every hidden unit sees the one-hot input and every hidden unit's previous activation (connectivity "F"; or the
    cells' only), and has a bias; the output units see the cells. Weights are float64: on-line learning adds
    millions of small updates.
    """

    config: PaperLSTMConfig

    def __init__(self, config: PaperLSTMConfig) -> None:
        super().__init__()
        self.config = config
        blocks, cells, units = config.blocks, config.cells, config.units
        fed_back = cells if config.recurrent == "cells" else units
        r = config.init_range
        f64 = torch.float64
        self.hidden_weight = nn.Parameter(torch.empty(units, config.n_inputs + fed_back, dtype=f64).uniform_(-r, r))
        self.hidden_bias = nn.Parameter(torch.empty(units, dtype=f64).uniform_(-r, r))
        self.output_weight = nn.Parameter(torch.empty(config.n_classes, cells, dtype=f64).uniform_(-r, r))
        self.output_bias = nn.Parameter(torch.empty(config.n_classes, dtype=f64).uniform_(-r, r))
        with torch.no_grad():
            steps = torch.arange(1, blocks + 1, dtype=f64)
            self.hidden_bias[cells : cells + blocks] = config.input_gate_bias_step * steps
            if config.forget_bias is not None:
                self.hidden_bias[cells + 2 * blocks :] = config.forget_bias

    @property
    def weights(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        return (self.hidden_weight, self.hidden_bias, self.output_weight, self.output_bias)

    def cell_outputs(self, inputs: torch.Tensor) -> torch.Tensor:
        """The cells' activations after every step: (B, T, S) → (B, T, C). Step t sees input t and the hidden
        units' activations of step t-1 (equations 6-9 with the input units clamped one step ahead)."""
        batch, steps, n_inputs = inputs.shape
        config = self.config
        blocks, cells, per_block = config.blocks, config.cells, config.cells_per_block
        fed_back = self.hidden_weight.shape[1] - n_inputs
        inputs = inputs.to(self.hidden_weight.dtype)
        input_weight, recurrent_weight = self.hidden_weight[:, :n_inputs], self.hidden_weight[:, n_inputs:]
        drive = inputs @ input_weight.T + self.hidden_bias  # (B, T, U)
        previous = inputs.new_zeros(batch, config.units)  # (B, U): y = 0 before the first symbol
        state = inputs.new_zeros(batch, cells)  # (B, C): s(0) = 0
        outputs = []
        for t in range(steps):
            net = drive[:, t] + previous[:, :fed_back] @ recurrent_weight.T  # (B, U)
            squashed = torch.sigmoid(net)
            input_gate = squashed[:, cells : cells + blocks].repeat_interleave(per_block, dim=1)  # (B, C)
            output_gate = squashed[:, cells + blocks : cells + 2 * blocks].repeat_interleave(per_block, dim=1)
            if config.forget_bias is not None:
                state = state * squashed[:, cells + 2 * blocks :].repeat_interleave(per_block, dim=1)
            state = state + input_gate * config.g_range * (2.0 * squashed[:, :cells] - 1.0)  # s += y_in g(net_c)
            cell = output_gate * config.h_range * (2.0 * torch.sigmoid(state) - 1.0)  # y_c = y_out h(s)
            previous = torch.cat([cell, squashed[:, cells:]], dim=1)
            outputs.append(cell)
        return torch.stack(outputs, dim=1)  # (B, T, C)

    def forward(self, inputs: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """The output units' net inputs at each sequence's end (B, C); `probabilities` squashes them."""
        final = last_step(self.cell_outputs(inputs), lengths)  # (B, C)
        return final @ self.output_weight.T + self.output_bias  # (B, K)

    def probabilities(self, outputs: torch.Tensor) -> torch.Tensor:
        # One logistic unit per class, as in the paper: the values need not sum to 1.
        return torch.sigmoid(outputs)

    def log_probabilities(self, outputs: torch.Tensor) -> torch.Tensor:
        return F.logsigmoid(outputs)


def parameter_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
