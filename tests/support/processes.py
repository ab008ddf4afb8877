"""The processes a test looks for under a server or a worker: the ones that run user code (a job's trainer, a
`train` command's pool worker), not multiprocessing's helpers; and a stand-in trainer that ignores SIGTERM."""

from __future__ import annotations

import signal
import time
from typing import Any

import psutil

FORK_SERVER = "multiprocessing.forkserver"


def _command(process: psutil.Process) -> str:
    try:
        return " ".join(process.cmdline())
    except (psutil.NoSuchProcess, psutil.ZombieProcess):
        return ""


def user_children(parent: psutil.Process) -> list[psutil.Process]:
    """`parent`'s multiprocessing descendants that run user code: spawned ones, and those forked by a fork server
    (a worker's trainers, service/worker.py), but neither the fork server itself nor the resource tracker."""
    found = []
    for child in parent.children(recursive=True):
        command = _command(child)
        if "spawn_main" in command:
            found.append(child)
        elif FORK_SERVER in command:
            try:
                forked_by_server = FORK_SERVER in _command(child.parent())
            except (psutil.NoSuchProcess, AttributeError):
                continue
            if forked_by_server:
                found.append(child)
    return found


def fork_servers(parent: psutil.Process) -> list[psutil.Process]:
    """`parent`'s own fork servers (a worker's, service/worker.py), not the trainers they forked."""
    return [child for child in parent.children() if FORK_SERVER in _command(child)]


def ignore_sigterm_and_sleep(ready: Any) -> None:
    """A multiprocessing target that ignores SIGTERM, sets `ready` and sleeps: a trainer that never honours a
    cancel. It lives here, in a module that imports no torch, so that a spawned process starts in a moment."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    ready.set()
    time.sleep(600)
