"""GET /models/{arch}/versions/{version}/curve over HTTP and through both SDK clients."""

from __future__ import annotations

import asyncio

import httpx

from service import client as sdk
from service.schemas import VersionCurve
from tests.support.server import LiveServer


def test_curve_of_a_trained_version_and_its_run(
    curve_server: LiveServer, trained_registry: tuple[str, list[int]]
) -> None:
    _, versions = trained_registry
    response = httpx.get(f"{curve_server.url}/models/lstm/versions/{versions[1]}/curve", timeout=30)
    assert response.status_code == 200
    curve = VersionCurve.model_validate(response.json())
    assert (curve.arch, curve.version, curve.task) == ("lstm", versions[1], "6b")
    # one point every 256 sequences up to the 1024 trained, the last at the sequences really seen
    assert [point.sequences for point in curve.points][:4] == [256, 512, 768, 1024]
    assert all(0.0 <= point.train_accuracy <= 1.0 and point.train_error >= 0.0 for point in curve.points)
    assert [trial.version for trial in curve.run_trials] == versions
    assert [trial.seed for trial in curve.run_trials] == [0, 1]
    assert curve.run_trials[1].points == curve.points
    assert curve.run_trials[0].points != curve.points  # another seed, another trajectory


def test_curve_errors_name_what_is_missing(curve_server: LiveServer) -> None:
    missing = httpx.get(f"{curve_server.url}/models/rnn/versions/999/curve", timeout=30)
    assert missing.status_code == 404
    assert missing.json()["error"] == "not_found" and "999" in missing.json()["message"]
    unknown = httpx.get(f"{curve_server.url}/models/transformer/versions/1/curve", timeout=30)
    assert unknown.status_code == 422 and unknown.json()["details"][0]["loc"] == ["path", "arch"]
    zero = httpx.get(f"{curve_server.url}/models/rnn/versions/0/curve", timeout=30)
    assert zero.status_code == 422 and zero.json()["details"][0]["loc"] == ["path", "version"]


def test_sdk_curve_sync_and_async(curve_server: LiveServer, trained_registry: tuple[str, list[int]]) -> None:
    _, versions = trained_registry
    with sdk.Client(curve_server.url) as client:
        synced = client.curve("lstm", version=versions[0])
        try:
            client.curve("rnn", version=999)
        except sdk.NotFoundError as error:
            assert "999" in error.message
        else:
            raise AssertionError("a missing version must raise NotFoundError")

    async def fetch() -> VersionCurve:
        async with sdk.AsyncClient(curve_server.url) as client:
            return await client.curve("lstm", version=versions[0])

    assert asyncio.run(fetch()) == synced
    assert synced.version == versions[0] and len(synced.points) >= 4
