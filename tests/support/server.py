"""A real uvicorn serving the app in a subprocess on a loopback socket, for tests and benchmarks.

server = start_server(make_registry(tmp_path / "r.db"), tmp_path)
...
server.stop()
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

API_KEY = "test-api-key-0123456789abcdef"
# Generous: on a loaded two-core machine (several suites at once) start-up has taken over 90 s.
STARTUP_TIMEOUT_S = 300
SERVE_ON_FD = Path(__file__).with_name("serve_on_fd.py")


def bound_socket() -> socket.socket:
    """A listening loopback socket on a free port, handed to uvicorn: no window for another to take it."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(1024)
    sock.set_inheritable(True)
    return sock


def wait_until_ready(
    url: str,
    process: subprocess.Popen[Any],
    log_path: Path,
    *,
    path: str = "/readyz",
    timeout_s: float = STARTUP_TIMEOUT_S,
) -> None:
    """Return once GET `url``path` answers without a server error (/readyz: 200 once every model is loaded, 503
    before); raise, with the end of the server's log, when its process exits first or `timeout_s` passes."""

    def log() -> str:
        return log_path.read_text(errors="replace")[-3000:] if log_path.exists() else ""

    deadline = time.monotonic() + timeout_s
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"the service exited with code {process.returncode}:\n{log()}")
        try:
            if httpx.get(f"{url}{path}", timeout=2).status_code < 500:
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{path} did not answer within {timeout_s:g} s:\n{log()}")
        time.sleep(0.02)  # fine enough for bench/serve_bench.py's cold start to time


@dataclass
class LiveProcess:
    """A service process the tests started (`serve` or `worker`), logging to `log_path`."""

    process: subprocess.Popen[bytes] = field(repr=False)
    log_path: Path = field(repr=False)

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


@dataclass(kw_only=True)
class LiveServer(LiveProcess):
    """A real uvicorn serving the app in a subprocess (its own interpreter: no GIL shared with the tests)."""

    url: str
    api_key: str
    database_url: str

    @property
    def auth(self) -> dict[str, str]:
        return {"X-API-Key": self.api_key}


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
    """Start `service.app:create_server_app` (or another `app`) under uvicorn on a free loopback port, with
    `overrides` as TEMPORAL_ORDER_* settings; return once `health_path` answers (see `wait_until_ready`)."""
    sock = bound_socket()
    port = int(sock.getsockname()[1])
    log_path = log_dir / f"uvicorn-{port}.log"
    try:
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [sys.executable, str(SERVE_ON_FD), app, str(sock.fileno()), "factory" if factory else "app"],
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
    try:
        wait_until_ready(server.url, process, log_path, path=health_path)
    except BaseException:
        server.stop()
        raise
    return server


@dataclass
class LiveWorker(LiveProcess):
    """A `temporal-order worker` process (service/worker.py) claiming jobs from a registry."""


def start_worker(database_url: str, log_dir: Path, *, name: str = "worker", **overrides: Any) -> LiveWorker:
    """Start `temporal-order worker` on `database_url` with `overrides` as TEMPORAL_ORDER_* settings; return once
    it has said it claims jobs."""
    log_path = log_dir / f"{name}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-c", "from service.cli import main; main()", "worker"],
            env=server_environment(database_url, **overrides),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    worker = LiveWorker(process=process, log_path=log_path)
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while "training worker " not in worker.log():
        if process.poll() is not None:
            raise RuntimeError(f"the worker exited with code {process.returncode}:\n{worker.log()[-3000:]}")
        if time.monotonic() > deadline:
            worker.stop()
            raise RuntimeError(f"the worker did not start within {STARTUP_TIMEOUT_S} s:\n{worker.log()[-3000:]}")
        time.sleep(0.05)
    return worker
