"""An asyncio micro-batcher: concurrent single requests share one forward pass.

While a batch runs on the inference thread, new requests queue; when it returns, the worker takes everything
queued (up to `max_size`) as the next batch. A lone request therefore waits for nobody, and under load the
batches grow by themselves. `max_wait_s` > 0 additionally holds a short batch open for that long.

Work is measured by `cost` (for sequences: symbols), not by the number of items: a batch costs its size times
its costliest item (rows are padded to the longest), only a batch within `inline_max_cost` runs on the event
loop, and a batch never takes in items beyond `max_cost` (one item over it runs alone).

`on_wait`, when given, is told at the start of every batch how long each of its items waited since `submit`: the
queue-wait histogram of /metrics.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from typing import Generic, TypeAlias, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")
# An item, the future its submitter awaits, and when it was submitted (time.perf_counter).
Entry: TypeAlias = tuple[Item, "asyncio.Future[Result]", float]

logger = logging.getLogger("service.batcher")


class BatcherClosed(RuntimeError):
    """The batcher was shut down before it could answer."""


class MicroBatcher(Generic[Item, Result]):
    """Collects items from concurrent `submit` calls and runs them through `run_batch` on `executor`, or on
    the event loop itself when a batch has at most `inline_max` items."""

    def __init__(
        self,
        run_batch: Callable[[list[Item]], Sequence[Result]],
        *,
        executor: Executor,
        max_size: int = 128,
        max_wait_s: float = 0.0,
        inline_max: int = 0,
        cost: Callable[[Item], int] | None = None,
        inline_max_cost: int | None = None,
        max_cost: int | None = None,
        on_batch: Callable[[int], None] | None = None,
        on_wait: Callable[[list[float]], None] | None = None,
        name: str = "batcher",
    ) -> None:
        if max_size < 1:
            raise ValueError("max_size must be >= 1")
        self._run_batch = run_batch
        self._executor = executor
        self.max_size = max_size
        self.max_wait_s = max_wait_s
        self.inline_max = inline_max
        self._cost = cost or (lambda _item: 1)
        self.inline_max_cost = inline_max_cost
        self.max_cost = max_cost
        self._on_batch = on_batch
        self._on_wait = on_wait
        self._name = name
        self._queue: asyncio.Queue[Entry[Item, Result]] = asyncio.Queue()
        # An item taken from the queue that would have pushed a batch over `max_cost`: it opens the next one.
        self._carried: Entry[Item, Result] | None = None
        self._worker: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._worker is None:
            self._worker = asyncio.get_running_loop().create_task(self._work(), name=self._name)

    async def close(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
            self._worker = None
        pending = [self._carried] if self._carried is not None else []
        self._carried = None
        while not self._queue.empty():
            pending.append(self._queue.get_nowait())
        for _, future, _ in pending:
            if not future.done():
                future.set_exception(BatcherClosed("the service is shutting down"))

    async def submit(self, item: Item) -> Result:
        """The result of `run_batch` for `item`, computed together with whatever else is queued."""
        if self._worker is None:
            self.start()
        future: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        await self._queue.put((item, future, time.perf_counter()))
        return await future

    def batch_cost(self, items: Sequence[Item]) -> int:
        """What running `items` together costs: rows are padded to the costliest."""
        return len(items) * max((self._cost(item) for item in items), default=0)

    def _fits(self, batch: list[Entry[Item, Result]], entry: Entry[Item, Result]) -> bool:
        if self.max_cost is None:
            return True
        return self.batch_cost([queued[0] for queued in batch] + [entry[0]]) <= self.max_cost

    def _take(self, batch: list[Entry[Item, Result]], entry: Entry[Item, Result]) -> bool:
        """Add `entry` to `batch` if it fits; otherwise carry it to the next batch. Whether it was added."""
        if self._fits(batch, entry):
            batch.append(entry)
            return True
        self._carried = entry
        return False

    async def _collect(self) -> list[Entry[Item, Result]]:
        if self._carried is not None:
            batch, self._carried = [self._carried], None
        else:
            batch = [await self._queue.get()]
        # One turn of the loop lets requests whose bodies arrived together join this batch.
        await asyncio.sleep(0)
        while len(batch) < self.max_size and not self._queue.empty():
            if not self._take(batch, self._queue.get_nowait()):
                return batch
        if self.max_wait_s > 0 and len(batch) < self.max_size:
            deadline = time.monotonic() + self.max_wait_s
            while len(batch) < self.max_size:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                try:
                    entry = await asyncio.wait_for(self._queue.get(), remaining)
                except TimeoutError:
                    break
                if not self._take(batch, entry):
                    break
        return batch

    def _runs_inline(self, items: list[Item]) -> bool:
        if len(items) > self.inline_max:
            return False
        return self.inline_max_cost is None or self.batch_cost(items) <= self.inline_max_cost

    async def _work(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = await self._collect()
            live = [entry for entry in batch if not entry[1].done()]
            if not live:
                continue
            if self._on_batch is not None:
                self._on_batch(len(live))
            if self._on_wait is not None:
                now = time.perf_counter()
                self._on_wait([now - submitted for _, _, submitted in live])
            items = [item for item, _, _ in live]
            try:
                if self._runs_inline(items):
                    # A cheap batch's forward costs less than handing it to another thread and back.
                    results = self._run_batch(items)
                else:
                    results = await loop.run_in_executor(self._executor, self._run_batch, items)
            except asyncio.CancelledError:
                for _, future, _ in live:
                    if not future.done():
                        future.set_exception(BatcherClosed("the service is shutting down"))
                raise
            except Exception as error:  # every waiter gets the failure; the worker keeps serving
                logger.warning("%s: batch of %d failed: %s", self._name, len(live), error)
                for _, future, _ in live:
                    if not future.done():
                        future.set_exception(error)
                continue
            for (_, future, _), result in zip(live, results, strict=True):
                if not future.done():
                    future.set_result(result)
