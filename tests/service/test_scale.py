"""Beyond one process, on a real PostgreSQL: two API replicas (`serve --no-worker`) and two `temporal-order worker`
processes share one registry. Jobs submitted through both APIs run exactly once; a cancel works through the
other API; a worker killed mid-job loses the job to its expired lease while the other keeps going, and leaves no
trainer behind; an activation through one API is served by the other under load, with no failed request (how
soon — the issue's "within a second" — is a speed target: `bench/scale_bench.py` measures it, not this test).

The four processes start once for the module (each imports torch: slow on a loaded machine). Leases are 10 s here
(30 s by default) so that a dead worker's job is ended well within the issue's 30 s; shorter ones (3 s) were lost
by live workers stalled that long on the shared, loaded test machine, which ends their jobs by design.
"""

from __future__ import annotations

import json
import signal
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from service.schemas import TERMINAL_JOB_STATUSES, TrainJobPublic
from tests.support.postgres import new_postgres_database
from tests.support.registry import fill_registry, record_untrained
from tests.support.server import LiveServer, LiveWorker, start_server, start_worker
from training.registry import Registry

from .test_jobs import LONG_JOB, job, wait_for

# Four processes start (each imports torch) and jobs train on a shared two-core machine: minutes, not seconds.
pytestmark = pytest.mark.timeout(1200)

LEASE_S = 10.0
SETTINGS: dict[str, Any] = {"job_lease_s": LEASE_S, "job_poll_s": 0.2, "reload_interval_s": 0.1}
# The 20 jobs, the smallest a job can be: each trains 100 sequences and tests on 3,000, in a process forked
# from its worker's fork server (torch imported once per worker, not once per job).
N_JOBS = 20
TINY_JOB = {"arch": "lstm", "trials": 1, "max_sequences": 100, "seed": 1, "batch_size": 32, "activate": False}


@dataclass
class Cluster:
    apis: list[LiveServer]
    workers: list[LiveWorker]
    database_url: str
    log_dir: Path


