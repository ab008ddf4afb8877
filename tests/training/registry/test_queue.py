"""Jobs as a durable queue, on SQLite and on PostgreSQL: claimed once, renewed by their owner only, and ended
by an expired lease (requeued while attempts remain), never because another worker started."""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import timedelta

import pytest

from training.protocol import TrialProgress
from training.registry import JobParams, Registry
from training.registry.orm import utcnow
from training.registry.queue import LeaseLost, new_worker_id

PARAMS = JobParams(arch="lstm", task="6b", trials=1, max_sequences=1000, seed=0)
PROGRESS = TrialProgress("lstm", 1, 1, 100, 1000, 0.5, 0.25)


def test_a_claimed_job_is_owned_leased_and_not_claimed_again(any_registry: Registry) -> None:
    first, second = any_registry.create_job(PARAMS), any_registry.create_job(PARAMS)
    claimed = any_registry.claim_job("worker-a", lease_s=30)
    assert claimed is not None and claimed.id == first.id  # oldest first
    assert (claimed.status, claimed.owner, claimed.attempts) == ("running", "worker-a", 1)
    assert claimed.started_at is not None and claimed.lease_expires_at is not None
    assert claimed.lease_expires_at > utcnow() + timedelta(seconds=25)
    other = any_registry.claim_job("worker-b", lease_s=30)
    assert other is not None and other.id == second.id and other.owner == "worker-b"
    assert any_registry.claim_job("worker-c", lease_s=30) is None


def test_a_cancelled_job_is_never_claimed(any_registry: Registry) -> None:
    any_registry.request_cancel(any_registry.create_job(PARAMS).id)
    assert any_registry.claim_job("worker-a") is None


