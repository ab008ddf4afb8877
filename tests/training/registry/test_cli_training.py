"""The offline commands as a user runs them, on a real registry: `generate`, `train`, `report`, and the report's
inputs gathered from the registry's active runs."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from service.cli import build_app
from training.registry import Registry
from training.report_data import results_from_registry
from training.sequences import rule_label
from training.task import get_task

from .conftest import MakeRecord

runner = CliRunner()
app = build_app()


def test_generate_prints_labelled_sequences_reproducibly() -> None:
    first = runner.invoke(app, ["generate", "--n", "4", "--seed", "3", "--task", "6a", "--json"])
    assert first.exit_code == 0, first.output
    items = [json.loads(line) for line in first.stdout.splitlines()]
    assert len(items) == 4
    spec = get_task("6a")
    for item in items:
        assert spec.class_names[rule_label(item["sequence"], spec)] == item["label"]
        assert spec.class_names[item["class_index"]] == item["label"]
        assert [item["sequence"][p - 1] for p in item["positions"]] == list(item["label"])
    assert runner.invoke(app, ["generate", "--n", "4", "--seed", "3", "--task", "6a", "--json"]).stdout == first.stdout
    other = runner.invoke(app, ["generate", "--n", "4", "--seed", "4", "--task", "6a", "--json"]).stdout
    assert other != first.stdout
    table = runner.invoke(app, ["generate", "--n", "4", "--seed", "3", "--task", "6a"])
    assert table.exit_code == 0
    assert [line.split()[0] for line in table.stdout.splitlines()] == [item["label"] for item in items]
    assert [line.split()[-1] for line in table.stdout.splitlines()] == [item["sequence"] for item in items]


def test_train_records_every_trial_and_activates_the_best(settings_url: str) -> None:
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    tiny = ["--arch", "rnn", "--trials", "2", "--seed", "5", "--max-sequences", "64", "--n-test", "40"]
    result = runner.invoke(app, ["train", *tiny, "--workers", "1", "--json"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["arch"] == "rnn" and document["task"] == "6b"
    assert [trial["seed"] for trial in document["trials"]] == [5, 6]
    assert all(trial["n_test"] == 40 and not trial["converged"] for trial in document["trials"])
    assert document["summary"]["trials"] == 2 and document["summary"]["converged"] == 0
    assert document["versions"] == [1, 2]

    registry = Registry(settings_url)
    try:
        versions = {v.version: v for v in registry.versions("rnn")}
        assert set(versions) == {1, 2}
        recorded = [(versions[n].seed, versions[n].wrong_argmax) for n in (1, 2)]
        assert recorded == [(t["seed"], t["wrong_argmax"]) for t in document["trials"]]
        active = registry.active_version("rnn")
        assert active is not None
        assert active.wrong_argmax == min(t["wrong_argmax"] for t in document["trials"])
    finally:
        registry.close()

    unrecorded = runner.invoke(app, ["train", *tiny, "--workers", "1", "--json", "--no-record"])
    assert unrecorded.exit_code == 0, unrecorded.output
    assert "versions" not in json.loads(unrecorded.stdout)
    # Trial i always uses seed + i: the same command gives the same test results.
    assert json.loads(unrecorded.stdout)["trials"] == document["trials"]


def test_results_from_registry_take_every_trial_of_each_active_run(registry: Registry, make_record: MakeRecord) -> None:
    six_b = get_task("6b")
    first = registry.record_run(
        "lstm", six_b, [make_record(seed=0, wrong_argmax=4), make_record(seed=1, wrong_argmax=2)]
    )
    registry.record_run("lstm", six_b, [make_record(seed=7, wrong_argmax=1)])  # now the active run
    registry.record_run("rnn", six_b, [make_record("rnn", seed=3, wrong_argmax=9, sequences_to_criterion=None)])
    registry.activate("lstm", first.version_numbers[0])  # back to the first run

    results = results_from_registry(registry)
    assert [r.arch for r in results] == ["rnn", "lstm"]  # the order of the architectures; none for the rest
    rnn, lstm = results
    assert [(o.seed, o.wrong_argmax, o.converged) for o in rnn.outcomes] == [(3, 9, False)]
    assert [(o.seed, o.wrong_argmax) for o in lstm.outcomes] == [(0, 4), (1, 2)]  # the active run, whole
    assert lstm.task == "6b"
    assert lstm.curves == [[(2_500, 0.9), (5_000, 0.05)]] * 2
    assert lstm.settings and "hidden_size" in lstm.settings


def test_report_writes_the_active_runs_as_markdown_and_a_plot(
    settings_url: str, make_record: MakeRecord, tmp_path: Path
) -> None:
    registry = Registry(settings_url)
    try:
        registry.upgrade()
        registry.record_run("lstm", get_task("6b"), [make_record(seed=s, wrong_argmax=s) for s in range(3)])
    finally:
        registry.close()
    result = runner.invoke(app, ["report", "--out", str(tmp_path / "report")])
    assert result.exit_code == 0, result.output
    # Three trials of lstm: converged 3/3 after 5,000 sequences each, 1.00 ± 0.82 wrong (argmax) of 3000.
    assert "| `lstm` | 3 | 3/3 | 5,000 | 5,000 | 1.00 ± 0.82 of 3000 |" in result.stdout
    assert (tmp_path / "report" / "report.md").read_text() in result.stdout
    assert (tmp_path / "report" / "learning_curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
