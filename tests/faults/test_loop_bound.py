"""Issue 14, item 3: work is bounded by its cost in symbols, not by the number of requests. A micro-batch
runs on the event loop only while it is cheap; a costly one goes to the inference thread, and no batch takes
in more than its symbol budget."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor

from service.batcher import MicroBatcher


def run_batches(items: list[str], **limits: int) -> list[tuple[list[str], str]]:
    """Submit `items` together (each costs its length); return each batch with the thread that ran it."""
    batches: list[tuple[list[str], str]] = []

    def run_batch(batch: list[str]) -> list[int]:
        batches.append((list(batch), threading.current_thread().name))
        return [len(item) for item in batch]

    async def main() -> list[int]:
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="inference") as executor:
            batcher = MicroBatcher(run_batch, executor=executor, inline_max=64, cost=len, **limits)
            try:
                return list(await asyncio.gather(*(batcher.submit(item) for item in items)))
            finally:
                await batcher.close()

    assert asyncio.run(main()) == [len(item) for item in items]
    return batches


def test_a_cheap_batch_runs_on_the_loop_and_a_costly_one_off_it() -> None:
    loop_thread = threading.current_thread().name  # asyncio.run runs the loop on this thread
    (cheap,) = run_batches(["E" + "a" * 98 + "B"] * 4, inline_max_cost=1_000)
    assert cheap[1] == loop_thread
    # Four requests, as before, but long ones: the same count no longer runs on the loop.
    (costly,) = run_batches(["E" + "a" * 9_998 + "B"] * 4, inline_max_cost=1_000)
    assert costly[1].startswith("inference")


def test_a_batch_takes_in_no_more_than_its_symbol_budget() -> None:
    items = ["a" * 60, "b" * 60, "c" * 30, "d" * 200]
    batches = run_batches(items, inline_max_cost=0, max_cost=100)
    # Padded cost: size x longest. 60 + 60 would be 120; 60 + 30 is 2 x 60 = 120 too; an item over the budget
    # runs alone.
    assert [batch for batch, _ in batches] == [["a" * 60], ["b" * 60], ["c" * 30], ["d" * 200]]
    assert all(thread.startswith("inference") for _, thread in batches)
