"""This service beside a peer: the same `lstm` checkpoint served by Ray Serve and by `temporal-order`'s service,
loaded by the same wrk run (64 connections, POST of one sequence), taking turns for a few rounds.

    .venv/bin/pip install -e '.[ray]'     # ray[serve], pinned to the Ray the study uses
    sudo apt-get install -y wrk
    .venv/bin/python bench/peer_bench.py [--duration 10] [--rounds 5]

The Ray Serve side is what one would write to serve this classifier there: one deployment, one replica, its
`__call__` parsing the JSON body and awaiting a `@serve.batch` method with the service's micro-batch size
(128) and no extra wait (the service's default: batch what is queued). Everything else about Ray Serve is its
default except `max_ongoing_requests`, raised from 5 to the connection count so that a batch can fill at all. To
compare serving stacks rather than models, both sides run the same forward (the fused CPU kernel of the same
checkpoint, one thread) and answer the same JSON fields, built by the same function. Both listen on loopback.
Writes bench/results/peer.json: every round's req/s, p50 and p99 for both, their medians and the median of the
rounds' paired ratios (this machine is shared, so a round's two runs, seconds apart, are compared with each other).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from machine import describe_machine  # noqa: E402
from serve_bench import Load, write_results  # noqa: E402

from tests.support.registry import make_registry  # noqa: E402
from tests.support.server import start_server  # noqa: E402
from training.distributed import start_local_cluster  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "peer.json"
CONNECTIONS = 64
# The service's micro-batch limit (ServiceSettings.micro_batch_max_size's default), given to @serve.batch.
MICRO_BATCH_MAX_SIZE = 128
TARGET_RPS_RATIO = 2.0
APP_NAME = "temporal-order-peer"
# Ray Serve's default (5 requests in a replica at once) would cap every batch at 5.
MAX_ONGOING_REQUESTS = 4 * CONNECTIONS


def load_served(database_url: str) -> Any:
    """The registry's active `lstm` as the service holds it (service/inference.py `Served`), its kernel included."""
    import torch

    from service.inference import Served
    from training.kernels import compiled_forward
    from training.models import parameter_count
    from training.registry import Registry

    registry = Registry(database_url)
    try:
        loaded = registry.load_model("lstm", device="cpu")
    finally:
        registry.close()
    model = loaded.model.eval()
    device = torch.device("cpu")
    kernel = compiled_forward(model, device)
    if kernel is None:
        raise RuntimeError("the lstm checkpoint has no compiled forward on this CPU")
    return Served("lstm", model, loaded.info, loaded.task, device, parameter_count(model), kernel)


def ray_serve_application(database_url: str) -> Any:
    """The Ray Serve application: one deployment whose `__call__` awaits a `@serve.batch` method."""
    from ray import serve
    from starlette.requests import Request
    from starlette.responses import JSONResponse

    @serve.deployment(num_replicas=1, max_ongoing_requests=MAX_ONGOING_REQUESTS)
    class Classifier:
        def __init__(self, database_url: str) -> None:
            import torch

            torch.set_num_threads(1)  # as the service runs its small forwards
            self.served = load_served(database_url)
            self.batches = 0
            self.batched_requests = 0

        @serve.batch(max_batch_size=MICRO_BATCH_MAX_SIZE, batch_wait_timeout_s=0.0)
        async def classify(self, sequences: list[Any]) -> list[dict[str, Any]]:
            from service.classify import result_row
            from training.sequences import check, pad_parsed

            served = self.served
            self.batches += 1
            self.batched_requests += len(sequences)
            tokens, lengths = pad_parsed(sequences)
            probabilities = served.kernel(tokens.numpy(), lengths.numpy(), threads=1)
            return [
                result_row(served, int(row.argmax()), row.tolist(), check(sequence, served.task))
                for sequence, row in zip(sequences, probabilities, strict=True)
            ]

        async def __call__(self, request: Request) -> JSONResponse:
            from training.sequences import InvalidSequence, parse

            if request.method == "GET":  # the bench's own question: how full the batches were
                return JSONResponse({"batches": self.batches, "requests": self.batched_requests})
            try:
                sequence = parse((await request.json())["sequence"])
            except (KeyError, TypeError, ValueError, InvalidSequence) as error:
                return JSONResponse({"error": "validation_error", "message": str(error)}, status_code=422)
            return JSONResponse(await self.classify(sequence))

    return Classifier.bind(database_url)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_ray_serve(database_url: str, workdir: Path) -> str:
    """A local Ray instance (this machine's CPUs, no dashboard) with Serve's proxy on a loopback port; returns the
    route's URL."""
    from ray import serve

    # Serve's start-up checks give its proxy 5 s to answer; on this shared, loaded machine it may need more. Only
    # the checks wait longer: requests take the same path. (Read by Ray's processes, so set before they start.)
    for check in ("RAY_SERVE_PROXY_READY_CHECK_TIMEOUT_S", "RAY_SERVE_PROXY_HEALTH_CHECK_TIMEOUT_S"):
        os.environ.setdefault(check, "120")
    start_local_cluster(
        os.cpu_count() or 2,
        object_store_memory=80 * 1024 * 1024,
        _temp_dir=str(workdir / "ray"),
        on_retry=lambda error: print(f"Ray did not start ({error}); trying again", file=sys.stderr),
    )
    port = free_port()
    serve.start(http_options={"host": "127.0.0.1", "port": port})
    serve.run(ray_serve_application(database_url), name=APP_NAME, route_prefix="/classify")
    return f"http://127.0.0.1:{port}/classify"


