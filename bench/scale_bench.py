"""Scaling benchmark: API replicas and training workers on one registry, all on this machine.

    .venv/bin/python bench/scale_bench.py [--duration 10] [--jobs 8] [--database-url postgresql://...]

Measures POST /classify (64 connections in all, wrk) against one API process and against two (each driven by
its own wrk with half the connections); the throughput of tiny training jobs with one worker and with two; and
the time from an activation through one replica until every replica serves it. The registry is a SQLite file
unless --database-url names another (an empty PostgreSQL database, say). Everything — replicas, workers and
the load generators — shares this machine's cores, so two replicas cannot double /classify on a 2-core box:
the figures say what the machine gives, not what a second machine would. Writes bench/results/scale.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT))

from machine import describe_machine  # noqa: E402
from serve_bench import run_wrk, write_results  # noqa: E402

from tests.support.registry import fill_registry, record_untrained  # noqa: E402
from tests.support.server import LiveServer, LiveWorker, start_server, start_worker  # noqa: E402
from training.registry import Registry  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "scale.json"
CONNECTIONS = 64
TINY_JOB = {"arch": "lstm", "trials": 1, "max_sequences": 100, "batch_size": 32, "activate": False}
SETTINGS: dict[str, Any] = {"job_poll_s": 0.2, "reload_interval_s": 0.25, "access_log": False}


def _start_apis(url: str, workdir: Path, count: int) -> list[LiveServer]:
    with ThreadPoolExecutor(max_workers=count) as pool:
        starts = [pool.submit(start_server, url, workdir, embedded_worker=False, **SETTINGS) for _ in range(count)]
    return [start.result() for start in starts]


def _start_workers(url: str, workdir: Path, count: int) -> list[LiveWorker]:
    with ThreadPoolExecutor(max_workers=count) as pool:
        starts = [
            pool.submit(start_worker, url, workdir, name=f"worker-{time.monotonic_ns()}-{i}", **SETTINGS)
            for i in range(count)
        ]
    return [start.result() for start in starts]


def _stop(processes: list[Any]) -> None:
    with ThreadPoolExecutor(max_workers=max(1, len(processes))) as pool:
        list(pool.map(lambda process: process.stop(), processes))


def classify_load(apis: list[LiveServer], duration: float, workdir: Path) -> dict[str, Any]:
    """CONNECTIONS connections split evenly over `apis`, one wrk per API, all at once."""
    body = json.dumps({"sequence": _sequence(apis[0]), "arch": "lstm"}).encode()
    per_api = CONNECTIONS // len(apis)
    with ThreadPoolExecutor(max_workers=len(apis)) as pool:
        runs = list(
            pool.map(lambda api: run_wrk(f"{api.url}/classify", body, per_api, duration, _own_dir(workdir, api)), apis)
        )
    return {
        "apis": len(apis),
        "connections": CONNECTIONS,
        "rps": sum(run["rps"] for run in runs),
        "p50_ms": statistics.median(run["p50_ms"] for run in runs),
        "p99_ms": max(run["p99_ms"] for run in runs),
        "errors": sum(run["errors"] for run in runs),
        "per_api": runs,
    }


def _own_dir(workdir: Path, api: LiveServer) -> Path:
    directory = workdir / api.url.rsplit(":", 1)[1]
    directory.mkdir(exist_ok=True)
    return directory


def _sequence(api: LiveServer) -> str:
    answer = httpx.post(f"{api.url}/generate", json={"n": 1, "seed": 1}, timeout=60).json()
    return str(answer["sequences"][0]["sequence"])


def job_throughput(api: LiveServer, n_jobs: int) -> dict[str, Any]:
    """Submit `n_jobs` tiny jobs at once; the time until the last one ended."""
    with httpx.Client(base_url=api.url, timeout=60, headers=api.auth) as client:
        started = time.monotonic()
        ids = [client.post("/train", json={**TINY_JOB, "seed": i}).json()["id"] for i in range(n_jobs)]
        statuses: dict[str, str] = {}
        while len(statuses) < n_jobs:
            for job_id in ids:
                if job_id not in statuses:
                    status = client.get(f"/train/{job_id}").json()["status"]
                    if status not in ("queued", "running"):
                        statuses[job_id] = status
            time.sleep(0.2)
        seconds = time.monotonic() - started
    return {
        "jobs": n_jobs,
        "seconds": seconds,
        "jobs_per_minute": n_jobs / seconds * 60,
        "succeeded": sum(status == "succeeded" for status in statuses.values()),
    }


def activation_delays(url: str, apis: list[LiveServer], repeats: int) -> dict[str, Any]:
    """Activate a fresh version through the first replica `repeats` times, under a light load on every replica;
    each time, the seconds until every replica's /classify answers with it."""
    registry = Registry(url)
    try:
        versions = [record_untrained(registry, "lstm", seed=100 + i, activate=False) for i in range(repeats)]
    finally:
        registry.close()
    sequence = _sequence(apis[0])
    stop = threading.Event()
    failed: list[int] = []

    def load(api: LiveServer) -> None:
        with httpx.Client(base_url=api.url, timeout=60) as client:
            while not stop.is_set():
                status = client.post("/classify", json={"sequence": sequence, "arch": "lstm"}).status_code
                if status != 200:
                    failed.append(status)

    threads = [threading.Thread(target=load, args=(api,)) for api in apis]
    for thread in threads:
        thread.start()
    delays = []
    try:
        with httpx.Client(timeout=60) as client:
            for version in versions:
                answer = client.post(
                    f"{apis[0].url}/models/lstm/activate", json={"version": version}, headers=apis[0].auth
                )
                answer.raise_for_status()
                started = time.monotonic()
                pending = list(apis)
                while pending:
                    pending = [
                        api
                        for api in pending
                        if client.post(f"{api.url}/classify", json={"sequence": sequence, "arch": "lstm"}).json()[
                            "model_version"
                        ]
                        != version
                    ]
                delays.append(time.monotonic() - started)
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    return {
        "replicas": len(apis),
        "repeats": repeats,
        "seconds": delays,
        "median_s": statistics.median(delays),
        "max_s": max(delays),
        "failed_requests": len(failed),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=10.0, help="Seconds of /classify load per measurement.")
    parser.add_argument("--jobs", type=int, default=8, help="Tiny training jobs per throughput measurement.")
    parser.add_argument("--repeats", type=int, default=5, help="Activations timed across the replicas.")
    parser.add_argument("--database-url", help="An empty registry database (default: a SQLite file).")
    args = parser.parse_args()
    results: dict[str, Any] = {"machine": describe_machine(), "command": " ".join(sys.argv)}
    with tempfile.TemporaryDirectory(prefix="scale-bench-") as temporary:
        workdir = Path(temporary)
        url = fill_registry(args.database_url or f"sqlite:///{workdir / 'registry.db'}", ("lstm",))
        results["registry"] = url.split(":", 1)[0]
        apis = _start_apis(url, workdir, 2)
        try:
            results["classify_one_api"] = classify_load(apis[:1], args.duration, workdir)
            results["classify_two_apis"] = classify_load(apis, args.duration, workdir)
            results["activation_to_every_replica"] = activation_delays(url, apis, args.repeats)
            for count in (1, 2):
                workers = _start_workers(url, workdir, count)
                try:
                    results[f"jobs_{count}_worker{'s' if count > 1 else ''}"] = job_throughput(apis[0], args.jobs)
                finally:
                    _stop(workers)
        finally:
            _stop(apis)
    write_results(RESULTS, results)
    one, two = results["classify_one_api"], results["classify_two_apis"]
    activation = results["activation_to_every_replica"]
    print(
        f"/classify, {CONNECTIONS} connections: one API {one['rps']:.0f} req/s (p99 {one['p99_ms']:.1f} ms), "
        f"two APIs {two['rps']:.0f} req/s (p99 {two['p99_ms']:.1f} ms)"
    )
    for key in ("jobs_1_worker", "jobs_2_workers"):
        figures = results[key]
        print(f"{key}: {figures['jobs']} jobs in {figures['seconds']:.1f} s ({figures['jobs_per_minute']:.1f}/min)")
    print(
        f"activation to every replica: median {activation['median_s']:.2f} s, max {activation['max_s']:.2f} s, "
        f"{activation['failed_requests']} failed requests"
    )
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
