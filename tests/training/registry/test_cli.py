"""The registry commands as a user runs them: `db upgrade`, `models`, `activate`."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from service.cli import build_app
from training.registry import Registry
from training.registry.migrations import head_revisions
from training.task import get_task

from .conftest import MakeRecord

runner = CliRunner()
app = build_app()


def test_models_before_migrating_says_what_to_run(settings_url: str) -> None:
    result = runner.invoke(app, ["models"])
    assert result.exit_code == 1
    assert "temporal-order db upgrade" in result.output
    assert "Traceback" not in result.output


def test_db_upgrade_then_models_and_activate(settings_url: str, make_record: MakeRecord) -> None:
    result = runner.invoke(app, ["db", "upgrade"])
    assert result.exit_code == 0, result.output
    head = ", ".join(sorted(head_revisions()))
    assert head in result.output
    assert runner.invoke(app, ["db", "current"]).output.strip() == head

    empty = runner.invoke(app, ["models", "--json"])
    assert empty.exit_code == 0 and json.loads(empty.output) == []

    registry = Registry(settings_url)
    try:
        registry.record_run("lstm", get_task("6b"), [make_record(wrong_argmax=1), make_record(wrong_argmax=5)])
        registry.record_run("rnn", get_task("6b"), [make_record("rnn", sequences_to_criterion=None)])
    finally:
        registry.close()

    listed = runner.invoke(app, ["models", "--json"])
    assert listed.exit_code == 0, listed.output
    rows = json.loads(listed.output)
    assert [(r["arch"], r["version"], r["active"]) for r in rows] == [
        ("rnn", 1, True),
        ("lstm", 2, False),
        ("lstm", 1, True),
    ]
    assert rows[0]["sequences_to_criterion"] is None and rows[1]["wrong_argmax"] == 5

    only_lstm = json.loads(runner.invoke(app, ["models", "--arch", "lstm", "--json"]).output)
    assert {r["arch"] for r in only_lstm} == {"lstm"}

    table = runner.invoke(app, ["models"])
    assert table.exit_code == 0 and "lstm" in table.output and "rnn" in table.output

    activated = runner.invoke(app, ["activate", "lstm", "2"])
    assert activated.exit_code == 0, activated.output
    assert "lstm version 2 is active" in activated.output
    rows = json.loads(runner.invoke(app, ["models", "--arch", "lstm", "--json"]).output)
    assert [r["version"] for r in rows if r["active"]] == [2]

    rolled_back = runner.invoke(app, ["activate", "--rollback", "lstm"])
    assert rolled_back.exit_code == 0, rolled_back.output
    assert "lstm rolled back from version 2 to version 1" in rolled_back.output
    rows = json.loads(runner.invoke(app, ["models", "--arch", "lstm", "--json"]).output)
    assert [r["version"] for r in rows if r["active"]] == [1]
    nothing = runner.invoke(app, ["activate", "--rollback", "lstm"])
    assert nothing.exit_code == 1 and "served nothing before version 1" in nothing.output


def test_activate_errors_are_one_line_and_non_zero(settings_url: str) -> None:
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    missing = runner.invoke(app, ["activate", "lstm", "3"])
    assert missing.exit_code == 1 and "no version 3 of 'lstm'" in missing.output
    unknown = runner.invoke(app, ["activate", "transformer", "1"])
    assert unknown.exit_code == 1 and "unknown architecture 'transformer'" in unknown.output
    both = runner.invoke(app, ["activate", "lstm", "1", "--rollback"])
    assert both.exit_code == 2 and "either VERSION or --rollback" in both.output
    assert "Traceback" not in missing.output + unknown.output + both.output


def test_db_downgrade_to_base(settings_url: str) -> None:
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    result = runner.invoke(app, ["db", "downgrade", "base"])
    assert result.exit_code == 0, result.output
    assert runner.invoke(app, ["db", "current"]).output.strip() == "base (not migrated)"
