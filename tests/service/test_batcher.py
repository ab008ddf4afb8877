"""The micro-batcher: concurrent submissions share forward passes, answers keep their order, failures reach
every waiter and the worker survives them."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest

from service.batcher import BatcherClosed, MicroBatcher


def _run(coroutine):  # type: ignore[no-untyped-def]
    return asyncio.run(coroutine)


def failing_first_batch() -> Callable[[list[int]], list[int]]:
    """A batch function whose first call raises ValueError("boom") and whose later calls echo their items."""
    calls = 0

    def flaky(items: list[int]) -> list[int]:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise ValueError("boom")
        return items

    return flaky


def test_concurrent_items_are_batched_and_answered_in_order() -> None:
    sizes: list[int] = []
    gate = threading.Event()

    def double(items: list[int]) -> list[int]:
        gate.wait(1)  # the first batch is held back so the others pile up behind it
        return [2 * item for item in items]

    async def scenario() -> list[int]:
        with ThreadPoolExecutor(1) as executor:
            batcher = MicroBatcher(double, executor=executor, max_size=16, on_batch=sizes.append)
            tasks = [asyncio.create_task(batcher.submit(i)) for i in range(50)]
            await asyncio.sleep(0.05)
            gate.set()
            results = await asyncio.gather(*tasks)
            await batcher.close()
            return results

    assert _run(scenario()) == [2 * i for i in range(50)]
    assert sum(sizes) == 50 and max(sizes) <= 16 and len(sizes) < 50


def test_a_lone_request_waits_for_nobody() -> None:
    async def scenario() -> float:
        with ThreadPoolExecutor(1) as executor:
            batcher = MicroBatcher(lambda items: items, executor=executor, max_size=64)
            await batcher.submit(0)  # start-up
            started = time.perf_counter()
            await batcher.submit(1)
            elapsed = time.perf_counter() - started
            await batcher.close()
            return elapsed

    assert _run(scenario()) < 0.05


def test_max_wait_fills_a_batch() -> None:
    sizes: list[int] = []

    async def scenario() -> None:
        with ThreadPoolExecutor(1) as executor:
            batcher = MicroBatcher(lambda items: items, executor=executor, max_wait_s=0.2, on_batch=sizes.append)

            async def later(i: int) -> int:
                await asyncio.sleep(0.02 * i)
                return await batcher.submit(i)

            await asyncio.gather(*(later(i) for i in range(4)))
            await batcher.close()

    _run(scenario())
    assert sizes == [4]


def test_a_failing_batch_fails_its_waiters_and_the_next_one_succeeds() -> None:
    flaky = failing_first_batch()

    async def scenario() -> None:
        with ThreadPoolExecutor(1) as executor:
            batcher = MicroBatcher(flaky, executor=executor)
            with pytest.raises(ValueError, match="boom"):
                await batcher.submit(1)
            assert await batcher.submit(2) == 2
            await batcher.close()

    _run(scenario())


def test_close_fails_queued_waiters() -> None:
    async def scenario() -> None:
        with ThreadPoolExecutor(1) as executor:
            batcher = MicroBatcher(lambda items: (time.sleep(0.2), items)[1], executor=executor, max_size=1)
            tasks = [asyncio.create_task(batcher.submit(i)) for i in range(3)]
            await asyncio.sleep(0.05)
            await batcher.close()
            outcomes = await asyncio.gather(*tasks, return_exceptions=True)
            assert all(isinstance(outcome, BatcherClosed) for outcome in outcomes)

    _run(scenario())


def test_small_batches_run_on_the_loop_thread_and_large_ones_on_the_executor() -> None:
    threads: list[tuple[int, str]] = []

    def record(items: list[int]) -> list[int]:
        threads.append((len(items), threading.current_thread().name))
        return [item + 1 for item in items]

    async def scenario() -> tuple[list[int], list[int]]:
        with ThreadPoolExecutor(1, thread_name_prefix="inference") as executor:
            batcher = MicroBatcher(record, executor=executor, max_size=64, inline_max=4)
            small = await asyncio.gather(*(batcher.submit(i) for i in range(3)))
            large = await asyncio.gather(*(batcher.submit(i) for i in range(40)))
            await batcher.close()
            return list(small), list(large)

    small, large = _run(scenario())
    assert small == [1, 2, 3] and large == [i + 1 for i in range(40)]
    here = threading.current_thread().name  # asyncio.run runs the loop on this thread
    assert all((name == here) == (size <= 4) for size, name in threads)
    assert any(size > 4 for size, _ in threads) and any(size <= 4 for size, _ in threads)


def test_an_inline_batch_that_fails_reaches_every_waiter_and_the_worker_survives() -> None:
    flaky = failing_first_batch()

    async def scenario() -> tuple[list[BaseException | int], int]:
        with ThreadPoolExecutor(1) as executor:
            batcher = MicroBatcher(flaky, executor=executor, max_size=8, inline_max=8)
            first = await asyncio.gather(batcher.submit(1), batcher.submit(2), return_exceptions=True)
            second = await batcher.submit(3)
            await batcher.close()
            return list(first), second

    first, second = _run(scenario())
    assert all(isinstance(error, ValueError) for error in first) and second == 3
