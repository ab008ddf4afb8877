"""Fixtures for the service's tests: a migrated SQLite registry with a version of every architecture, and a
real uvicorn serving it on a free loopback port.

`live_server` (session-wide) yields an object with `.url` and `.api_key`; `server_factory` starts further
servers (e.g. on a registry a test corrupts) and stops them at the end of the test.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from service.app import create_app
from service.settings import ServiceSettings
from training.evaluate import evaluate
from training.experiment import TrialRecord
from training.models import ARCHITECTURES, build_model, default_config
from training.registry import Registry
from training.task import get_task
from training.train import TrialResult, default_train_config

API_KEY = "test-api-key-0123456789abcdef"
N_TEST = 200


def record_untrained(registry: Registry, arch: str, *, seed: int = 0, task_name: str = "6b") -> int:
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
    run = registry.record_run(arch, task, [TrialRecord(trial=trial, test=test)], activate=True)
    return run.version_numbers[0]


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


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class LiveServer:
    """A uvicorn running the app in a background thread of the test process."""

    url: str
    api_key: str
    database_url: str
    settings: ServiceSettings
    server: uvicorn.Server = field(repr=False)
    thread: threading.Thread = field(repr=False)

    @property
    def auth(self) -> dict[str, str]:
        return {"X-API-Key": self.api_key}

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


def start_server(database_url: str, **overrides: Any) -> LiveServer:
    options: dict[str, Any] = {
        "database_url": database_url,
        "api_key": API_KEY,
        "device": "cpu",
        "reload_interval_s": 0.5,
        **overrides,
    }
    settings = ServiceSettings(**options)
    port = free_port()
    config = uvicorn.Config(
        create_app(settings), host="127.0.0.1", port=port, log_level="warning", lifespan="on", loop="asyncio"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=f"uvicorn-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError("the service failed to start; see the log above")
        if time.monotonic() > deadline:
            server.should_exit = True
            raise RuntimeError("the service did not start within 60 s")
        time.sleep(0.02)
    return LiveServer(
        url=f"http://127.0.0.1:{port}",
        api_key=API_KEY,
        database_url=database_url,
        settings=settings,
        server=server,
        thread=thread,
    )


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """The service on a registry with an untrained version of every architecture; shared by the session."""
    url = make_registry(tmp_path_factory.mktemp("registry") / "registry.db")
    server = start_server(url)
    yield server
    server.stop()


@pytest.fixture
def server_factory() -> Iterator[Callable[..., LiveServer]]:
    """Start servers on registries a test prepares; all are stopped when the test ends."""
    started: list[LiveServer] = []

    def start(database_url: str, **overrides: Any) -> LiveServer:
        server = start_server(database_url, **overrides)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()
