"""An asyncio micro-batcher: concurrent single requests share one forward pass.

While a batch runs on the inference thread, new requests queue; when it returns, the worker takes everything
queued (up to `max_size`) as the next batch. A lone request therefore waits for nobody, and under load the
batches grow by themselves. `max_wait_s` > 0 additionally holds a short batch open for that long.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from typing import Generic, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")

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
        on_batch: Callable[[int], None] | None = None,
        name: str = "batcher",
    ) -> None:
        if max_size < 1:
            raise ValueError("max_size must be >= 1")
        self._run_batch = run_batch
        self._executor = executor
        self.max_size = max_size
        self.max_wait_s = max_wait_s
        self.inline_max = inline_max
        self._on_batch = on_batch
        self._name = name
        self._queue: asyncio.Queue[tuple[Item, asyncio.Future[Result]]] = asyncio.Queue()
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
        while not self._queue.empty():
            _, future = self._queue.get_nowait()
            if not future.done():
                future.set_exception(BatcherClosed("the service is shutting down"))

    async def submit(self, item: Item) -> Result:
        """The result of `run_batch` for `item`, computed together with whatever else is queued."""
        if self._worker is None:
            self.start()
        future: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        await self._queue.put((item, future))
        return await future

    async def _collect(self) -> list[tuple[Item, asyncio.Future[Result]]]:
        batch = [await self._queue.get()]
        # One turn of the loop lets requests whose bodies arrived together join this batch.
        await asyncio.sleep(0)
        while len(batch) < self.max_size and not self._queue.empty():
            batch.append(self._queue.get_nowait())
        if self.max_wait_s > 0 and len(batch) < self.max_size:
            deadline = time.monotonic() + self.max_wait_s
            while len(batch) < self.max_size:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                try:
                    batch.append(await asyncio.wait_for(self._queue.get(), remaining))
                except TimeoutError:
                    break
        return batch

    async def _work(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = await self._collect()
            live = [(item, future) for item, future in batch if not future.done()]
            if not live:
                continue
            if self._on_batch is not None:
                self._on_batch(len(live))
            items = [item for item, _ in live]
            try:
                if len(items) <= self.inline_max:
                    # A small batch's forward costs less than handing it to another thread and back.
                    results = self._run_batch(items)
                else:
                    results = await loop.run_in_executor(self._executor, self._run_batch, items)
            except asyncio.CancelledError:
                for _, future in live:
                    if not future.done():
                        future.set_exception(BatcherClosed("the service is shutting down"))
                raise
            except Exception as error:  # every waiter gets the failure; the worker keeps serving
                logger.warning("%s: batch of %d failed: %s", self._name, len(live), error)
                for _, future in live:
                    if not future.done():
                        future.set_exception(error)
                continue
            for (_, future), result in zip(live, results, strict=True):
                if not future.done():
                    future.set_result(result)
