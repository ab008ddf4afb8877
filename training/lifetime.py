"""A child process that must not outlive its parent: a pool worker of `temporal-order train`, a training job of
the service. Without this, a parent killed with SIGKILL leaves its children running (or blocked on a pipe
nobody reads) forever, re-parented to PID 1.

    from training.lifetime import exit_with_parent; exit_with_parent()   # first thing in the child
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
from multiprocessing.connection import wait

logger = logging.getLogger("training.lifetime")

# The exit status of a child whose parent died: 128 + SIGHUP, what a shell reports for a hung-up session.
PARENT_GONE_EXIT_CODE = 129


def _watch(sentinel: int, parent_pid: int) -> None:
    wait([sentinel])
    logger.warning("parent process %d is gone; exiting", parent_pid)
    # os._exit, not sys.exit: the main thread may be deep in a forward pass or blocked writing to a pipe, and
    # nothing it holds (the registry included) is left half-written by dying here: every write is a
    # transaction, and an uncommitted one is rolled back by the database.
    os._exit(PARENT_GONE_EXIT_CODE)


def exit_with_parent() -> bool:
    """Exit this process as soon as the process that started it (through multiprocessing) ends, however it
    ends. Returns False when this process was not started by multiprocessing (nothing to watch)."""
    parent = multiprocessing.parent_process()
    if parent is None or parent.sentinel is None:
        return False
    # The sentinel is the read end of a pipe whose write end only the parent holds: it reads as closed the
    # moment the parent exits, SIGKILL included, with no polling.
    thread = threading.Thread(
        target=_watch, args=(parent.sentinel, parent.pid or 0), name="exit-with-parent", daemon=True
    )
    thread.start()
    return True
