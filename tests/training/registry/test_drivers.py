"""Database drivers: a plain `postgresql://` URL gets psycopg 3 (the `postgres` extra); a missing driver is one
error naming the extra, not a ModuleNotFoundError. (A wheel install without the extra is in tests/packaging.)"""

from __future__ import annotations

import sys

import pytest
from typer.testing import CliRunner

from service.cli import build_app
from training.registry import MissingDatabaseDriver
from training.registry.db import make_engine, with_default_driver
from training.settings import get_settings

runner = CliRunner()
app = build_app()


@pytest.mark.parametrize(
    ("given", "used"),
    [
        ("postgresql://u:p@db/registry", "postgresql+psycopg"),
        ("postgresql+psycopg://u:p@db/registry", "postgresql+psycopg"),
        ("postgresql+psycopg2://u:p@db/registry", "postgresql+psycopg2"),  # named on purpose: kept
        ("sqlite:///var/registry.db", "sqlite"),
    ],
)
def test_a_url_without_a_driver_gets_the_one_the_project_installs(given: str, used: str) -> None:
    assert with_default_driver(given).drivername == used


def test_a_postgresql_url_makes_a_psycopg3_engine() -> None:
    """`make setup` installs the postgres extra."""
    engine = make_engine("postgresql://registry@127.0.0.1:1/registry")  # no connection is made yet
    try:
        assert engine.dialect.driver == "psycopg"
    finally:
        engine.dispose()


def test_a_missing_driver_is_one_error_naming_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "psycopg", None)  # as if the postgres extra were not installed
    with pytest.raises(MissingDatabaseDriver, match=r"pip install 'temporal-order\[postgres\]'") as caught:
        make_engine("postgresql://registry:secret@db/registry")
    assert "secret" not in str(caught.value)


def test_the_cli_says_which_extra_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "psycopg", None)
    monkeypatch.setenv("TEMPORAL_ORDER_DATABASE_URL", "postgresql://registry@db/registry")
    get_settings.cache_clear()
    try:
        for command in (["models"], ["db", "upgrade"]):
            result = runner.invoke(app, command)
            assert result.exit_code == 1, result.output
            assert result.output.count("\n") == 1 and "temporal-order[postgres]" in result.output
            assert not isinstance(result.exception, ImportError)
    finally:
        get_settings.cache_clear()
