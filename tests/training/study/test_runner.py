"""A study on the local pool: every trial recorded once, a rerun skips what is recorded, an interrupted study
resumes, a study of another grid under the same name is refused, and the report shows its table and plot."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from service.cli import build_app
from tests.support.study import tiny_grid
from training.experiment import TrialRecord
from training.registry import Registry
from training.registry.orm import ModelVersion, TrainingRun
from training.registry.studies import Studies, StudyMismatch
from training.study.grid import StudyTrial
from training.study.runner import run_study

runner = CliRunner()
app = build_app()


def _count(registry: Registry, column: object) -> int:
    with registry.engine.connect() as connection:
        return int(connection.scalar(select(func.count(column))))  # type: ignore[arg-type]


def test_every_trial_is_recorded_once_and_a_rerun_trains_nothing(registry: Registry) -> None:
    first = run_study(registry, tiny_grid())
    assert (first.planned, first.skipped, first.recorded) == (4, 0, 4)
    trials = Studies(registry).trials(first.study.id)
    assert sorted((t.arch, t.length, t.seed) for t in trials) == [
        ("rnn", 20, 0), ("rnn", 20, 1), ("rnn", 24, 0), ("rnn", 24, 1)
    ]  # fmt: skip
    assert all(t.n_test == 20 and 0 < t.sequences_seen <= 100 for t in trials)

    trained: list[StudyTrial] = []
    again = run_study(registry, tiny_grid(), on_recorded=lambda trial, record, version: trained.append(trial))
    assert (again.skipped, again.recorded, trained) == (4, 0, [])
    assert _count(registry, ModelVersion.id) == 4


def test_the_study_owns_one_run_per_architecture_and_t(registry: Registry) -> None:
    run = run_study(registry, tiny_grid())
    with registry.engine.connect() as connection:
        runs = connection.execute(
            select(TrainingRun.task, TrainingRun.trials, TrainingRun.study_id).order_by(TrainingRun.task)
        ).all()
    assert [tuple(row) for row in runs] == [("6b@T20", 2, run.study.id), ("6b@T24", 2, run.study.id)]
    # A study measures: none of its trials becomes the served version.
    assert registry.active_version("rnn") is None


def test_an_interrupted_study_resumes_with_the_trials_it_had_not_recorded(registry: Registry) -> None:
    def interrupt(trial: StudyTrial, record: TrialRecord, version: int | None) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_study(registry, tiny_grid(), on_recorded=interrupt)
    assert _count(registry, ModelVersion.id) == 1

    trained: list[tuple[str, int, int]] = []
    resumed = run_study(
        registry,
        tiny_grid(),
        on_recorded=lambda trial, record, version: trained.append((trial.spec.arch, trial.length, trial.spec.seed)),
    )
    assert (resumed.skipped, resumed.recorded, len(trained)) == (1, 3, 3)
    assert _count(registry, ModelVersion.id) == 4
    assert len(set(trained)) == 3


def test_the_same_name_with_another_grid_is_refused_naming_the_difference(registry: Registry) -> None:
    run_study(registry, tiny_grid(lags=(20,), trials=1))
    with pytest.raises(StudyMismatch, match=r"budget: recorded 100, asked 400.*give a new --name"):
        run_study(registry, tiny_grid(lags=(20,), trials=1, budget=400))
    other = run_study(registry, tiny_grid(lags=(20,), trials=1, budget=400), name="longer")
    assert other.recorded == 1


def test_the_cli_runs_a_study_and_the_report_shows_it(settings_url: str, tmp_path: Path) -> None:
    command = ["study", "lags", "--lags", "20,24", "--arch", "rnn", "--trials", "2", "--budget", "100"]
    result = runner.invoke(app, [*command, "--n-test", "20", "--workers", "1", "--migrate", "--json"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert [(p["arch"], p["length"], p["trials"]) for p in document["points"]] == [("rnn", 20, 2), ("rnn", 24, 2)]
    assert "4 trials planned, 0 already recorded, 4 recorded now" in result.stderr

    report = runner.invoke(app, ["report", "--out", str(tmp_path / "report")])
    assert report.exit_code == 0, report.output
    table = (tmp_path / "report" / "lag_study.md").read_text()
    assert "## Lag study `lags`" in table
    assert "| `rnn` | 20 | 16 | 2 |" in table and "| `rnn` | 24 | 20 | 2 |" in table
    assert (tmp_path / "report" / "lag_study_lags.png").stat().st_size > 0
    assert "## Lag study `lags`" in report.stdout


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--lags", "100,x"], "--lags item 2 ('x') is not a whole number"),
        (["--arch", "attn_rnn_seed"], "--arch 'attn_rnn_seed' is not a learning architecture"),
        (["--name", "../x"], "--name '../x': use 1-64 letters"),
    ],
)
def test_bad_options_are_one_line_errors(settings_url: str, arguments: list[str], message: str) -> None:
    result = runner.invoke(app, ["study", "lags", *arguments])
    assert result.exit_code == 1
    assert message in result.stderr and "Traceback" not in result.output


def test_a_ray_address_without_ray_names_the_extra(settings_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # what `import ray` meets where Ray is not installed
    result = runner.invoke(app, ["study", "lags", "--lags", "20", "--ray-address", "127.0.0.1:6379"])
    assert result.exit_code == 1
    assert "pip install 'temporal-order[ray]'" in result.stderr and "Traceback" not in result.output
