"""Recording runs, versions and activation, loading checkpoints back, and what a corrupt one does."""

from __future__ import annotations

from datetime import UTC

import pytest
import torch
from sqlalchemy import event, text

from training.architectures import ARCHITECTURES
from training.evaluate import evaluate, predict_probabilities
from training.models import config_to_dict
from training.protocol import TrialRecord, summarize
from training.registry import (
    CorruptCheckpoint,
    NoActiveVersion,
    Registry,
    RunNotFound,
    VersionNotFound,
)
from training.task import TaskSpec, generate, get_task, make_generator
from training.train import train_trial
from training.train_config import TrainConfig

from .conftest import MakeRecord


def _probabilities(model: torch.nn.Module, task: TaskSpec) -> torch.Tensor:
    batch = generate(task, 64, make_generator(123))
    return predict_probabilities(model, batch.tokens, batch.lengths)  # type: ignore[arg-type]


def test_a_trained_model_round_trips_with_identical_probabilities(registry: Registry) -> None:
    task = get_task("6b").shortened(10)
    trial = train_trial(task, arch="lstm", train_config=TrainConfig(max_sequences=96, batch_size=32), seed=3)
    record = TrialRecord(trial=trial, test=evaluate(trial.model, task, seed=3, n_test=200))
    run = registry.record_run("lstm", task, [record])

    loaded = registry.load_model("lstm")
    assert loaded.info.version == run.version_numbers[0] == 1
    assert loaded.info.active
    assert loaded.task == task
    assert not loaded.model.training
    assert loaded.info.model_config == config_to_dict(trial.model_config)
    assert loaded.info.curve == [
        {"sequences": p.sequences, "train_error": p.train_error, "train_accuracy": p.train_accuracy}
        for p in trial.curve
    ]
    assert torch.equal(_probabilities(loaded.model, task), _probabilities(trial.model, task))


@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_every_architecture_round_trips(registry: Registry, make_record: MakeRecord, arch: str) -> None:
    record = make_record(arch, seed=7)
    registry.record_run(arch, get_task("6b"), [record])
    loaded = registry.load_model(arch, 1)
    assert type(loaded.model) is type(record.trial.model)
    task = get_task("6b")
    assert torch.equal(_probabilities(loaded.model, task), _probabilities(record.trial.model, task))


def test_versions_count_up_per_architecture_and_the_best_trial_is_activated(
    registry: Registry, make_record: MakeRecord, task: TaskSpec
) -> None:
    first = registry.record_run(
        "lstm",
        task,
        [
            make_record(seed=0, wrong_argmax=3, sequences_to_criterion=9_000),
            make_record(seed=1, wrong_argmax=3, sequences_to_criterion=4_000),  # same errors, faster: best
            make_record(seed=2, wrong_argmax=3, sequences_to_criterion=None),
            make_record(seed=3, wrong_argmax=8, sequences_to_criterion=1_000),
        ],
        job_id="job-1",
    )
    other = registry.record_run("rnn", task, [make_record("rnn")])
    second = registry.record_run(
        "lstm", task, [make_record(seed=10, wrong_argmax=0, sequences_to_criterion=None)], activate=False
    )

    assert first.version_numbers == [1, 2, 3, 4]
    assert other.version_numbers == [1]
    assert second.version_numbers == [5]
    assert (first.trials, first.seed, first.job_id) == (4, 0, "job-1")
    assert registry.run(first.id) == first

    active = registry.active_version("lstm")
    assert active is not None and (active.version, active.seed) == (2, 1)
    listed = registry.versions("lstm")
    assert [v.version for v in listed] == [5, 4, 3, 2, 1]
    assert [v.version for v in listed if v.active] == [2]
    assert {v.arch for v in registry.versions()} == {"lstm", "rnn"}
    assert all(v.created_at.tzinfo is UTC for v in listed)
    assert [v.version for v in registry.run_versions(first.id)] == [1, 2, 3, 4]


def test_unconverged_trials_rank_last_among_equal_errors(
    registry: Registry, make_record: MakeRecord, task: TaskSpec
) -> None:
    registry.record_run(
        "rnn",
        task,
        [make_record("rnn", seed=0, sequences_to_criterion=None), make_record("rnn", seed=1)],
    )
    active = registry.active_version("rnn")
    assert active is not None and active.version == 2


def test_activate_switches_the_served_version(registry: Registry, make_record: MakeRecord, task: TaskSpec) -> None:
    registry.record_run("lstm", task, [make_record(seed=0, wrong_argmax=0), make_record(seed=1, wrong_argmax=9)])
    assert registry.version("lstm", 1).active

    info = registry.activate("lstm", 2)
    assert info.active and info.version == 2
    assert not registry.version("lstm", 1).active
    assert registry.load_model("lstm").info.version == 2

    with pytest.raises(VersionNotFound, match="no version 7 of 'lstm'"):
        registry.activate("lstm", 7)
    with pytest.raises(VersionNotFound):
        registry.version("rnn", 1)


