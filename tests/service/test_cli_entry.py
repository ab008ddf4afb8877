"""The `temporal-order` console script: the full command line with the server extra, and in a client-only install
the client commands plus a one-line answer naming the extra for every server command. (The real client-only
install is in tests/packaging.)"""

from __future__ import annotations

import subprocess
import sys

import pytest
import typer
from typer.main import get_command
from typer.testing import CliRunner

from service import cli

runner = CliRunner()
CLIENT_COMMANDS = {"classify", "jobs", "metrics"}


def _names(app: typer.Typer) -> set[str]:
    return set(get_command(app).commands)  # type: ignore[attr-defined]


def test_the_server_commands_list_is_what_the_server_extra_registers() -> None:
    assert _names(cli.build_app()) - CLIENT_COMMANDS == set(cli.SERVER_COMMANDS)


@pytest.mark.parametrize("argv", [["train", "--arch", "lstm"], ["db", "upgrade"], ["serve", "--help"], ["generate"]])
def test_a_client_only_install_names_the_extra_in_one_line(argv: list[str]) -> None:
    app = cli.assemble("torch")
    result = runner.invoke(app, argv)
    assert result.exit_code == 1
    assert result.output == (
        f"error: `temporal-order {argv[0]}` needs the server extra (torch is not installed): "
        "pip install 'temporal-order[server]'\n"
    )


def test_a_client_only_install_lists_every_command() -> None:
    app = cli.assemble("torch")
    assert _names(app) == set(cli.SERVER_COMMANDS) | CLIENT_COMMANDS
    assert runner.invoke(app, ["classify", "--help"]).exit_code == 0


def test_building_the_command_line_imports_none_of_the_heavy_packages() -> None:
    """`temporal-order --help` and the client commands do not wait for torch or SQLAlchemy: commands import them."""
    code = (
        "import sys\n"
        "from service.cli import build_app\n"
        "build_app()\n"
        "print(','.join(sorted({m.split('.')[0] for m in sys.modules} & set(sys.argv[1:]))))\n"
    )
    heavy = ["torch", "numpy", "numba", "sqlalchemy", "alembic", "fastapi", "starlette", "uvicorn", "matplotlib"]
    out = subprocess.run([sys.executable, "-c", code, *heavy], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_this_install_has_the_server_extra_and_every_command() -> None:
    assert cli.missing_server_module() is None
    result = runner.invoke(cli.build_app(), ["--help"])
    assert result.exit_code == 0
    assert "Train, measure and serve" in result.output
