"""The registry's study tables: a trial is recorded once under its identity, in one transaction with its
model version, and a study's trials come back with their T."""

from __future__ import annotations

from sqlalchemy import func, select

from training.registry import Registry
from training.registry.orm import ModelVersion
from training.registry.studies import Studies
from training.study.grid import lag_task

from .conftest import MakeRecord


def test_a_trial_key_is_recorded_once(registry: Registry, make_record: MakeRecord) -> None:
    studies = Studies(registry)
    study = studies.open("lags", "lags", {"lags": [40]})
    record = make_record("rnn", seed=3, task=lag_task(40))
    first = studies.record_trial(study.id, "k" * 64, 40, record)
    again = studies.record_trial(study.id, "k" * 64, 40, record)
    assert first == 1 and again is None
    with registry.engine.connect() as connection:
        assert connection.scalar(select(func.count(ModelVersion.id))) == 1
    [trial] = studies.trials(study.id)
    assert (trial.arch, trial.length, trial.seed, trial.version) == ("rnn", 40, 3, 1)
    assert studies.recorded_keys(study.id) == {"k" * 64}


def test_the_same_key_in_two_studies_is_two_trials(registry: Registry, make_record: MakeRecord) -> None:
    studies = Studies(registry)
    record = make_record("rnn", task=lag_task(40))
    for name in ("a", "b"):
        study = studies.open(name, "lags", {})
        assert studies.record_trial(study.id, "k" * 64, 40, record) is not None
    assert [s.name for s in studies.all()] == ["a", "b"]
