"""The registry on first use: the embedded default (no TEMPORAL_ORDER_DATABASE_URL) is created and migrated with
one line saying so; a configured URL is migrated only on purpose (`db upgrade`, `--migrate`)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from service.cli import build_app
from training.registry import Registry, SchemaNotMigrated
from training.registry.migrations import head_revisions
from training.registry.opening import open_registry
from training.settings import Settings, get_settings

runner = CliRunner()
app = build_app()
HEAD = ", ".join(sorted(head_revisions()))
DEFAULT_FILE = Path("var/registry.db")


@pytest.fixture
def default_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """No URL configured, in an empty working directory: the default file would be tmp_path/var/registry.db."""
    monkeypatch.delenv("TEMPORAL_ORDER_DATABASE_URL", raising=False)
    monkeypatch.chdir(tmp_path)
    get_settings.cache_clear()
    yield tmp_path / DEFAULT_FILE
    get_settings.cache_clear()


def _revision(url: str) -> str | None:
    registry = Registry(url)
    try:
        return registry.current_revision()
    finally:
        registry.close()


def test_the_default_registry_is_created_and_migrated_on_first_use_with_one_line(default_settings: Path) -> None:
    assert not default_settings.exists()
    first = runner.invoke(app, ["models", "--json"])
    assert first.exit_code == 0, first.output
    # (Only our lines: an earlier test's in-process `alembic` may have left a logging handler behind.)
    announced = [line for line in first.output.splitlines() if line.startswith(("created", "migrated"))]
    assert announced == [f"created the embedded default registry sqlite:///var/registry.db (schema revision {HEAD})"]
    assert default_settings.is_file() and _revision(f"sqlite:///{default_settings}") == HEAD

    again = runner.invoke(app, ["models", "--json"])
    assert again.exit_code == 0 and again.stdout.strip() == "[]"
    assert not [line for line in again.output.splitlines() if line.startswith(("created", "migrated"))]


def test_the_service_settings_default_is_migrated_too(default_settings: Path) -> None:
    lines: list[str] = []
    registry = open_registry(Settings(), announce=lines.append)
    registry.close()
    assert len(lines) == 1 and "created the embedded default registry" in lines[0]
    assert _revision(f"sqlite:///{default_settings}") == HEAD


def test_a_configured_url_is_refused_until_migrated_on_purpose(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    monkeypatch.setenv("TEMPORAL_ORDER_DATABASE_URL", url)
    get_settings.cache_clear()
    try:
        refused = runner.invoke(app, ["models"])
        assert refused.exit_code == 1
        assert "is not migrated: run `temporal-order db upgrade`" in refused.output
        assert _revision(url) is None  # refusing changed nothing

        # `train --migrate` migrates it on purpose, says so, and records the trial.
        tiny = ["--arch", "rnn", "--trials", "1", "--max-sequences", "32", "--n-test", "8", "--workers", "1"]
        trained = runner.invoke(app, ["train", *tiny, "--migrate", "--json"])
        assert trained.exit_code == 0, trained.output
        assert f"created registry {url} (schema revision {HEAD})" in trained.output
        assert _revision(url) == HEAD
    finally:
        get_settings.cache_clear()


def test_the_same_url_given_explicitly_counts_as_configured(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Configured is what the user said, not what the URL is: the default URL set on purpose is not migrated."""
    monkeypatch.chdir(tmp_path)
    settings = Settings(database_url="sqlite:///var/registry.db")
    assert not settings.database_url_is_default
    with pytest.raises(SchemaNotMigrated, match="temporal-order db upgrade"):
        open_registry(settings)
    assert _revision("sqlite:///var/registry.db") is None
