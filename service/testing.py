"""Run the service for tests and benchmarks: a migrated SQLite registry holding a version of every
architecture, and a real uvicorn serving it in a subprocess on a loopback socket.

    from service.testing import make_registry, start_server
    server = start_server(make_registry(Path("/tmp/r.db")), Path("/tmp"))
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from training.evaluate import evaluate
from training.experiment import TrialRecord
from training.models import ARCHITECTURES, build_model, default_config
from training.registry import Registry
from training.task import get_task
from training.train import TrialResult, default_train_config, train_trial

API_KEY = "test-api-key-0123456789abcdef"
N_TEST = 200
# Generous: on a loaded two-core machine (several suites at once) start-up has taken over 90 s.
STARTUP_TIMEOUT_S = 300


def record_untrained(
    registry: Registry, arch: str, *, seed: int = 0, task_name: str = "6b", activate: bool = True
) -> int:
    """Record a freshly initialised model of `arch` (tested on a few sequences) and activate it."""
    import torch

    task = get_task(task_name)
    torch.manual_seed(seed)
    config = default_config(arch, n_classes=task.n_classes)
    model = build_model(config).eval()
    trial = TrialResult(
        model=model,
        model_config=config,
        train_config=default_train_config(arch),
        task=task,
        seed=seed,
        converged=False,
        sequences_seen=0,
        sequences_to_criterion=None,
    )
    test = evaluate(model, task, seed=seed, n_test=N_TEST)
    run = registry.record_run(arch, task, [TrialRecord(trial=trial, test=test)], activate=activate)
    return run.version_numbers[0]


def record_trained_run(
    registry: Registry, arch: str, *, trials: int = 2, sequences: int = 1024, curve_every: int = 256, seed: int = 0
) -> list[int]:
    """Train `trials` short trials of `arch` for real (a learning curve point every `curve_every` sequences),
    record them as one run and activate the best; returns the run's version numbers."""
    task = get_task("6b")
    config = default_train_config(arch, max_sequences=sequences, curve_every=curve_every)
    records = []
    for index in range(trials):
        trial = train_trial(task, arch=arch, train_config=config, seed=seed + index)
        records.append(TrialRecord(trial=trial, test=evaluate(trial.model, task, seed=seed + index, n_test=N_TEST)))
    return registry.record_run(arch, task, records, activate=True).version_numbers


def make_registry(path: Path, arches: tuple[str, ...] = ARCHITECTURES) -> str:
    """A migrated SQLite registry at `path` holding one active untrained version of each of `arches`."""
    url = f"sqlite:///{path}"
    registry = Registry(url)
    try:
        registry.upgrade()
        for index, arch in enumerate(arches):
            record_untrained(registry, arch, seed=index)
    finally:
        registry.close()
    return url


def bound_socket() -> socket.socket:
    """A listening loopback socket on a free port, handed to uvicorn (--fd): no window for another to take it."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(1024)
    sock.set_inheritable(True)
    return sock


@dataclass
class LiveServer:
    """A real uvicorn serving the app in a subprocess (its own interpreter: no GIL shared with the tests)."""

    url: str
    api_key: str
    database_url: str
    process: subprocess.Popen[bytes] = field(repr=False)
    log_path: Path = field(repr=False)

    @property
    def auth(self) -> dict[str, str]:
        return {"X-API-Key": self.api_key}

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self) -> None:
        """A graceful shutdown (SIGTERM), as a process manager would do it; killed if it hangs."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def server_environment(database_url: str, **overrides: Any) -> dict[str, str]:
    settings: dict[str, Any] = {
        "database_url": database_url,
        "api_key": API_KEY,
        "device": "cpu",
        "reload_interval_s": 0.5,
        **overrides,
    }
    environment = {k: v for k, v in os.environ.items() if not k.startswith("TEMPORAL_ORDER_")}
    environment.update({f"TEMPORAL_ORDER_{name.upper()}": str(value) for name, value in settings.items()})
    return environment


def start_server(
    database_url: str,
    log_dir: Path,
    *,
    app: str = "service.app:create_server_app",
    factory: bool = True,
    health_path: str = "/healthz",
    **overrides: Any,
) -> LiveServer:
    """Start `uvicorn --factory service.app:create_server_app` (or another `app`) on a free loopback port, with
    `overrides` as TEMPORAL_ORDER_* settings; return once `health_path` answers."""
    sock = bound_socket()
    port = int(sock.getsockname()[1])
    log_path = log_dir / f"uvicorn-{port}.log"
    try:
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "service.testing", app, str(sock.fileno()), "factory" if factory else "app"],
                env=server_environment(database_url, **overrides),
                stdout=log,
                stderr=subprocess.STDOUT,
                pass_fds=(sock.fileno(),),
            )
    finally:
        sock.close()  # the child holds its own copy
    server = LiveServer(
        url=f"http://127.0.0.1:{port}", api_key=API_KEY, database_url=database_url, process=process, log_path=log_path
    )
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"the service exited with code {process.returncode}:\n{server.log()[-3000:]}")
        try:
            if httpx.get(f"{server.url}{health_path}", timeout=1).status_code < 500:
                return server
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            server.stop()
            raise RuntimeError(f"the service did not start within {STARTUP_TIMEOUT_S} s:\n{server.log()[-3000:]}")
        time.sleep(0.05)


def _serve_on_fd(app: str, fd: int, kind: str) -> None:
    """Run uvicorn on an inherited listening socket. (uvicorn's own --fd assumes a UNIX socket, so TCP_NODELAY
    would never be set and Nagle's algorithm would add 40 ms to every response.)"""
    import uvicorn

    sock = socket.socket(fileno=fd)
    config = uvicorn.Config(
        app, factory=kind == "factory", log_level="warning", access_log=False, timeout_keep_alive=30
    )
    uvicorn.Server(config).run(sockets=[sock])


if __name__ == "__main__":
    _serve_on_fd(sys.argv[1], int(sys.argv[2]), sys.argv[3])