def test_nothing_active_is_a_clear_error(registry: Registry, make_record: MakeRecord, task: TaskSpec) -> None:
    assert registry.active_version("lstm") is None
    assert registry.active_summary("lstm") is None
    with pytest.raises(NoActiveVersion, match="temporal-order activate lstm"):
        registry.load_model("lstm")
    registry.record_run("lstm", task, [make_record()], activate=False)
    with pytest.raises(NoActiveVersion):
        registry.load_model("lstm")
    assert registry.load_model("lstm", 1).info.version == 1
    with pytest.raises(RunNotFound):
        registry.run(99)
    with pytest.raises(RunNotFound):
        registry.run_versions(99)


def test_active_summary_covers_the_active_versions_run(
    registry: Registry, make_record: MakeRecord, task: TaskSpec
) -> None:
    records = [make_record(seed=s, wrong_argmax=w) for s, w in [(0, 4), (1, 2), (2, 6)]]
    run = registry.record_run("lstm", task, records)
    registry.record_run("lstm", task, [make_record(seed=9, wrong_argmax=1)], activate=False)

    result = registry.active_summary("lstm")
    assert result is not None
    active, active_run, summary = result
    assert active.version == 2 and active_run == run
    assert summary == summarize([r.outcome for r in records])


def test_listing_versions_does_not_read_checkpoints(
    registry: Registry, make_record: MakeRecord, task: TaskSpec
) -> None:
    registry.record_run("lstm", task, [make_record(seed=s) for s in range(3)])
    statements: list[str] = []
    event.listen(registry.engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    registry.versions()
    registry.version("lstm", 1)
    registry.run_versions(1)
    registry.active_version("lstm")
    assert statements and not any("checkpoint" in s for s in statements)


def test_corrupt_checkpoint_bytes_fail_naming_the_version(
    registry: Registry, make_record: MakeRecord, task: TaskSpec
) -> None:
    registry.record_run("lstm", task, [make_record(seed=0), make_record(seed=1)])
    with registry.engine.begin() as connection:
        blob = connection.execute(text("SELECT checkpoint FROM model_versions WHERE version = 2")).scalar_one()
        flipped = bytearray(blob)
        flipped[len(flipped) // 2] ^= 0xFF
        connection.execute(
            text("UPDATE model_versions SET checkpoint = :blob WHERE arch = 'lstm' AND version = 2"),
            {"blob": bytes(flipped)},
        )

    with pytest.raises(CorruptCheckpoint, match=r"lstm version 2 .*sha256 mismatch"):
        registry.load_model("lstm", 2)
    assert registry.load_model("lstm", 1).info.version == 1  # the neighbours are untouched


def test_an_empty_checkpoint_or_another_architectures_fails_naming_the_version(
    registry: Registry, make_record: MakeRecord, task: TaskSpec
) -> None:
    registry.record_run("lstm", task, [make_record(seed=0), make_record(seed=1)])
    registry.record_run("rnn", task, [make_record("rnn")])
    with registry.engine.begin() as connection:
        rnn = connection.execute(text("SELECT checkpoint, sha256 FROM model_versions WHERE arch = 'rnn'")).one()
        # lstm version 1: no bytes at all; lstm version 2: a sound checkpoint, but of an rnn.
        connection.execute(
            text("UPDATE model_versions SET checkpoint = :empty WHERE arch = 'lstm' AND version = 1"), {"empty": b""}
        )
        connection.execute(
            text("UPDATE model_versions SET checkpoint = :blob, sha256 = :sha WHERE arch = 'lstm' AND version = 2"),
            {"blob": rnn.checkpoint, "sha": rnn.sha256},
        )

    with pytest.raises(CorruptCheckpoint, match=r"checkpoint of lstm version 1 is corrupt"):
        registry.load_model("lstm", 1)
    with pytest.raises(CorruptCheckpoint, match=r"checkpoint of lstm version 2 holds a 'rnn' model"):
        registry.load_model("lstm", 2)
    assert registry.load_model("rnn", 1).info.arch == "rnn"  # the checkpoint itself is sound


def test_record_run_rejects_a_mismatched_or_empty_run(
    registry: Registry, make_record: MakeRecord, task: TaskSpec
) -> None:
    with pytest.raises(ValueError, match="at least one trial"):
        registry.record_run("lstm", task, [])
    with pytest.raises(ValueError, match="'rnn' recorded under 'lstm'"):
        registry.record_run("lstm", task, [make_record("rnn")])
    assert registry.versions() == []
