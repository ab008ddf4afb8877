"""The worker's fallback for a trainer that ignores its cancel: one SIGTERM and one warning after the grace, then a
SIGKILL if it still lives, rather than a SIGTERM and a warning at every poll (a log flood seen on a busy machine).
The trainer here is a real process that ignores SIGTERM; only the registry's heartbeat answer is injected (the
fault: a cancel asked for a started trainer that never honours it)."""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import signal

import pytest

from service import worker as worker_module
from service.worker import JobWorker
from tests.support.processes import ignore_sigterm_and_sleep
from training.registry.queue import Heartbeat


class _CancelAskedRegistry:
    """Answers every heartbeat: still ours, a cancel was asked for, the trainer has started."""

    def heartbeat(self, job_id: str, worker_id: str, *, lease_s: float) -> Heartbeat:
        return Heartbeat(owned=True, cancel_requested=True, started=True)


async def _supervise(worker: JobWorker, process: multiprocessing.process.BaseProcess) -> bool:
    async def started() -> None:
        return None

    starting = asyncio.create_task(started())
    await starting
    return await worker._supervise("job-1", process, starting)


def test_a_trainer_ignoring_its_cancel_is_terminated_once_then_killed(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(worker_module, "CANCEL_GRACE_S", 0.3)
    monkeypatch.setattr(worker_module, "KILL_AFTER_TERMINATE_S", 1.0)
    worker = JobWorker(_CancelAskedRegistry(), database_url="sqlite://", lease_s=0.3)  # type: ignore[arg-type]
    context = multiprocessing.get_context("spawn")
    ready = context.Event()
    process = context.Process(target=ignore_sigterm_and_sleep, args=(ready,), daemon=True)
    process.start()
    try:
        assert ready.wait(timeout=120), "the stand-in trainer never started"
        with caplog.at_level(logging.WARNING, logger=worker_module.logger.name):
            lost = asyncio.run(asyncio.wait_for(_supervise(worker, process), timeout=120))
    finally:
        if process.is_alive():
            process.kill()
        process.join(timeout=10)
    assert lost is False
    assert process.exitcode == -signal.SIGKILL
    messages = [record.getMessage() for record in caplog.records]
    assert sum("ignored its cancel request" in message for message in messages) == 1, messages
    assert sum("killing it" in message for message in messages) == 1, messages
