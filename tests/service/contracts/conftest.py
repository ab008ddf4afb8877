"""One service for the contract tests: `rnn`, `lstm` and `attn_rnn` serve, `attn_rnn_seed` has no version (so
it answers 503 / not ready), and bodies over 4 KiB get 413."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.registry import make_registry
from tests.support.server import LiveServer, start_server

MAX_BODY = 4096


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    directory = tmp_path_factory.mktemp("contract")
    url = make_registry(directory / "registry.db", arches=("rnn", "lstm", "attn_rnn"))
    live = start_server(url, directory, max_body_bytes=MAX_BODY)
    yield live
    live.stop()
