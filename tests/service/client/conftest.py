"""Fixtures for the SDK's unit tests: schema-valid answers and a scripted, attempt-counting transport."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import httpx
import pytest

CLASSES = ["XXX", "XXY", "XYX", "XYY", "YXX", "YXY", "YYX", "YYY"]


def classify_body(label: str = "XYX") -> dict[str, Any]:
    probabilities = {name: (0.93 if name == label else 0.01) for name in CLASSES}
    return {
        "label": label,
        "class_index": CLASSES.index(label),
        "probabilities": probabilities,
        "arch": "lstm",
        "model_version": 1,
        "rule_label": label,
        "in_distribution": True,
    }


def job_body(job_id: str = "job-1", status: str = "queued", sequences: int = 0) -> dict[str, Any]:
    return {
        "id": job_id,
        "status": status,
        "params": {"arch": "lstm", "max_sequences": 1000},
        "progress": {"arch": "lstm", "trial": 1, "trials": 1, "sequences": sequences, "max_sequences": 1000},
        "results": [],
        "created_at": "2024-01-01T00:00:00Z",
        "status_url": f"/train/{job_id}",
    }


def error_body(error: str = "unavailable", message: str = "models are loading", **extra: Any) -> dict[str, Any]:
    return {"error": error, "message": message, **extra}


Reply = httpx.Response | Exception
Script = Callable[[httpx.Request], Reply]


@dataclass
class Recorder:
    """A transport handler that answers from a script and keeps every request it saw."""

    replies: list[Reply] | Script
    requests: list[httpx.Request] = field(default_factory=list)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if callable(self.replies):
            reply = self.replies(request)
        else:
            reply = self.replies.pop(0) if len(self.replies) > 1 else self.replies[0]
        if isinstance(reply, Exception):
            raise reply
        return reply

    def attempts(self, method: str, path: str) -> int:
        return sum(1 for r in self.requests if r.method == method and r.url.path == path)


@pytest.fixture
def fakes() -> SimpleNamespace:
    """The helpers above (conftest modules aren't importable under --import-mode=importlib)."""
    return SimpleNamespace(
        classify_body=classify_body, job_body=job_body, error_body=error_body, Recorder=Recorder, CLASSES=CLASSES
    )


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
