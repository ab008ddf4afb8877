"""The micro-batcher: concurrent submissions share forward passes, answers keep their order, failures reach
every waiter and the worker survives them."""

from __future__ import annotations

import asyncio
import threading
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


async def one_loop_turn() -> None:
    """Let every task that is ready run to its next await (a submit reaches the queue in one turn)."""
    for _ in range(3):
        await asyncio.sleep(0)


def test_concurrent_items_are_batched_and_answered_in_order() -> None:
    sizes: list[int] = []
    entered, gate = threading.Event(), threading.Event()

    def double(items: list[int]) -> list[int]:
        entered.set()
        gate.wait()  # the first batch is held back until the others have piled up behind it
        return [2 * item for item in items]

    async def scenario() -> list[int]:
        with ThreadPoolExecutor(1) as executor:
            batcher = MicroBatcher(double, executor=executor, max_size=16, on_batch=sizes.append)
            first = asyncio.create_task(batcher.submit(0))
            await asyncio.to_thread(entered.wait)
            rest = [asyncio.create_task(batcher.submit(i)) for i in range(1, 50)]
            await one_loop_turn()
            gate.set()
            results = await asyncio.gather(first, *rest)
            await batcher.close()
            return results

    assert _run(scenario()) == [2 * i for i in range(50)]
    # The 49 that queued while the first ran go in batches of at most 16, in the order they came.
    assert sizes == [1, 16, 16, 16, 1]


def test_a_lone_request_waits_for_nobody() -> None:
    """No other request ever comes: the lone one is answered in a batch of its own, not held for company."""
    sizes: list[int] = []

    async def scenario() -> int:
        with ThreadPoolExecutor(1) as executor:
            batcher = MicroBatcher(lambda items: items, executor=executor, max_size=64, on_batch=sizes.append)
            assert batcher.max_wait_s == 0
            result = await asyncio.wait_for(batcher.submit(1), timeout=60)  # a hang fails instead of blocking
            await batcher.close()
            return result

    assert _run(scenario()) == 1
    assert sizes == [1]


def test_max_wait_holds_a_batch_open_until_it_is_full() -> None:
    """Items arriving one loop turn apart, after the batch was started, still join it while `max_wait_s`
    lasts; it closes as soon as it is full. (The wait is far longer than the test: nothing races a clock.)"""
    sizes: list[int] = []

    async def scenario() -> list[int]:
        with ThreadPoolExecutor(1) as executor:
            batcher = MicroBatcher(
                lambda items: items, executor=executor, max_size=4, max_wait_s=100.0, on_batch=sizes.append
            )
            tasks = []
            for i in range(4):
                tasks.append(asyncio.create_task(batcher.submit(i)))
                await one_loop_turn()
            results = await asyncio.wait_for(asyncio.gather(*tasks), timeout=60)
            await batcher.close()
            return list(results)

    assert _run(scenario()) == [0, 1, 2, 3]
    assert sizes == [4]


def test_max_wait_ends_with_a_short_batch_when_nothing_more_comes() -> None:
    sizes: list[int] = []

    async def scenario() -> int:
        with ThreadPoolExecutor(1) as executor:
            batcher = MicroBatcher(
                lambda items: items, executor=executor, max_size=64, max_wait_s=0.01, on_batch=sizes.append
            )
            result = await asyncio.wait_for(batcher.submit(7), timeout=60)
            await batcher.close()
            return result

    assert _run(scenario()) == 7
    assert sizes == [1]


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
    entered, gate = threading.Event(), threading.Event()

    def held(items: list[int]) -> list[int]:
        entered.set()
        gate.wait()
        return items

    async def scenario() -> None:
        with ThreadPoolExecutor(1) as executor:
            batcher = MicroBatcher(held, executor=executor, max_size=1)
            tasks = [asyncio.create_task(batcher.submit(i)) for i in range(3)]
            await asyncio.to_thread(entered.wait)  # one item is running, two are queued
            await batcher.close()
            gate.set()  # lets the executor's thread finish, so the executor can shut down
            outcomes = await asyncio.gather(*tasks, return_exceptions=True)
            assert all(isinstance(outcome, BatcherClosed) for outcome in outcomes), outcomes

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
