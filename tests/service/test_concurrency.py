"""Micro-batching under concurrency: single answers equal batched ones, and swapping a version drops nothing."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import httpx
import pytest

CONCURRENCY = 64


def _sequences(live_server: Any, n: int, seed: int) -> list[str]:
    body = httpx.post(f"{live_server.url}/generate", json={"n": n, "seed": seed}, timeout=30).json()
    return [item["sequence"] for item in body["sequences"]]


async def _classify_concurrently(url: str, sequences: list[str], arch: str) -> list[httpx.Response]:
    limits = httpx.Limits(max_connections=CONCURRENCY)
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as client:
        return await asyncio.gather(*(client.post("/classify", json={"sequence": s, "arch": arch}) for s in sequences))


def _micro_batches(live_server: Any, arch: str) -> tuple[float, float]:
    """(batches, sequences) of the micro-batcher for `arch`, from the Prometheus exposition."""
    text = httpx.get(f"{live_server.url}/metrics", headers={"Accept": "text/plain"}, timeout=30).text
    labels = f'arch="{arch}",kind="micro"'
    count = re.search(rf"temporal_order_inference_batch_size_count\{{{labels}\}} (\S+)", text)
    total = re.search(rf"temporal_order_inference_batch_size_sum\{{{labels}\}} (\S+)", text)
    return (float(count.group(1)) if count else 0.0, float(total.group(1)) if total else 0.0)


@pytest.mark.parametrize("arch", ["lstm", "attn_rnn"])
def test_single_and_batched_results_agree_under_concurrency(live_server: Any, arch: str) -> None:
    sequences = _sequences(live_server, 128, seed=11)
    before = _micro_batches(live_server, arch)
    singles = asyncio.run(_classify_concurrently(live_server.url, sequences, arch))
    after = _micro_batches(live_server, arch)
    assert all(r.status_code == 200 for r in singles)
    batched = httpx.post(
        f"{live_server.url}/classify/batch", json={"sequences": sequences, "arch": arch}, timeout=60
    ).json()["results"]
    for single, together in zip((r.json() for r in singles), batched, strict=True):
        assert single["label"] == together["label"]
        assert single["model_version"] == together["model_version"]
        for name, probability in single["probabilities"].items():
            assert probability == pytest.approx(together["probabilities"][name], abs=1e-5)
    batches, seen = after[0] - before[0], after[1] - before[1]
    assert seen == len(sequences)
    assert batches < len(sequences), "concurrent requests should have shared forward passes"


def test_activation_under_load_drops_no_request(live_server: Any, record_version: Any) -> None:
    """Swap rnn between two versions while 64 clients classify with it non-stop: every request succeeds, and
    after each swap the load goes on until an answer from the newly active version has come back, so the
    requests overlap every swap however fast or slow the machine is."""
    original = httpx.get(f"{live_server.url}/models/rnn", timeout=30).json()["active_version"]
    other = record_version(live_server.database_url, "rnn", seed=99, activate=False)
    sequences = _sequences(live_server, CONCURRENCY, seed=12)
    swaps = (other, original, other, original)

    async def scenario() -> tuple[list[httpx.Response], list[int]]:
        responses: list[httpx.Response] = []
        served: list[int | None] = []  # the version behind each response, None when it failed
        answered = asyncio.Condition()
        swapped = asyncio.Event()
        answered_after_swap: list[int] = []

        async def classify_until_swapped(client: httpx.AsyncClient, sequence: str) -> None:
            while not swapped.is_set():
                response = await client.post("/classify", json={"sequence": sequence, "arch": "rnn"})
                async with answered:
                    responses.append(response)
                    served.append(response.json()["model_version"] if response.status_code == 200 else None)
                    answered.notify_all()

        def served_since(mark: int, version: int) -> bool:
            return version in served[mark:]

        async def swap() -> None:
            async with httpx.AsyncClient(base_url=live_server.url, timeout=60, headers=live_server.auth) as admin:
                async with answered:
                    await answered.wait_for(lambda: len(responses) >= CONCURRENCY)  # the load is running
                for version in swaps:
                    response = await admin.post("/models/rnn/activate", json={"version": version})
                    assert response.status_code == 200, response.text
                    async with answered:
                        mark = len(responses)
                        await answered.wait_for(lambda: served_since(mark, version))  # noqa: B023
                        answered_after_swap.append(len(responses) - mark)
            swapped.set()

        limits = httpx.Limits(max_connections=CONCURRENCY)
        async with httpx.AsyncClient(base_url=live_server.url, timeout=60, limits=limits) as client:
            load = [asyncio.create_task(classify_until_swapped(client, s)) for s in sequences]
            await asyncio.wait_for(asyncio.gather(swap(), *load), timeout=120)
        return responses, answered_after_swap

    responses, answered_after_swap = asyncio.run(scenario())
    assert [r.status_code for r in responses] == [200] * len(responses)
    versions = [r.json()["model_version"] for r in responses]
    assert set(versions) == {original, other}
    assert len(answered_after_swap) == len(swaps) and all(count >= 1 for count in answered_after_swap)
    assert httpx.get(f"{live_server.url}/models/rnn", timeout=30).json()["active_version"] == original
