"""The test protocol and the summary over trials, with models whose right answers are known in advance."""

from __future__ import annotations

import statistics

import pytest
import torch
from torch import nn

import training.train
from training.architectures import build_model, default_config
from training.evaluate import N_TEST, evaluate
from training.models import SequenceClassifier
from training.protocol import TrialOutcome, summarize
from training.task import RELEVANT, Batch, SequenceStream, TaskSpec, get_task
from training.train import train_trial
from training.train_config import TrainConfig


class RuleModel(SequenceClassifier):
    """Reads the relevant symbols off the one-hot inputs and answers `label + shift` (mod C) with confidence
    `confidence`: shift 0 is an oracle, shift 1 is always wrong."""

    def __init__(self, n_relevant: int, *, shift: int = 0, confidence: float = 30.0) -> None:
        super().__init__()
        self.n_relevant = n_relevant
        self.n_classes = 2**n_relevant
        self.shift = shift
        self.confidence = confidence

    def forward(self, inputs: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        real = torch.arange(inputs.shape[1]).unsqueeze(0) < lengths.unsqueeze(1)  # (B, T)
        x, y = inputs[..., RELEVANT[0]], inputs[..., RELEVANT[1]]  # (B, T)
        relevant = ((x + y) > 0) & real
        bits = y[relevant].view(len(lengths), self.n_relevant).long()  # (B, K), in time order
        weights = 2 ** torch.arange(self.n_relevant - 1, -1, -1)
        labels = ((bits * weights).sum(dim=1) + self.shift) % self.n_classes
        return nn.functional.one_hot(labels, self.n_classes).float() * self.confidence


class ConstantModel(SequenceClassifier):
    def __init__(self, logits: list[float]) -> None:
        super().__init__()
        self.logits = torch.tensor(logits)

    def forward(self, inputs: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        return self.logits.expand(len(lengths), -1)


class RecordingModel(SequenceClassifier):
    """Remembers every batch of tokens it is shown."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[torch.Tensor] = []

    def forward(self, inputs: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        self.seen.append(inputs.argmax(dim=2))
        return torch.zeros(len(lengths), 8)


SIX_B = get_task("6b")


pytestmark = pytest.mark.usefixtures("one_thread")


# ---------------------------------------------------------------- evaluate


@pytest.mark.parametrize("spec", [SIX_B, get_task("6a"), SIX_B.shortened(5)], ids=lambda s: s.name)
def test_an_oracle_makes_no_mistakes(spec: TaskSpec) -> None:
    result = evaluate(RuleModel(spec.n_relevant), spec, seed=0)
    assert (result.n_test, result.wrong_argmax, result.wrong_paper) == (N_TEST, 0, 0)
    assert result.accuracy == 1.0


@pytest.mark.parametrize("n_test", [1, 999, 1000, 2500, 3000])
def test_every_test_sequence_is_counted_once(n_test: int) -> None:
    result = evaluate(RuleModel(3, shift=1), SIX_B, seed=4, n_test=n_test)
    assert (result.n_test, result.wrong_argmax, result.wrong_paper) == (n_test, n_test, n_test)
    assert result.accuracy == 0.0


def test_an_unsure_oracle_is_right_by_argmax_but_wrong_by_the_paper_rule() -> None:
    # Logit 1 on the right class of 8: p = e / (e + 7) ≈ 0.28, far from the target 1.
    result = evaluate(RuleModel(3, confidence=1.0), SIX_B, seed=0, n_test=500)
    assert (result.wrong_argmax, result.wrong_paper) == (0, 500)


def test_a_constant_guess_is_right_one_time_in_eight() -> None:
    result = evaluate(ConstantModel([5.0, 0, 0, 0, 0, 0, 0, 0]), SIX_B, seed=2)
    # Class 0 is 1/8 of the test set: expect 2625 wrong of 3000, sd about 18.
    assert abs(result.wrong_argmax - 2625) < 100
    # Confident enough for the paper's rule (p0 ≈ 0.955, others ≈ 0.006): wrong exactly when argmax is.
    assert result.wrong_paper == result.wrong_argmax
    assert result.accuracy == pytest.approx(1 - result.wrong_argmax / 3000)


def test_test_stream_is_fixed_per_seed_and_apart_from_training() -> None:
    def test_tokens(seed: int) -> torch.Tensor:
        model = RecordingModel()
        evaluate(model, SIX_B, seed=seed, n_test=1500)
        assert [len(t) for t in model.seen] == [1000, 500]
        return torch.cat(model.seen)

    assert torch.equal(test_tokens(3), test_tokens(3))
    assert not torch.equal(test_tokens(3), test_tokens(4))


class Drawn(Exception):
    """Stops a trial once its first training batch has been drawn."""


def first_training_batch(monkeypatch: pytest.MonkeyPatch, seed: int, n: int) -> Batch:
    """The first `n` training sequences that `train_trial` itself draws for trial `seed`."""
    drawn: list[Batch] = []

    class RecordingStream(SequenceStream):
        def take(self, n: int) -> Batch:
            drawn.append(super().take(n))
            raise Drawn

    monkeypatch.setattr(training.train, "SequenceStream", RecordingStream)
    with pytest.raises(Drawn):
        train_trial(SIX_B, arch="rnn", train_config=TrainConfig(batch_size=n, max_sequences=n), seed=seed)
    return drawn[0]


def test_a_trials_test_set_shares_no_draws_with_any_nearby_trials_training(monkeypatch: pytest.MonkeyPatch) -> None:
    """Trial 3's test sequences are not its own training stream, nor that of trials 0-7 (an offset of 0 or 1
    would make them so): no sequence in common, and sequence lengths that agree position by position no
    more often than chance (1 in 11), as two independent streams do."""
    from training.evaluate import test_batches  # imported here: pytest would collect it as a test

    test = next(iter(test_batches(SIX_B, seed=3, n_test=1000)))
    test_rows = {tuple(row) for row in test.tokens.tolist()}
    for seed in range(8):
        training = first_training_batch(monkeypatch, seed, 1000)
        assert test_rows.isdisjoint(tuple(row) for row in training.tokens.tolist()), seed
        agreement = float((training.lengths == test.lengths).float().mean())
        assert agreement < 0.2, (seed, agreement)


def test_evaluate_puts_the_model_in_eval_mode() -> None:
    model = build_model(default_config("lstm"))
    model.train()
    result = evaluate(model, SIX_B.shortened(5), seed=0, n_test=50)
    assert not model.training
    assert result.n_test == 50
    assert 0 <= result.wrong_argmax <= result.wrong_paper <= 50


# ---------------------------------------------------------------- summarize


def outcome(seed: int, to_criterion: int | None, wrong_argmax: int, wrong_paper: int) -> TrialOutcome:
    return TrialOutcome(
        seed=seed,
        converged=to_criterion is not None,
        sequences_to_criterion=to_criterion,
        wrong_argmax=wrong_argmax,
        wrong_paper=wrong_paper,
        n_test=3000,
    )


def test_summary_of_hand_made_trials() -> None:
    outcomes = [
        outcome(0, 12_000, 0, 1),
        outcome(1, None, 1500, 3000),  # did not converge: in the counts of wrong, not in the median
        outcome(2, 4_000, 1, 2),
        outcome(3, 30_000, 2, 2),
        outcome(4, None, 1497, 2995),
    ]
    summary = summarize(outcomes)
    assert summary.trials == 5
    assert summary.converged == 3
    assert summary.median_sequences_to_criterion == 12_000.0
    assert summary.mean_sequences_to_criterion == pytest.approx(46_000 / 3)
    assert summary.mean_wrong_argmax == pytest.approx(3000 / 5)
    assert summary.std_wrong_argmax == pytest.approx(statistics.pstdev([0, 1500, 1, 2, 1497]))
    assert summary.mean_wrong_paper == pytest.approx(6000 / 5)
    assert summary.std_wrong_paper == pytest.approx(statistics.pstdev([1, 3000, 2, 2, 2995]))
    assert summary.n_test == 3000
    assert summary.mean_test_accuracy == pytest.approx(1 - 3000 / 5 / 3000)
    assert summary.to_dict()["median_sequences_to_criterion"] == 12_000.0


def test_median_of_an_even_number_of_converged_trials() -> None:
    summary = summarize([outcome(0, 1_000, 0, 0), outcome(1, 3_000, 0, 0), outcome(2, None, 9, 9)])
    assert summary.median_sequences_to_criterion == 2_000.0
    assert summary.mean_sequences_to_criterion == 2_000.0


def test_spread_of_wrong_predictions() -> None:
    summary = summarize([outcome(i, 5_000, wrong, wrong + 1) for i, wrong in enumerate([0, 0, 2, 2])])
    assert summary.mean_wrong_argmax == 1.0 and summary.std_wrong_argmax == pytest.approx(1.0)
    assert summary.mean_wrong_paper == 2.0 and summary.std_wrong_paper == pytest.approx(1.0)
    single = summarize([outcome(0, 5_000, 3, 4)])
    assert (single.mean_wrong_argmax, single.std_wrong_argmax) == (3.0, 0.0)


def test_summary_when_nothing_converged() -> None:
    summary = summarize([outcome(0, None, 2000, 3000), outcome(1, None, 2600, 3000)])
    assert summary.converged == 0
    assert summary.median_sequences_to_criterion is None
    assert summary.mean_sequences_to_criterion is None
    assert summary.mean_wrong_argmax == 2300.0


def test_summary_needs_trials() -> None:
    with pytest.raises(ValueError, match="no trials"):
        summarize([])


def test_order_blind_ceiling_is_about_half_on_6b_and_exact_per_test_set() -> None:
    from training.evaluate import bag_of_symbols_ceiling, test_batches

    task = get_task("6b")
    ceilings = [bag_of_symbols_ceiling(task, seed=s, n_test=3000) for s in range(5)]
    assert all(0.48 < c < 0.53 for c in ceilings)
    # Recount one by hand: per number of X, the most frequent class.
    labels = torch.cat([b.labels for b in test_batches(task, seed=0, n_test=3000)])
    x_count = 3 - ((labels >> 2) & 1) - ((labels >> 1) & 1) - (labels & 1)
    best = sum(int(torch.bincount(labels[x_count == k], minlength=8).max()) for k in range(4))
    assert ceilings[0] == best / 3000
    # 6a: X-count 1 holds XY and YX, so the ceiling is about 3/4.
    assert 0.72 < bag_of_symbols_ceiling(get_task("6a"), seed=0, n_test=3000) < 0.78