def stop_ray_serve() -> None:
    import ray
    from ray import serve

    try:
        serve.shutdown()
    finally:
        ray.shutdown()


def same_answers(service_url: str, ray_url: str, sequence: str) -> dict[str, Any]:
    """Both answer the sequence alike, field for field."""
    ours = httpx.post(service_url, json={"sequence": sequence, "arch": "lstm"}, timeout=60).json()
    theirs = httpx.post(ray_url, json={"sequence": sequence, "arch": "lstm"}, timeout=60).json()
    if ours != theirs:
        raise RuntimeError(f"the two servers answer differently:\n{ours}\n{theirs}")
    return ours


def service_batches(base_url: str) -> tuple[float, float]:
    """(sequences, micro-batches) the service has run for lstm so far, from its Prometheus exposition."""
    text = httpx.get(f"{base_url}/metrics", headers={"Accept": "text/plain"}, timeout=60).text
    figures = {}
    for line in text.splitlines():
        for part in ("sum", "count"):
            if line.startswith(f'temporal_order_inference_batch_size_{part}{{arch="lstm",kind="micro"}}'):
                figures[part] = float(line.split()[-1])
    return figures["sum"], figures["count"]


def ray_batches(url: str) -> tuple[float, float]:
    """(sequences, batches) the Ray Serve replica has run so far, as it counts them."""
    counts = httpx.get(url, timeout=60).json()
    return float(counts["requests"]), float(counts["batches"])


