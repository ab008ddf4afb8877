"""`temporal-order serve` imports with the garbage collector off (a fifth of its start-up); the app's start must
turn it back on, or a long-running server would never free reference cycles."""

from __future__ import annotations

import asyncio
import gc
from pathlib import Path

import pytest

from service.app import create_app
from service.settings import ServiceSettings
from tests.support.registry import make_registry


def test_the_apps_start_turns_the_collector_back_on(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = make_registry(tmp_path / "registry.db", arches=("rnn",))
    settings = ServiceSettings(database_url=url, api_key="k" * 24, reload_interval_s=0)
    app = create_app(settings)
    thresholds = gc.get_threshold()

    async def start_and_stop() -> bool:
        async with app.router.lifespan_context(app):
            return gc.isenabled()

    gc.disable()
    try:
        assert asyncio.run(start_and_stop()), "the collector is still off once the app has started"
    finally:
        gc.enable()
        gc.unfreeze()
        gc.set_threshold(*thresholds)
