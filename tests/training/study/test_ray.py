"""Trials on a real local Ray cluster (2 CPUs, tests/conftest.py's `ray_address`, one per session, this process its
driver, so the workers one test warms serve the next): a worker killed mid-trial has its trial retried and the
study still records every trial exactly once; an interrupted driver's rerun resumes; the CLI reaches the cluster
through TEMPORAL_ORDER_RAY_ADDRESS; `temporal-order train --ray-address` records each trial once in one run; without
Ray installed, `--ray-address` is a one-line error naming the extra. A process of its own joining the cluster by
address is tests/service/test_jobs_on_ray.py's job trainer."""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil
import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from service.cli import build_app
from tests.support.study import tiny_grid
from training.protocol import TrialProgress, TrialRecord
from training.registry import Registry
from training.registry.orm import ModelVersion, StudyTrial
from training.registry.studies import Studies
from training.settings import get_settings
from training.study.grid import StudyTrial as PlannedTrial
from training.study.runner import run_study

runner = CliRunner()
app = build_app()


def _blocks_first_trial_to_report(marker: str, release: str) -> Callable[[TrialProgress], None]:
    """A worker-side progress hook: the first trial to report progress, on its first attempt, waits until `release`
    exists (the driver has recorded the other trial, so that trial's worker is idle and warm for the retry), then
    writes its worker's pid to `marker` and waits to be killed; every other call does nothing."""

    def on_progress(progress: TrialProgress) -> None:
        import os
        import threading
        import time

        try:  # atomic: exactly one trial, on its first attempt, is the victim
            os.close(os.open(f"{marker}.claimed", os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        except FileExistsError:
            return
        deadline = time.monotonic() + 300  # never hang the suite: past it, the kill comes anyway
        while not os.path.exists(release) and time.monotonic() < deadline:
            time.sleep(0.02)  # polls a file the driver writes; not a timing assumption
        draft = f"{marker}.{os.getpid()}"
        with open(draft, "w") as file:
            file.write(f"{os.getpid()} {progress.sequences}")
        os.rename(draft, marker)  # atomic: the killer reads the whole content
        threading.Event().wait(600)

    return on_progress


def _kill_when_marked(marker: Path, killed: list[tuple[int, int]]) -> threading.Thread:
    def kill() -> None:
        while not marker.exists():
            time.sleep(0.02)  # polls a file the worker writes; not a timing assumption
        pid, sequences = map(int, marker.read_text().split())
        os.kill(pid, signal.SIGKILL)
        killed.append((pid, sequences))

    thread = threading.Thread(target=kill, daemon=True)
    thread.start()
    return thread


def _count(registry: Registry, column: object) -> int:
    with registry.engine.connect() as connection:
        return int(connection.scalar(select(func.count(column))))  # type: ignore[arg-type]


TRAIN_TINY = ["--arch", "rnn", "--trials", "2", "--seed", "5", "--max-sequences", "64", "--n-test", "20", "--json"]


def _holds_trial_one_until(marker: str) -> Callable[[TrialProgress], None]:
    """A worker-side progress hook: trial 1 waits until `marker` exists, so trial 2 reaches the driver first."""

    def on_progress(progress: TrialProgress) -> None:
        import os
        import time

        deadline = time.monotonic() + 300  # never hang the suite: past it, the order assertion fails instead
        while progress.trial == 1 and not os.path.exists(marker) and time.monotonic() < deadline:
            time.sleep(0.02)  # polls a file the driver writes; not a timing assumption

    return on_progress


# The tests that keep both workers busy come first (this one starts them); the kill test's retry then finds the
# other trial's worker warm, and only then do the kill and the interrupted driver's cancel take workers away.
def test_train_runs_its_trials_on_the_cluster_and_records_each_once_in_any_order(
    ray_address: str, settings_url: str, registry: Registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import training.distributed as distributed

    marker = tmp_path / "trial-2-recorded"
    real_run_on_ray = distributed.run_on_ray

    def run_trial_two_first(specs: Any, *, on_trial: Any, **kw: Any) -> Any:
        def record_then_release(spec: Any, record: Any) -> None:
            on_trial(spec, record)
            marker.touch()

        hold = _holds_trial_one_until(str(marker))
        return real_run_on_ray(specs, on_trial=record_then_release, on_worker_progress=hold, **kw)

    # The order goes in through the worker-side progress hook; the command, the cluster and the registry are real.
    monkeypatch.setattr(distributed, "run_on_ray", run_trial_two_first)
    result = runner.invoke(app, ["train", *TRAIN_TINY, "--ray-address", ray_address])
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert [trial["seed"] for trial in document["trials"]] == [5, 6]
    versions = sorted(registry.versions("rnn"), key=lambda v: v.version)
    assert [v.seed for v in versions] == [6, 5]  # trial 2 was recorded first, each trial once
    assert [(v.wrong_argmax, v.n_test) for v in reversed(versions)] == [
        (t["wrong_argmax"], 20) for t in document["trials"]
    ]
    run = registry.run(versions[0].run_id)
    assert run.trials == 2 and {v.run_id for v in versions} == {run.id}  # one run, closed once both were in
    assert registry.active_version("rnn") is not None


def test_the_cli_runs_trials_on_the_cluster_named_in_the_environment(
    ray_address: str, settings_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In this process (the cluster's driver already): that the command connects by address from a fresh process
    is what the job trainer of tests/service/test_jobs_on_ray.py shows."""
    import training.distributed as distributed

    asked: list[str] = []
    real_run_on_ray = distributed.run_on_ray

    def note_the_address(specs: Any, *, address: str, **kw: Any) -> Any:
        asked.append(address)
        return real_run_on_ray(specs, address=address, **kw)

    monkeypatch.setattr(distributed, "run_on_ray", note_the_address)
    monkeypatch.setenv("TEMPORAL_ORDER_RAY_ADDRESS", ray_address)
    get_settings.cache_clear()
    command = ["study", "lags", "--lags", "20", "--arch", "rnn", "--trials", "2"]
    result = runner.invoke(app, [*command, "--budget", "100", "--n-test", "20", "--migrate", "--json"])
    assert result.exit_code == 0, result.output
    assert asked == [ray_address]  # the trials went to the cluster the environment names, not the local pool
    assert [(p["arch"], p["trials"]) for p in json.loads(result.stdout)["points"]] == [("rnn", 2)]
    assert "2 recorded now" in result.stderr


def test_a_worker_killed_mid_trial_is_retried_and_recorded_once(
    ray_address: str, registry: Registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import training.distributed as distributed

    marker, release = tmp_path / "victim", tmp_path / "other-trial-recorded"
    killed: list[tuple[int, int]] = []
    killer = _kill_when_marked(marker, killed)
    real_run_on_ray = distributed.run_on_ray

    def kill_one_trial(specs: Any, *, on_trial: Any, **kw: Any) -> Any:
        def record_then_release(spec: Any, record: Any) -> None:
            on_trial(spec, record)
            release.touch()

        victim = _blocks_first_trial_to_report(str(marker), str(release))
        return real_run_on_ray(specs, on_trial=record_then_release, on_worker_progress=victim, **kw)

    # The fault goes in through the worker-side progress hook; everything else is the real path.
    monkeypatch.setattr(distributed, "run_on_ray", kill_one_trial)
    run = run_study(registry, tiny_grid(lags=(20,)), ray_address=ray_address)
    killer.join(timeout=5)
    [(pid, sequences)] = killed
    assert sequences > 0  # it had trained when it was killed
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    assert (run.planned, run.recorded) == (2, 2)
    assert _count(registry, ModelVersion.id) == 2 and _count(registry, StudyTrial.id) == 2
    trials = Studies(registry).trials(run.study.id)
    assert sorted((t.length, t.seed) for t in trials) == [(20, 0), (20, 1)]


def test_an_interrupted_driver_resumes_on_ray(ray_address: str, registry: Registry) -> None:
    def interrupt(trial: PlannedTrial, record: TrialRecord, version: int | None) -> None:
        raise KeyboardInterrupt

    # Two trials: the interrupt stops (kills) at most the one still running, so the rerun's trial finds a warm
    # worker, not two fresh ones importing torch.
    grid = tiny_grid(lags=(20,))
    with pytest.raises(KeyboardInterrupt):
        run_study(registry, grid, ray_address=ray_address, on_recorded=interrupt)
    assert _count(registry, ModelVersion.id) == 1
    resumed = run_study(registry, grid, ray_address=ray_address)
    assert (resumed.skipped, resumed.recorded) == (1, 1)
    assert _count(registry, ModelVersion.id) == 2
    trials = Studies(registry).trials(resumed.study.id)
    assert sorted(t.seed for t in trials) == [0, 1]


def test_train_with_a_ray_address_without_ray_names_the_extra(
    settings_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # what `import ray` meets where Ray is not installed
    monkeypatch.setenv("TEMPORAL_ORDER_RAY_ADDRESS", "127.0.0.1:6379")
    get_settings.cache_clear()
    result = runner.invoke(app, ["train", *TRAIN_TINY])
    assert result.exit_code == 1
    assert "pip install 'temporal-order[ray]'" in result.stderr and "Traceback" not in result.output
    assert len(result.stderr.strip().splitlines()) == 1


def test_should_stop_cancels_the_trials_on_the_cluster(ray_address: str) -> None:
    """What a cancelled training job on Ray meets: the driver stops, the trials are cancelled (as an interrupted
    driver's are, above), and nothing reaches the recorder."""
    from training.distributed import run_on_ray
    from training.study.grid import lag_task
    from training.train import TrainingCancelled
    from training.trial import plan_trials

    # A budget no test could wait for, and a criterion out of reach: only the cancel ends these trials.
    overrides = {"max_sequences": 10**9, "criterion_window": 10**9}
    specs = plan_trials("rnn", lag_task(20), trials=2, seed=0, overrides=overrides, n_test=20)
    arrived: list[object] = []
    with pytest.raises(TrainingCancelled, match="2 of 2 trials unfinished"):
        run_on_ray(specs, address=ray_address, on_trial=lambda spec, _: arrived.append(spec), should_stop=lambda: True)
    assert arrived == []