def summarise(runs: list[dict[str, float]]) -> dict[str, Any]:
    return {
        "rounds": runs,
        "median_rps": statistics.median(run["rps"] for run in runs),
        "median_p50_ms": statistics.median(run["p50_ms"] for run in runs),
        "median_p99_ms": statistics.median(run["p99_ms"] for run in runs),
        "median_mean_batch_size": statistics.median(run["mean_batch_size"] for run in runs),
        "errors": sum(run["errors"] for run in runs),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per run")
    parser.add_argument("--rounds", type=int, default=5, help="rounds of turns (service, then Ray Serve)")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk not found: apt-get install -y wrk (the comparison needs the same load generator)")

    workdir = Path(tempfile.mkdtemp(prefix="peer-bench-"))
    load = Load(workdir, args.duration)
    import ray

    results: dict[str, Any] = {
        "machine": describe_machine() | {"load_average_at_start": os.getloadavg()},
        "load_generator": load.tool,
        "connections": CONNECTIONS,
        "duration_s": args.duration,
        "model": "lstm (16 cells), untrained weights, one registry version served by both: the fused CPU kernel",
        "ray": {
            "version": ray.__version__,
            "deployment": f"1 replica, @serve.batch(max_batch_size={MICRO_BATCH_MAX_SIZE}, batch_wait_timeout_s=0), "
            f"max_ongoing_requests={MAX_ONGOING_REQUESTS}, Serve's default proxy",
        },
        "service": {"micro_batch_max_size": MICRO_BATCH_MAX_SIZE, "settings": "defaults of `temporal-order serve`"},
    }
    database_url = make_registry(workdir / "registry.db", arches=("lstm",))
    server = start_server(database_url, workdir, reload_interval_s=0, health_path="/readyz")
    try:
        started = time.monotonic()
        ray_url = start_ray_serve(database_url, workdir)
        results["ray"]["seconds_to_serving"] = time.monotonic() - started
        service_url = f"{server.url}/classify"
        sequence = httpx.post(f"{server.url}/generate", json={"n": 1, "seed": 1}, timeout=60).json()["sequences"][0]
        same_answers(service_url, ray_url, sequence["sequence"])
        urls = {"service": service_url, "ray_serve": ray_url}
        body = json.dumps({"sequence": sequence["sequence"], "arch": "lstm"}).encode()  # Ray's side ignores arch
        for url in urls.values():
            load(url, body, CONNECTIONS, 2)  # warm-up
        runs: dict[str, list[dict[str, float]]] = {name: [] for name in urls}
        batch_counts = {"service": lambda: service_batches(server.url), "ray_serve": lambda: ray_batches(ray_url)}
        for round_index in range(args.rounds):
            # Alternate who goes first, so neither always runs on the machine the other just warmed or cooled.
            order = list(urls) if round_index % 2 == 0 else list(reversed(urls))
            for name in order:
                before = batch_counts[name]()
                run = load(urls[name], body, CONNECTIONS)
                after = batch_counts[name]()
                run["mean_batch_size"] = (after[0] - before[0]) / max(1.0, after[1] - before[1])
                runs[name].append(run)
                print(f"round {round_index + 1} {name}: {runs[name][-1]['rps']:,.0f} req/s", file=sys.stderr)
    finally:
        try:
            stop_ray_serve()
        finally:
            server.stop()

    results |= {name: summarise(name_runs) for name, name_runs in runs.items()}
    pairs = list(zip(runs["service"], runs["ray_serve"], strict=True))
    results["ratios"] = {
        "median_rps_ratio": results["service"]["median_rps"] / results["ray_serve"]["median_rps"],
        "median_of_rounds_rps_ratio": statistics.median(ours["rps"] / theirs["rps"] for ours, theirs in pairs),
        "median_of_rounds_p99_ratio": statistics.median(ours["p99_ms"] / theirs["p99_ms"] for ours, theirs in pairs),
    }
    ratio = results["ratios"]["median_of_rounds_rps_ratio"]
    p99_no_worse = results["ratios"]["median_of_rounds_p99_ratio"] <= 1.0
    results["target"] = {
        "rps_ratio": TARGET_RPS_RATIO,
        "p99_no_worse": True,
        "met": ratio >= TARGET_RPS_RATIO and p99_no_worse,
    }
    write_results(args.output, results)

    print(f"\n/classify, {CONNECTIONS} connections, {args.duration:g} s per run, {args.rounds} rounds ({load.tool})")
    print(f"{'server':<12}{'req/s':>10}{'p50 ms':>10}{'p99 ms':>10}{'batch':>8}{'errors':>8}   (medians of the rounds)")
    for name in urls:
        row = results[name]
        print(
            f"{name:<12}{row['median_rps']:>10,.0f}{row['median_p50_ms']:>10.2f}{row['median_p99_ms']:>10.2f}"
            f"{row['median_mean_batch_size']:>8.1f}{row['errors']:>8.0f}"
        )
    met = "yes" if results["target"]["met"] else "NO"
    print(
        f"service / Ray Serve, median of the rounds' ratios: req/s {ratio:.2f}, p99 "
        f"{results['ratios']['median_of_rounds_p99_ratio']:.2f} (target req/s >= {TARGET_RPS_RATIO:g} at a p99 no "
        f"worse: {met}); wrote {args.output.relative_to(ROOT) if args.output.is_relative_to(ROOT) else args.output}"
    )


if __name__ == "__main__":
    main()
