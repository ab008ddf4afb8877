"""A served registry whose `lstm` has a really trained run of two short trials (so its versions have learning
curves); the other architectures have one untrained version each."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch

from tests.support.registry import make_registry, record_trained_run
from tests.support.server import LiveServer, start_server
from training.registry import Registry


@pytest.fixture(scope="session")
def trained_registry(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, list[int]]:
    """(database URL, the trained run's lstm version numbers)."""
    directory = tmp_path_factory.mktemp("trained")
    url = make_registry(directory / "registry.db", arches=("rnn", "attn_rnn", "attn_rnn_seed"))
    registry = Registry(url)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the fused kernel's own loops; torch's pool would only contend with the server
    try:
        versions = record_trained_run(registry, "lstm", trials=2, sequences=1024, curve_every=256)
    finally:
        torch.set_num_threads(threads)
        registry.close()
    return url, versions


@pytest.fixture(scope="session")
def curve_server(
    trained_registry: tuple[str, list[int]], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    server = start_server(trained_registry[0], tmp_path_factory.mktemp("curve-server"))
    yield server
    server.stop()
