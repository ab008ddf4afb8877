"""The project as a user installs it: the wheel built once per session, installed into fresh virtual environments
(with the `server` extra, and the client alone), each driven through its own console script.

pip takes torch from the CPU build on disk (pinned, as the Makefile does) and everything else from its cache, so
an environment costs seconds to minutes, not a download. The environments are made without a pip of their own (the
standard library's `venv --without-pip`); this process's pip installs into each through `pip --python`, the same
resolver and installer run by the environment's own interpreter, so no seconds go to bootstrapping, byte-compiling
and then never using a second copy of pip.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import venv
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.registry import make_registry
from tests.support.server import LiveServer, start_server
from training.task import decode_batch, generate, get_task, make_generator

REPO_ROOT = Path(__file__).resolve().parents[2]
# What a wheel is built from (a copy, so no build/ or egg-info is left in the checkout).
BUILD_INPUTS = ("pyproject.toml", "setup.py", "README.md", "alembic", "training", "service")
TORCH_PIN = "torch==2.13.0"
# One well-formed task 6b sequence to classify.
SEQUENCE = decode_batch(generate(get_task("6b"), 1, make_generator(7)))[0]
# An install costs minutes on a loaded two-core machine; a test waits this long at most for one command.
COMMAND_TIMEOUT_S = 600


@dataclass(frozen=True)
class Venv:
    """A fresh virtual environment with the project installed from the wheel."""

    path: Path

    @property
    def python(self) -> Path:
        return self.path / "bin" / "python"

    @property
    def script(self) -> Path:
        return self.path / "bin" / "temporal-order"

    def run(
        self, *args: str | Path, cwd: Path, env: dict[str, str] | None = None, check: bool = False
    ) -> subprocess.CompletedProcess[str]:
        """Run a command of this environment (`temporal-order ...`, `python ...`) as a user's shell would."""
        result = subprocess.run(
            [str(arg) for arg in args],
            cwd=cwd,
            env=user_environment(self, env),
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT_S,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"{args} exited {result.returncode}:\n{result.stdout}\n{result.stderr}")
        return result

    def has_module(self, name: str, *, cwd: Path) -> bool:
        probe = f"import importlib.util, sys; sys.exit(importlib.util.find_spec({name!r}) is None)"
        return self.run(self.python, "-c", probe, cwd=cwd).returncode == 0


def user_environment(environment: Venv, extra: dict[str, str] | None = None) -> dict[str, str]:
    """This process's environment without the project's venv, settings or source path, the venv's bin/ first.

    Bytecode is written as in a user's shell: the wheel is installed without compiling (seconds saved), so the
    first command compiles what it imports and the later ones read it back.
    """
    dropped = ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "PYTHONDONTWRITEBYTECODE")
    result = {k: v for k, v in os.environ.items() if k not in dropped and not k.startswith("TEMPORAL_ORDER_")}
    result["PATH"] = f"{environment.path / 'bin'}{os.pathsep}{result.get('PATH', '')}"
    result.update(extra or {})
    return result


def _pip(environment: Venv, *args: str | Path) -> None:
    """`pip install` into `environment`: pip runs under the environment's interpreter and installs there."""
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", environment.python, "install", "--quiet", "--no-compile"]
        + [str(arg) for arg in args],
        check=True,
        env=user_environment(environment),
        timeout=COMMAND_TIMEOUT_S,
    )


def _fresh_venv(path: Path) -> Venv:
    venv.EnvBuilder(with_pip=False, clear=True).create(path)
    return Venv(path)


@pytest.fixture(scope="session")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The project's wheel, built (once per session) from a copy of the checkout's sources."""
    source = tmp_path_factory.mktemp("source")
    for name in BUILD_INPUTS:
        origin = REPO_ROOT / name
        if origin.is_dir():
            shutil.copytree(origin, source / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(origin, source / name)
    dist = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation", "-w", dist, source],
        check=True,
        capture_output=True,
        timeout=COMMAND_TIMEOUT_S,
    )
    (built,) = dist.glob("temporal_order-*.whl")
    return built


@pytest.fixture(scope="session")
def server_venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Venv:
    """`pip install torch==2.13.0 'temporal-order[server]'` from the wheel: torch pinned, as `make setup` does, in
    the same resolution as the rest (one pip run, not two)."""
    environment = _fresh_venv(tmp_path_factory.mktemp("server-venv"))
    _pip(environment, TORCH_PIN, f"{wheel}[server]")
    return environment


@pytest.fixture(scope="session")
def client_venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Venv:
    """`pip install temporal-order` from the wheel: the client alone."""
    environment = _fresh_venv(tmp_path_factory.mktemp("client-venv"))
    _pip(environment, wheel)
    return environment


@pytest.fixture(scope="session")
def project_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """The service started from the project's own environment, on a registry with an rnn version."""
    directory = tmp_path_factory.mktemp("project-server")
    server = start_server(make_registry(directory / "registry.db", ("rnn",)), directory, health_path="/readyz")
    yield server
    server.stop()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
