"""Startup refuses an un-migrated registry; a corrupt checkpoint takes down only its architecture."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from service.app import create_app
from service.settings import ServiceSettings
from tests.support.registry import make_registry
from tests.support.server import API_KEY
from training.registry import Registry, SchemaNotMigrated


def test_an_unmigrated_registry_is_refused_with_what_to_run(tmp_path: Path) -> None:
    settings = ServiceSettings(database_url=f"sqlite:///{tmp_path / 'empty.db'}", api_key=API_KEY, device="cpu")
    app = create_app(settings)

    async def start() -> None:
        async with app.router.lifespan_context(app):
            pass

    with pytest.raises(SchemaNotMigrated, match="run `temporal-order db upgrade`"):
        asyncio.run(start())


def test_a_corrupt_checkpoint_takes_down_only_its_architecture(
    server_factory: Any, record_version: Any, tmp_path: Path
) -> None:
    url = make_registry(tmp_path / "corrupt.db")
    registry = Registry(url)
    try:
        with registry.engine.begin() as connection:
            data = connection.execute(text("SELECT checkpoint FROM model_versions WHERE arch = 'lstm'")).scalar_one()
            flipped = bytes(data[:-16]) + bytes(b ^ 0xFF for b in data[-16:])
            connection.execute(
                text("UPDATE model_versions SET checkpoint = :data WHERE arch = 'lstm'"), {"data": flipped}
            )
    finally:
        registry.close()
    server = server_factory(url)
    with httpx.Client(base_url=server.url, timeout=30, headers=server.auth) as client:
        ready = client.get("/readyz")
        assert ready.status_code == 200
        assert ready.json()["models"] == {
            "rnn": "ready",
            "lstm": "error",
            "attn_rnn": "ready",
            "attn_rnn_seed": "ready",
            "lstm1997": "ready",
            "gru": "ready",
        }
        assert "corrupt" in ready.json()["detail"]["lstm"]
        lstm = client.get("/models/lstm").json()
        assert lstm["state"] == "error" and "corrupt" in lstm["error"]
        sequence = client.post("/generate", json={"n": 1}).json()["sequences"][0]["sequence"]
        down = client.post("/classify", json={"sequence": sequence, "arch": "lstm"})
        assert down.status_code == 503
        assert down.json()["error"] == "model_not_ready" and "activate" in down.json()["hint"]
        assert client.post("/classify", json={"sequence": sequence, "arch": "rnn"}).status_code == 200
        assert client.post("/classify", json={"sequence": sequence}).json()["arch"] != "lstm"

        # Recovery: a good version activated through the API is loaded and served at once.
        good = record_version(url, "lstm", seed=5, activate=False)
        assert client.post("/models/lstm/activate", json={"version": good}).json()["state"] == "ready"
        answer = client.post("/classify", json={"sequence": sequence, "arch": "lstm"}).json()
        assert answer["model_version"] == good
