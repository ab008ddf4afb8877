"""The registry on a real PostgreSQL (a throwaway server on a loopback port) through a plain `postgresql://` URL:
refused until migrated, `db upgrade`, runs recorded and listed, activation; the checkpoint loads back intact."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from service.cli import build_app
from training.registry import Registry
from training.registry.migrations import head_revisions
from training.settings import get_settings
from training.task import get_task

from .conftest import MakeRecord

runner = CliRunner()
app = build_app()


def test_a_postgresql_registry_through_the_cli(
    postgres_url: str, make_record: MakeRecord, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEMPORAL_ORDER_DATABASE_URL", postgres_url)
    get_settings.cache_clear()
    try:
        refused = runner.invoke(app, ["models"])
        assert refused.exit_code == 1 and "is not migrated: run `temporal-order db upgrade`" in refused.output

        upgraded = runner.invoke(app, ["db", "upgrade"])
        assert upgraded.exit_code == 0, upgraded.output
        assert f"registry {postgres_url} at revision {', '.join(sorted(head_revisions()))}" in upgraded.output

        registry = Registry(postgres_url)
        try:
            assert registry.engine.dialect.driver == "psycopg"
            run = registry.record_run("lstm", get_task("6b"), [make_record(wrong_argmax=1), make_record(seed=1)])
            assert run.version_numbers == [1, 2]
        finally:
            registry.close()

        listed = runner.invoke(app, ["models", "--json"])
        assert listed.exit_code == 0, listed.output
        # stdout alone: an earlier test's in-process `alembic` may have left a logging handler writing to stderr.
        assert [(row["version"], row["active"]) for row in json.loads(listed.stdout)] == [(2, False), (1, True)]
        activated = runner.invoke(app, ["activate", "lstm", "2"])
        assert activated.exit_code == 0 and "lstm version 2 is active" in activated.output

        registry = Registry(postgres_url)
        try:
            loaded = registry.load_model("lstm")
            assert loaded.info.version == 2 and loaded.info.created_at.tzinfo is not None
        finally:
            registry.close()
    finally:
        get_settings.cache_clear()
