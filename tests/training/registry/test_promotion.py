"""The promotion gate on a real registry: a worse version is refused, a better or equal one promoted, both
scored on one fresh test set; forced, different tasks, a stale comparison, and nothing served yet. A job's
activation happens only under its worker's lease, checked in the activation's own transaction."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import torch

from training.promotion import best_version, promote, promote_job
from training.protocol import TrialRecord
from training.registry import JobParams, Registry
from training.registry.orm import utcnow
from training.registry.queue import JobLease, LeaseLost
from training.task import get_task

from .conftest import make_trial_record

# The tests score on this many sequences: each class turns up many times among them.
N_TEST = 200


def _record(seed: int, *, sure_of_class_0: bool, task_name: str = "6b") -> TrialRecord:
    """An untrained LSTM is wrong on every sequence by the paper's rule (no output within 0.3 of its target); with
    its head's bias pushed towards class 0 it is right on every class-0 sequence and so strictly better."""
    record = make_trial_record("lstm", seed=seed, task=get_task(task_name))
    if sure_of_class_0:
        with torch.no_grad():
            head = record.trial.model.head  # type: ignore[union-attr]
            head.weight.zero_()
            head.bias.fill_(-20.0)
            head.bias[0] = 20.0
    return record


def _served(registry: Registry) -> int | None:
    active = registry.active_version("lstm")
    return None if active is None else active.version


def test_a_worse_version_is_refused_and_a_better_one_promoted(registry: Registry) -> None:
    task = get_task("6b")
    registry.record_run("lstm", task, [_record(0, sure_of_class_0=True)])  # version 1, served
    registry.record_run("lstm", task, [_record(1, sure_of_class_0=False)], activate=False)  # version 2, worse

    refused = promote(registry, "lstm", 2, by="job worse", n_test=N_TEST, test_seed=7)
    assert not refused.promoted and _served(registry) == 1
    assert refused.candidate_wrong == N_TEST and refused.served_wrong is not None
    assert refused.served_wrong < N_TEST and refused.test_seed == 7 and refused.n_test == N_TEST
    assert "not promoted" in refused.reason and f"version 2 has {N_TEST} wrong of {N_TEST}" in refused.reason

    registry.activate("lstm", 2, by="cli")
    accepted = promote(registry, "lstm", 1, by="job better", n_test=N_TEST)
    assert accepted.promoted and _served(registry) == 1
    assert accepted.candidate_wrong is not None and accepted.served_wrong == N_TEST
    assert accepted.candidate_wrong < accepted.served_wrong and accepted.reason.endswith(": promoted")
    assert registry.activation_history("lstm")[0].by == "job better"


def test_an_equally_good_version_is_promoted(registry: Registry) -> None:
    task = get_task("6b")
    registry.record_run("lstm", task, [_record(0, sure_of_class_0=False)])
    registry.record_run("lstm", task, [_record(1, sure_of_class_0=False)], activate=False)
    decision = promote(registry, "lstm", 2, by="job", n_test=N_TEST)
    assert decision.promoted and decision.candidate_wrong == decision.served_wrong == N_TEST  # fewer or equal


def test_force_skips_the_comparison(registry: Registry) -> None:
    task = get_task("6b")
    registry.record_run("lstm", task, [_record(0, sure_of_class_0=True)])
    registry.record_run("lstm", task, [_record(1, sure_of_class_0=False)], activate=False)
    decision = promote(registry, "lstm", 2, by="job forced", force=True)
    assert decision.promoted and decision.forced and decision.candidate_wrong is None
    assert "forced" in decision.reason and _served(registry) == 2


def test_nothing_served_promotes_and_another_task_is_refused(registry: Registry) -> None:
    registry.record_run("lstm", get_task("6b"), [_record(0, sure_of_class_0=False)], activate=False)
    first = promote(registry, "lstm", 1, by="job first")
    assert first.promoted and first.served is None and "no version of lstm was served" in first.reason
    registry.record_run("lstm", get_task("6a"), [_record(1, sure_of_class_0=True, task_name="6a")], activate=False)
    other_task = promote(registry, "lstm", 2, by="job 6a")
    assert not other_task.promoted and _served(registry) == 1
    assert "trained for task 6a" in other_task.reason and "force" in other_task.reason


def test_best_version_picks_the_fewest_wrong(registry: Registry) -> None:
    run = registry.record_run(
        "lstm", get_task("6b"), [make_trial_record(wrong_argmax=9), make_trial_record(seed=1, wrong_argmax=2)]
    )
    assert best_version(registry.run_versions(run.id)).version == 2


def test_a_lease_taken_over_just_before_the_activation_activates_nothing(
    any_registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    task = get_task("6b")
    any_registry.record_run("lstm", task, [_record(0, sure_of_class_0=False)])  # version 1, served
    job = any_registry.create_job(JobParams(arch="lstm", task="6b", trials=1, max_sequences=100, seed=0, retries=1))
    assert any_registry.claim_job("worker-a", lease_s=30) is not None
    # The job's trial, better than the served version: the gate would promote it.
    any_registry.record_run("lstm", task, [_record(1, sure_of_class_0=True)], activate=False, job_id=job.id)
    history = any_registry.activation_history("lstm")
    activate_if_served = any_registry.activate_if_served

    def taken_over_first(*args: Any, **kwargs: Any) -> bool:
        # The fault: after the gate's comparison, just before its activation, worker-a's lease runs out and
        # worker-b claims the job again.
        assert [e.status for e in any_registry.expire_leases(now=utcnow() + timedelta(seconds=31))] == ["queued"]
        assert any_registry.claim_job("worker-b", lease_s=30) is not None
        return activate_if_served(*args, **kwargs)

    monkeypatch.setattr(any_registry, "activate_if_served", taken_over_first)
    with pytest.raises(LeaseLost, match="no longer run by worker worker-a"):
        promote_job(any_registry, job.id, worker="worker-a", n_test=N_TEST)
    assert _served(any_registry) == 1 and any_registry.activation_history("lstm") == history
    assert any_registry.job(job.id).promotion is None  # nothing says the job activated anything
    monkeypatch.undo()
    # The worker that holds the job now passes the same gate.
    decision = promote_job(any_registry, job.id, worker="worker-b", n_test=N_TEST)["lstm"]
    assert decision.promoted and _served(any_registry) == 2
    assert any_registry.activation_history("lstm")[0].by == f"job {job.id}"


def test_an_activation_under_an_expired_lease_is_refused_even_before_anyone_ends_the_job(
    any_registry: Registry,
) -> None:
    any_registry.record_run("lstm", get_task("6b"), [_record(0, sure_of_class_0=False)] * 2, activate=False)
    job = any_registry.create_job(JobParams(arch="lstm", task="6b", trials=1, max_sequences=100, seed=0))
    # A lease of a microsecond has run out by the time the activation looks; nobody has expired the job yet.
    assert any_registry.claim_job("worker-a", lease_s=1e-6) is not None
    assert any_registry.job(job.id).status == "running"
    with pytest.raises(LeaseLost):
        any_registry.activate_if_served("lstm", 1, served=None, by="job", lease=JobLease(job.id, "worker-a"))
    assert _served(any_registry) is None
    any_registry.heartbeat(job.id, "worker-a", lease_s=30)  # renewed: the same activation goes through
    assert any_registry.activate_if_served("lstm", 1, served=None, by="job", lease=JobLease(job.id, "worker-a"))
    assert _served(any_registry) == 1