@pytest.fixture(scope="module")
def cluster(postgres_server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    url = fill_registry(new_postgres_database(postgres_server), ("lstm",))
    log_dir = tmp_path_factory.mktemp("scale")
    # Started side by side: each start imports torch, which takes a while on a loaded machine.
    with ThreadPoolExecutor(max_workers=4) as pool:
        api_starts = [pool.submit(start_server, url, log_dir, embedded_worker=False, **SETTINGS) for _ in "ab"]
        worker_starts = [
            pool.submit(start_worker, url, log_dir, name=f"worker-{index}", **SETTINGS) for index in range(2)
        ]
    started = [start.result() for start in [*api_starts, *worker_starts] if start.exception() is None]
    cluster = Cluster([s for s in started if isinstance(s, LiveServer)], [], url, log_dir)
    cluster.workers = [s for s in started if isinstance(s, LiveWorker)]
    try:
        for start in [*api_starts, *worker_starts]:
            start.result()  # raises the first failed start, after the others were collected for stopping
        yield cluster
    finally:
        with ThreadPoolExecutor(max_workers=4) as pool:
            list(pool.map(lambda process: process.stop(), [*cluster.apis, *cluster.workers]))


def _client(server: LiveServer) -> httpx.Client:
    return httpx.Client(base_url=server.url, timeout=60, headers=server.auth)


def _ended(client: httpx.Client, job_id: str, timeout: float) -> TrainJobPublic:
    final: TrainJobPublic = wait_for(
        lambda: (j := job(client, job_id)).status in TERMINAL_JOB_STATUSES and j, timeout=timeout, every=0.5
    )
    return final


def test_jobs_through_two_apis_run_exactly_once_on_two_workers(cluster: Cluster) -> None:
    clients = [_client(api) for api in cluster.apis]
    try:
        ids = [
            clients[index % 2]
            .post("/train", json={**TINY_JOB, "seed": index}, headers={"X-Request-ID": f"scale-{index}"})
            .json()["id"]
            for index in range(N_JOBS)
        ]
        assert len(set(ids)) == N_JOBS
        # A liveness bound, not a speed target: each job is a torch process on a shared machine.
        finals = [_ended(clients[(index + 1) % 2], job_id, timeout=900) for index, job_id in enumerate(ids)]
        assert [final.status for final in finals] == ["succeeded"] * N_JOBS, [final.error for final in finals]
        assert all(final.attempts == 1 and final.worker for final in finals)  # claimed once, by one worker
        # Both workers took jobs: the queue is shared, not one worker's.
        pids = {f":{worker.process.pid}:" for worker in cluster.workers}
        assert {pid for pid in pids for final in finals if pid in (final.worker or "")} == pids
        # Each job's lines, in whichever worker ran it, carry the id of the request that queued it on an API.
        started = [
            line
            for worker in cluster.workers
            for line in map(json.loads, filter(lambda text: text.startswith("{"), worker.log().splitlines()))
            if line.get("event") == "job started"
        ]
        assert {line["job_id"]: line["request_id"] for line in started} == {
            job_id: f"scale-{index}" for index, job_id in enumerate(ids)
        }
        registry = Registry(cluster.database_url)
        try:
            # Exactly once: each job recorded exactly its one trial.
            assert [len(registry.job_versions(job_id)) for job_id in ids] == [1] * N_JOBS
        finally:
            registry.close()
    finally:
        for client in clients:
            client.close()


def test_an_activation_through_one_api_is_served_by_the_other_with_no_failed_request(cluster: Cluster) -> None:
    registry = Registry(cluster.database_url)
    try:
        versions = [record_untrained(registry, "lstm", seed=seed, activate=False) for seed in (11, 12, 13)]
    finally:
        registry.close()
    first, second = (_client(api) for api in cluster.apis)
    sequence = first.post("/generate", json={"n": 1, "seed": 2}).json()["sequences"][0]["sequence"]
    stop = threading.Event()
    failures: list[str] = []
    answered = [0]

    def load(server: LiveServer) -> None:
        # Bounded: two clients, one request at a time each, so the replicas keep spare CPU on a small machine.
        with httpx.Client(base_url=server.url, timeout=60) as client:
            while not stop.is_set():
                response = client.post("/classify", json={"sequence": sequence, "arch": "lstm"})
                answered[0] += 1
                if response.status_code != 200:
                    failures.append(f"{response.status_code} {response.text[:200]}")

    threads = [threading.Thread(target=load, args=(api,)) for api in cluster.apis]
    for thread in threads:
        thread.start()
    try:
        for version in versions:
            activated = first.post("/models/lstm/activate", json={"version": version})
            assert activated.status_code == 200, activated.text

            def served(version: int = version) -> bool:
                answer = second.post("/classify", json={"sequence": sequence, "arch": "lstm"})
                return answer.status_code == 200 and answer.json()["model_version"] == version

            # A liveness bound only: a replica that never reloads fails here; the delay itself is benchmarked.
            wait_for(served, timeout=60, every=0.02)
    finally:
        stop.set()
        for thread in threads:
            thread.join()
        first.close()
        second.close()
    assert not failures, failures[:5]
    assert answered[0] > 0


def test_cancel_through_the_other_api_and_a_killed_worker_loses_its_job(cluster: Cluster) -> None:
    first, second = (_client(api) for api in cluster.apis)
    try:
        cancelled = first.post("/train", json=LONG_JOB).json()["id"]
        wait_for(lambda: job(first, cancelled).status == "running", timeout=300)
        assert second.delete(f"/train/{cancelled}").status_code == 200
        final = _ended(first, cancelled, timeout=120)
        assert final.status == "cancelled" and final.error and final.error.startswith("cancelled on request")

        doomed = first.post("/train", json={**LONG_JOB, "seed": 5}).json()["id"]
        running = wait_for(lambda: (j := job(second, doomed)).status == "running" and j.trainer_started and j)
        owner = next(w for w in cluster.workers if f":{w.process.pid}:" in (running.worker or ""))
        survivor = next(w for w in cluster.workers if w is not owner)
        trainers = psutil.Process(owner.process.pid).children(recursive=True)
        assert trainers  # the job's training process
        owner.process.send_signal(signal.SIGKILL)
        owner.process.wait(timeout=30)
        cluster.workers.remove(owner)
        # The trainer follows its worker, however the worker died.
        _, alive = psutil.wait_procs(trainers, timeout=30)
        assert not alive, [process.cmdline() for process in alive]
        # Once the lease has expired, the surviving worker ends the job (the bound: 30 s).
        ended = _ended(second, doomed, timeout=30)
        assert ended.status == "interrupted" and ended.error and "lease" in ended.error

        # The other worker keeps going.
        after = second.post("/train", json=TINY_JOB).json()["id"]
        done = _ended(first, after, timeout=300)
        assert done.status == "succeeded" and f":{survivor.process.pid}:" in (done.worker or "")
    finally:
        first.close()
        second.close()