def test_concurrent_claims_take_each_job_exactly_once(any_registry: Registry) -> None:
    ids = {any_registry.create_job(PARAMS).id for n in range(12)}
    taken: list[tuple[str, str]] = []
    lock = threading.Lock()
    start = threading.Barrier(4)

    def worker(name: str) -> None:
        start.wait()
        while (job := any_registry.claim_job(name, lease_s=30)) is not None:
            with lock:
                taken.append((job.id, name))

    threads = [threading.Thread(target=worker, args=(f"w{n}",)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(job_id for job_id, _ in taken) == sorted(ids)  # every job once, none twice
    assert all(any_registry.job(job_id).owner == name for job_id, name in taken)


def test_only_the_owner_renews_writes_and_ends_a_job(any_registry: Registry) -> None:
    job = any_registry.create_job(PARAMS)
    any_registry.claim_job("worker-a", lease_s=30)
    beat = any_registry.heartbeat(job.id, "worker-a", lease_s=60)
    assert beat.owned and not beat.cancel_requested and not beat.started  # its trainer has written nothing yet
    assert not any_registry.heartbeat(job.id, "worker-b", lease_s=60).owned
    with pytest.raises(LeaseLost, match="no longer run by worker worker-b"):
        any_registry.update_owned_job(job.id, "worker-b", progress=PROGRESS)
    assert not any_registry.job(job.id).trainer_started  # claimed ("running"), its trainer not started yet
    any_registry.update_owned_job(job.id, "worker-a", progress=PROGRESS)
    assert any_registry.heartbeat(job.id, "worker-a", lease_s=60).started and any_registry.job(job.id).trainer_started
    any_registry.request_cancel(job.id)
    assert any_registry.heartbeat(job.id, "worker-a", lease_s=60).cancel_requested  # cancel seen by the owner
    done = any_registry.finish_owned_job(job.id, "worker-a", status="cancelled", error="cancelled on request")
    assert done.status == "cancelled" and done.finished_at is not None and done.progress == PROGRESS
    with pytest.raises(LeaseLost):
        any_registry.finish_owned_job(job.id, "worker-a", status="succeeded")
    assert not any_registry.heartbeat(job.id, "worker-a").owned


def test_a_job_is_ended_with_its_trials_only_by_the_worker_that_holds_it(any_registry: Registry) -> None:
    job = any_registry.create_job(PARAMS)
    any_registry.claim_job("worker-a", lease_s=30)
    with pytest.raises(LeaseLost):
        any_registry.end_job(job.id, "succeeded", owner="worker-b")
    assert any_registry.job(job.id).status == "running"
    ended = any_registry.end_job(job.id, "failed", "the trainer crashed", owner="worker-a")
    assert (ended.status, ended.lease_expires_at) == ("failed", None)
    assert ended.error == "the trainer crashed; no trial was kept"


def test_a_job_asks_for_its_retries_as_extra_attempts(any_registry: Registry) -> None:
    assert any_registry.create_job(replace(PARAMS, retries=2)).max_attempts == 3
    assert any_registry.create_job(PARAMS).max_attempts == 1


def test_a_live_lease_is_never_expired_and_a_second_worker_starting_changes_nothing(any_registry: Registry) -> None:
    job = any_registry.create_job(PARAMS)
    any_registry.claim_job("worker-a", lease_s=30)
    # What every worker does when it starts (and on each poll): only expired leases are ended.
    assert any_registry.expire_leases() == []
    assert any_registry.job(job.id).status == "running"


def test_an_expired_lease_interrupts_the_job_and_fences_its_old_owner(any_registry: Registry) -> None:
    job = any_registry.create_job(PARAMS)
    any_registry.claim_job("worker-a", lease_s=30)
    expired = any_registry.expire_leases(now=utcnow() + timedelta(seconds=31))
    assert [(e.id, e.owner, e.status) for e in expired] == [(job.id, "worker-a", "interrupted")]
    info = any_registry.job(job.id)
    assert info.status == "interrupted" and info.finished_at is not None
    assert info.error is not None and "stopped renewing its lease" in info.error
    # The old owner (a worker that was only stalled) can no longer write into it or end it.
    assert not any_registry.heartbeat(job.id, "worker-a").owned
    with pytest.raises(LeaseLost):
        any_registry.finish_owned_job(job.id, "worker-a", status="succeeded")
    assert any_registry.expire_leases(now=utcnow() + timedelta(seconds=60)) == []  # once only


def test_a_job_with_attempts_left_is_queued_again_and_claimed_by_another_worker(any_registry: Registry) -> None:
    job = any_registry.create_job(PARAMS, max_attempts=2)
    any_registry.claim_job("worker-a", lease_s=30)
    any_registry.update_owned_job(job.id, "worker-a", progress=PROGRESS)
    later = utcnow() + timedelta(seconds=31)
    assert [e.status for e in any_registry.expire_leases(now=later)] == ["queued"]
    requeued = any_registry.job(job.id)
    assert (requeued.status, requeued.owner, requeued.progress) == ("queued", None, None)
    assert not requeued.trainer_started  # the next attempt's trainer has not started
    again = any_registry.claim_job("worker-b", lease_s=30)
    assert again is not None and (again.id, again.owner, again.attempts) == (job.id, "worker-b", 2)
    # The second attempt was the last.
    assert [e.status for e in any_registry.expire_leases(now=utcnow() + timedelta(seconds=31))] == ["interrupted"]


def test_a_running_job_without_a_lease_counts_as_expired(any_registry: Registry) -> None:
    """A job left "running" by a service from before the queue (no owner, no lease) is not run by anyone."""
    job = any_registry.create_job(PARAMS)
    any_registry.update_job(job.id, status="running")
    assert [e.status for e in any_registry.expire_leases()] == ["interrupted"]


def test_an_expired_job_that_was_asked_to_cancel_ends_cancelled(any_registry: Registry) -> None:
    job = any_registry.create_job(PARAMS, max_attempts=3)
    any_registry.claim_job("worker-a", lease_s=30)
    any_registry.request_cancel(job.id)
    assert [e.status for e in any_registry.expire_leases(now=utcnow() + timedelta(seconds=31))] == ["cancelled"]


def test_bad_leases_and_attempts_are_refused(registry: Registry) -> None:
    with pytest.raises(ValueError, match="at least one attempt"):
        registry.create_job(PARAMS, max_attempts=0)
    registry.create_job(PARAMS)
    with pytest.raises(ValueError, match="positive time"):
        registry.claim_job("worker-a", lease_s=0)
    assert registry.claim_job("worker-a", lease_s=5) is not None  # the refused claim took nothing


def test_worker_ids_are_unique_per_call() -> None:
    assert new_worker_id() != new_worker_id()
