"""The promotion gate wired into training jobs (the embedded default, SQLite): a job's best trial that is worse
than the served version is recorded but not served, and the job says why; `force` serves it without the
comparison; rollback through the API restores the version served before, and /models/{arch} shows the history."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import torch

from service.schemas import TERMINAL_JOB_STATUSES, TrainJobPublic
from tests.support.registry import make_registry
from training.architectures import build_model, default_config
from training.evaluate import evaluate
from training.protocol import TrialRecord, TrialResult
from training.registry import Registry
from training.task import get_task
from training.train import default_train_config

from .test_jobs import job, wait_for

# 100 sequences leave an lstm right on no test sequence by the paper's rule (no output within 0.3 of its target).
TINY_JOB = {"arch": "lstm", "trials": 1, "max_sequences": 100, "seed": 1, "batch_size": 32}


def _record_sure_of_class_0(url: str) -> int:
    """Serve an lstm that answers class 0 with certainty: right (paper's rule) on every class-0 sequence, so a
    briefly trained version, right on none, is worse."""
    task = get_task("6b")
    torch.manual_seed(0)
    config = default_config("lstm", n_classes=task.n_classes)
    model = build_model(config).eval()
    with torch.no_grad():
        head = model.head  # type: ignore[union-attr]
        head.weight.zero_()
        head.bias.fill_(-20.0)
        head.bias[0] = 20.0
    trial = TrialResult(model, config, default_train_config("lstm"), task, 0, False, 0, None)
    registry = Registry(url)
    try:
        record = TrialRecord(trial=trial, test=evaluate(model, task, seed=0, n_test=200))
        return registry.record_run("lstm", task, [record], activate=True).version_numbers[0]
    finally:
        registry.close()


def _ended(client: httpx.Client, job_id: str) -> TrainJobPublic:
    final: TrainJobPublic = wait_for(lambda: (j := job(client, job_id)).status in TERMINAL_JOB_STATUSES and j, 300)
    return final


def test_the_gate_refuses_a_worse_version_force_overrides_and_rollback_restores(
    server_factory: Any, tmp_path: Path
) -> None:
    url = make_registry(tmp_path / "gate.db", arches=())
    served = _record_sure_of_class_0(url)
    server = server_factory(url)
    with httpx.Client(base_url=server.url, timeout=60) as client:
        refused = _ended(client, client.post("/train", json=TINY_JOB, headers=server.auth).json()["id"])
        assert refused.status == "succeeded", refused.error
        decision = refused.promotion["lstm"]
        assert not decision.promoted and decision.served == served and decision.candidate == served + 1
        assert decision.candidate_wrong is not None and decision.served_wrong is not None
        assert decision.candidate_wrong > decision.served_wrong and "not promoted" in decision.reason
        assert client.get("/models/lstm").json()["active_version"] == served

        forced_job = {**TINY_JOB, "seed": 2, "force": True}
        forced_id = client.post("/train", json=forced_job, headers=server.auth).json()["id"]
        forced = _ended(client, forced_id)
        assert forced.status == "succeeded" and forced.promotion["lstm"].promoted and forced.promotion["lstm"].forced
        new = forced.promotion["lstm"].candidate
        wait_for(lambda: client.get("/models/lstm").json()["active_version"] == new, timeout=30)
        history = client.get("/models/lstm").json()["history"]
        assert [(h["from_version"], h["to_version"], h["by"]) for h in history] == [
            (served, new, f"job {forced_id}"),
            (None, served, "train"),
        ]

        rolled = client.post("/models/lstm/rollback", headers=server.auth)
        assert rolled.status_code == 200, rolled.text
        assert rolled.json()["active_version"] == served and rolled.json()["history"][0]["undoes"] is not None
        sequence = client.post("/generate", json={"n": 1, "seed": 3}).json()["sequences"][0]["sequence"]
        assert client.post("/classify", json={"sequence": sequence, "arch": "lstm"}).json()["model_version"] == served
