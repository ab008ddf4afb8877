"""Serving benchmark: the service on loopback in a subprocess, bounded load from another process (wrk).

    sudo apt-get install -y wrk        # the load generator (Debian/Ubuntu; `brew install wrk` on macOS)
    .venv/bin/python bench/serve_bench.py [--duration 10] [--device cpu]

Measures single-sequence POST /classify at 64 concurrent connections (requests/s, p50, p99) beside a naive
baseline in the same run (bench/naive_app.py: plain FastAPI, sync route, one forward per request, same
model); the micro-batcher's median latency cost at 1 connection (the service with micro-batching on vs off);
POST /classify/batch sequences/s; p99 at 64 connections with a training job running vs idle; and the
resident memory of the service with every model loaded. For context it also measures GET /healthz at 64
connections (the framework's ceiling on this machine, now) and the bare LSTM forward on one thread (the
model's). Prints a table and writes bench/results/serve.json. `--flood` measures instead GET /healthz's p99
while 64 connections send 10,000-symbol requests (bench/results/serve_flood.json). `--baseline-ref 39655e0`
measures instead /classify at 64 connections for this tree and for a git ref's code (checked out into a temporary
worktree, served by the same interpreter) in turns, and writes both and their ratio to serve_baseline.json.
Without wrk, a Python load generator (httpx, in separate processes) is used and the result says so.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from machine import describe_machine  # noqa: E402

from tests.support.registry import make_registry  # noqa: E402
from tests.support.server import (  # noqa: E402
    LiveServer,
    bound_socket,
    server_environment,
    start_server,
    wait_until_ready,
)

RESULTS = ROOT / "bench" / "results" / "serve.json"
TARGETS = {
    "classify_rps_64": 3000.0,
    "classify_p99_ms_64": 30.0,
    "speedup_vs_naive": 2.5,
    "micro_batch_p50_overhead_ms": 1.0,
    "batch_sequences_per_s": 30_000.0,
    "p99_training_ratio": 2.0,
    "rss_mb": 500.0,
    # Process start to /readyz 200 with every model loaded, kernels loaded from numba's cache.
    "cold_start_s": 5.0,
}

WRK_SCRIPT = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = io.open(os.getenv("BENCH_BODY"), "r"):read("*a")
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '\\nBENCH {"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, "errors": %d, "non2xx": %d}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect + e.read + e.write + e.timeout, e.status))
end
"""


def run_wrk(url: str, body: bytes, connections: int, duration: float, workdir: Path) -> dict[str, float]:
    body_path = workdir / f"body-{len(body)}.json"
    body_path.write_bytes(body)
    script = workdir / "post.lua"
    script.write_text(WRK_SCRIPT)
    threads = max(1, min(connections, 2))
    command = [
        "wrk",
        "-t",
        str(threads),
        "-c",
        str(connections),
        "-d",
        f"{max(1, round(duration))}s",
        "--timeout",
        "10s",
    ]
    output = subprocess.run(
        [*command, "-s", str(script), url],
        env={**os.environ, "BENCH_BODY": str(body_path)},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return wrk_figures(output)


def wrk_figures(output: str) -> dict[str, float]:
    """The figures WRK_SCRIPT's `done` printed on its BENCH line."""
    line = next(line for line in output.splitlines() if line.startswith("BENCH "))
    data = json.loads(line[len("BENCH ") :])
    seconds = data["duration_us"] / 1e6
    return {
        "requests": data["requests"],
        "rps": data["requests"] / seconds,
        "p50_ms": data["p50_us"] / 1000,
        "p99_ms": data["p99_us"] / 1000,
        "errors": data["errors"] + data["non2xx"],
    }


def _python_load(url: str, body: bytes, connections: int, duration: float, queue: Any) -> None:
    async def main() -> tuple[list[float], int]:
        latencies: list[float] = []
        errors = 0
        stop = time.perf_counter() + duration
        limits = httpx.Limits(max_connections=connections)
        headers = {"Content-Type": "application/json"}
        async with httpx.AsyncClient(limits=limits, timeout=10) as client:

            async def worker() -> None:
                nonlocal errors
                while time.perf_counter() < stop:
                    started = time.perf_counter()
                    try:
                        response = await client.post(url, content=body, headers=headers)
                        errors += response.status_code != 200
                    except httpx.HTTPError:
                        errors += 1
                    latencies.append(time.perf_counter() - started)

            await asyncio.gather(*(worker() for _ in range(connections)))
        return latencies, errors

    started = time.perf_counter()
    latencies, errors = asyncio.run(main())
    queue.put((latencies, errors, time.perf_counter() - started))


def run_python_load(url: str, body: bytes, connections: int, duration: float) -> dict[str, float]:
    queue: Any = multiprocessing.get_context("spawn").Queue()
    process = multiprocessing.get_context("spawn").Process(
        target=_python_load, args=(url, body, connections, duration, queue)
    )
    process.start()
    latencies, errors, seconds = queue.get()
    process.join()
    latencies.sort()
    return {
        "requests": len(latencies),
        "rps": len(latencies) / seconds,
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": latencies[int(0.99 * (len(latencies) - 1))] * 1000,
        "errors": errors,
    }


class Load:
    def __init__(self, workdir: Path, duration: float) -> None:
        self.workdir = workdir
        self.duration = duration
        self.tool = "wrk" if shutil.which("wrk") else "python-httpx"
        if self.tool != "wrk":
            print("wrk not found (apt-get install -y wrk); using the slower Python load generator", file=sys.stderr)

    def __call__(self, url: str, body: bytes, connections: int, duration: float | None = None) -> dict[str, float]:
        seconds = duration or self.duration
        if self.tool == "wrk":
            return run_wrk(url, body, connections, seconds, self.workdir)
        return run_python_load(url, body, connections, seconds)


def sequences(server: LiveServer, n: int, seed: int) -> list[str]:
    body = httpx.post(f"{server.url}/generate", json={"n": n, "seed": seed}, timeout=60).json()
    return [item["sequence"] for item in body["sequences"]]


def load_get(url: str, connections: int, duration: float, load: Load) -> dict[str, float]:
    """GET load (wrk only; skipped with the Python generator)."""
    if load.tool != "wrk":
        return {"requests": 0, "rps": float("nan"), "p50_ms": float("nan"), "p99_ms": float("nan"), "errors": 0}
    script = load.workdir / "get.lua"
    script.write_text(
        WRK_SCRIPT.replace('wrk.method = "POST"', 'wrk.method = "GET"').replace(
            'wrk.body = io.open(os.getenv("BENCH_BODY"), "r"):read("*a")', ""
        )
    )
    command = ["wrk", "-t", "2", "-c", str(connections), "-d", f"{max(1, round(duration))}s", "-s", str(script), url]
    return wrk_figures(subprocess.run(command, capture_output=True, text=True, check=True).stdout)


def forward_only(batch: int = 1024, repeats: int = 5) -> dict[str, float]:
    """Sequences/s of the bare LSTM forward in this process, the model's own ceiling: the frozen fused
    classifier the service runs (one and two threads) and nn.LSTM (oneDNN) on one thread, to probabilities."""
    import torch

    from training.architectures import build_model, default_config
    from training.kernels import compiled_forward
    from training.models import one_hot
    from training.task import generate, get_task, make_generator

    data = generate(get_task("6b"), batch, make_generator(0))
    model = build_model(default_config("lstm")).eval()
    inputs = one_hot(data.tokens)
    frozen = compiled_forward(model, torch.device("cpu"))
    assert frozen is not None
    tokens, lengths = data.tokens.numpy(), data.lengths.numpy()
    runs = {
        "fused_1_thread": (1, lambda: frozen(tokens, lengths, threads=1)),
        "fused_2_threads": (2, lambda: frozen(tokens, lengths, threads=2)),
        "nn_lstm_1_thread": (1, lambda: model(inputs, data.lengths).softmax(dim=1)),
    }
    rates: dict[str, float] = {}
    for name, (threads, forward) in runs.items():
        torch.set_num_threads(threads)
        with torch.inference_mode():
            forward()
            best = float("inf")
            for _ in range(3):
                started = time.perf_counter()
                for _ in range(repeats):
                    forward()
                best = min(best, time.perf_counter() - started)
        rates[name] = batch * repeats / best
    torch.set_num_threads(1)
    return rates


def cold_start(database_url: str, workdir: Path, *, numba_cache: Path | None = None) -> dict[str, float]:
    """A new `temporal-order serve` process, as a process manager starts it: seconds from the process's start to
    the first 200 from /readyz (every model loaded and warmed), the server's CPU seconds by then (less sensitive
    to other load on the machine than the wall time) and its resident memory. With `numba_cache`, numba's cache
    lives there instead (an empty folder shows what a start costs when the kernels must be compiled)."""
    sock = bound_socket()
    port = sock.getsockname()[1]
    sock.close()
    environment = server_environment(database_url)
    if numba_cache is not None:
        environment["NUMBA_CACHE_DIR"] = str(numba_cache)
    command = [str(Path(sys.executable).parent / "temporal-order"), "serve", "--host", "127.0.0.1", "--port", str(port)]
    log = (workdir / f"cold-start-{port}.log").open("wb")
    started = time.monotonic()
    process = subprocess.Popen(command, env=environment, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_until_ready(f"http://127.0.0.1:{port}", process, Path(log.name))
        seconds = time.monotonic() - started
        server = psutil.Process(process.pid)
        cpu = server.cpu_times()
        return {
            "seconds_to_ready": seconds,
            "cpu_seconds_to_ready": cpu.user + cpu.system,
            "rss_mb_at_ready": server.memory_info().rss / 2**20,
        }
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


def write_results(path: Path, results: dict[str, Any]) -> None:
    """Write a run's figures as JSON, with the machine's load at its end (the load at its start is already in)."""
    results["machine"]["load_average_at_end"] = os.getloadavg()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2) + "\n")


def rss_mb(server: LiveServer) -> float:
    return psutil.Process(server.process.pid).memory_info().rss / 2**20


FLOOD_RESULTS = ROOT / "bench" / "results" / "serve_flood.json"
FLOOD_TARGET_HEALTHZ_P99_MS = 50.0


def healthz_under_flood(workdir: Path, load: Load, duration: float, device: str, **settings: Any) -> dict[str, Any]:
    """GET /healthz latency (one connection, back to back) while 64 connections send 10,000-symbol /classify
    requests to attn_rnn, the costliest model per symbol: what a flood of long requests does to the loop."""
    url = make_registry(workdir / f"flood-{len(settings)}.db")
    server = start_server(url, workdir, device=device, reload_interval_s=0, **settings)
    try:
        body = json.dumps({"sequence": "E" + "a" * 9_998 + "B", "arch": "attn_rnn"}).encode()
        load(f"{server.url}/classify", body, 4, 2)  # warm-up
        queue: Any = multiprocessing.get_context("spawn").Queue()
        flood = multiprocessing.get_context("spawn").Process(
            target=_python_load, args=(f"{server.url}/classify", body, 64, duration, queue)
        )
        flood.start()
        time.sleep(1.0)  # let the flood build up before measuring
        latencies = []
        with httpx.Client(base_url=server.url, timeout=30) as client:
            stop = time.perf_counter() + duration - 2.0
            while time.perf_counter() < stop:
                started = time.perf_counter()
                client.get("/healthz").raise_for_status()
                latencies.append(time.perf_counter() - started)
        flood_latencies, flood_errors, flood_seconds = queue.get()
        flood.join()
    finally:
        server.stop()
    latencies.sort()
    return {
        "healthz_requests": len(latencies),
        "healthz_p50_ms": statistics.median(latencies) * 1000,
        "healthz_p99_ms": latencies[int(0.99 * (len(latencies) - 1))] * 1000,
        "flood_requests": len(flood_latencies),
        "flood_rps": len(flood_latencies) / flood_seconds,
        "flood_errors": flood_errors,
        "target_healthz_p99_ms": FLOOD_TARGET_HEALTHZ_P99_MS,
    }


def flood_main(args: argparse.Namespace) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="serve-flood-"))
    load = Load(workdir, args.duration)
    results: dict[str, Any] = {"machine": describe_machine() | {"load_average_at_start": os.getloadavg()}}
    results["healthz_under_flood"] = run = healthz_under_flood(workdir, load, args.duration, args.device)
    # The former rule for comparison: micro-batches of up to 64 requests on the loop, whatever their length.
    results["healthz_under_flood_inline_by_count"] = former = healthz_under_flood(
        workdir, load, args.duration, args.device, micro_batch_inline_max_symbols=1_000_000
    )
    write_results(FLOOD_RESULTS, results)
    met = "yes" if run["healthz_p99_ms"] <= FLOOD_TARGET_HEALTHZ_P99_MS else "NO"
    print(
        f"/healthz under a flood of 64 x 10,000-symbol /classify (attn_rnn, {run['flood_rps']:.1f} req/s, "
        f"{run['flood_errors']} errors): p50 {run['healthz_p50_ms']:.2f} ms, p99 {run['healthz_p99_ms']:.2f} ms "
        f"(target <= {FLOOD_TARGET_HEALTHZ_P99_MS:g} ms: {met}); inlining by request count as before: "
        f"p50 {former['healthz_p50_ms']:.2f} ms, p99 {former['healthz_p99_ms']:.2f} ms; "
        f"wrote {FLOOD_RESULTS.relative_to(ROOT)}"
    )


LOGGING_RESULTS = ROOT / "bench" / "results" / "serve_logging.json"
LOGGING_ROUNDS = 3
LOGGING_TARGET_COST = 0.10  # the access log may cost at most 10% of /classify's requests/s


def load_with_server_cpu(load: Load, server: LiveServer, body: bytes) -> dict[str, float]:
    """One /classify run at 64 connections, with the server process's CPU time per request (user + system, from
    the kernel's accounting): less exposed than requests/s to what else runs on the machine."""
    process = psutil.Process(server.process.pid)
    before = process.cpu_times()
    run = load(f"{server.url}/classify", body, 64)
    after = process.cpu_times()
    cpu_s = (after.user - before.user) + (after.system - before.system)
    return run | {"server_cpu_us_per_request": cpu_s / max(run["requests"], 1) * 1e6}


def logging_cost_main(args: argparse.Namespace) -> None:
    """/classify at 64 connections with the access log on (one JSON line per request to the log file) and off,
    the two servers taking turns for a few rounds (this machine drifts); each side reports its median, and the
    server's CPU time per request."""
    workdir = Path(tempfile.mkdtemp(prefix="serve-logging-"))
    load = Load(workdir, args.duration)
    rounds = args.logging_rounds
    print(f"load average at the start: {', '.join(f'{x:.1f}' for x in os.getloadavg())} ({os.cpu_count()} CPUs)")
    results: dict[str, Any] = {
        "machine": describe_machine() | {"load_average_at_start": os.getloadavg()},
        "load_generator": load.tool,
        "duration_s": args.duration,
        "rounds": rounds,
    }
    url = make_registry(workdir / "registry.db")
    servers = {
        "on": start_server(url, workdir, device=args.device, reload_interval_s=0, log_format="json"),
        "off": start_server(url, workdir, device=args.device, reload_interval_s=0, access_log=False),
    }
    runs: dict[str, list[dict[str, float]]] = {"on": [], "off": []}
    try:
        single = json.dumps({"sequence": sequences(servers["on"], 1, seed=1)[0], "arch": "lstm"}).encode()
        for server in servers.values():
            load(f"{server.url}/classify", single, 64, 2)  # warm-up
        for _ in range(rounds):
            for name, server in servers.items():
                runs[name].append(load_with_server_cpu(load, server, single))
    finally:
        for server in servers.values():
            server.stop()  # the access lines still waiting are written at shutdown
    logged_lines = servers["on"].log().count('"logger": "service.access"')
    on = statistics.median(run["rps"] for run in runs["on"])
    off = statistics.median(run["rps"] for run in runs["off"])
    cpu_on = statistics.median(run["server_cpu_us_per_request"] for run in runs["on"])
    cpu_off = statistics.median(run["server_cpu_us_per_request"] for run in runs["off"])
    # Each round's two runs are seconds apart: their ratio is less exposed to the machine's drift than the medians.
    paired = [1 - a["rps"] / b["rps"] for a, b in zip(runs["on"], runs["off"], strict=True)]
    results |= {
        "classify_64_access_log_on": runs["on"],
        "classify_64_access_log_off": runs["off"],
        "median_rps_on": on,
        "median_rps_off": off,
        "cost": 1 - on / off,
        "cost_of_each_round": paired,
        "median_server_cpu_us_per_request_on": cpu_on,
        "median_server_cpu_us_per_request_off": cpu_off,
        "server_cpu_cost": cpu_on / cpu_off - 1,
        "access_lines_written": logged_lines,
        "requests_logged": sum(run["requests"] for run in runs["on"]),
        "target_cost": LOGGING_TARGET_COST,
    }
    write_results(LOGGING_RESULTS, results)
    met = "yes" if results["cost"] <= LOGGING_TARGET_COST else "NO"
    print(
        f"/classify at 64 connections, median of {rounds} rounds: access log on {on:,.0f} req/s, off "
        f"{off:,.0f} req/s: logging costs {100 * results['cost']:.1f}% (target <= {100 * LOGGING_TARGET_COST:g}%: "
        f"{met}; each round: {', '.join(f'{100 * x:.1f}%' for x in paired)}); server CPU per request on "
        f"{cpu_on:.0f} us, off {cpu_off:.0f} us ({100 * results['server_cpu_cost']:+.1f}%); {logged_lines:,} access "
        f"lines written; load average at the end {', '.join(f'{x:.1f}' for x in os.getloadavg())}; "
        f"wrote {LOGGING_RESULTS.relative_to(ROOT)}"
    )


BASELINE_RESULTS = ROOT / "bench" / "results" / "serve_baseline.json"
BASELINE_TARGET_RATIO = 0.9  # /classify at 64 connections: at least 90% of the baseline's requests/s


def git(*args: str, cwd: Path = ROOT) -> str:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True).stdout.strip()


def tree_environment(tree: Path, database_url: str) -> dict[str, str]:
    """A server's environment whose Python imports `tree`'s packages first (before the editable install's)."""
    return server_environment(database_url, reload_interval_s=0) | {"PYTHONPATH": str(tree)}


def start_tree_server(tree: Path, database_url: str, workdir: Path) -> tuple[subprocess.Popen[bytes], str]:
    """`temporal-order serve`, as a deployment starts it, running `tree`'s code; returns once /readyz says 200."""
    sock = bound_socket()
    port = sock.getsockname()[1]
    sock.close()
    command = [str(Path(sys.executable).parent / "temporal-order"), "serve", "--host", "127.0.0.1", "--port", str(port)]
    with (workdir / f"serve-{tree.name}.log").open("wb") as log:
        process = subprocess.Popen(
            command, cwd=tree, env=tree_environment(tree, database_url), stdout=log, stderr=subprocess.STDOUT
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_ready(url, process, Path(log.name), timeout_s=600)  # a fresh tree compiles its kernels first
    except RuntimeError:
        process.kill()
        raise
    return process, url


def tree_registry(tree: Path, path: Path) -> str:
    """A registry made by `tree`'s own code (its own migrations), holding an untrained active lstm."""
    code = (
        "import sys\nfrom pathlib import Path\n"
        "try:\n    from tests.support.registry import make_registry\n"
        "except ModuleNotFoundError:  # a tree from before the test support left the package\n"
        "    from service.testing import make_registry\n"
        "print(make_registry(Path(sys.argv[1]), arches=('lstm',)))\n"
    )
    where = "import service, sys; sys.stdout.write(service.__file__)"
    environment = tree_environment(tree, "sqlite://")
    found = subprocess.run([sys.executable, "-c", where], cwd=tree, env=environment, capture_output=True, text=True)
    if not Path(found.stdout).is_relative_to(tree):
        raise RuntimeError(f"the service package of {tree} is not the one imported there: {found.stdout}")
    made = subprocess.run(
        [sys.executable, "-c", code, str(path)], cwd=tree, env=environment, capture_output=True, text=True, check=True
    )
    return made.stdout.strip().splitlines()[-1]


def baseline_main(args: argparse.Namespace) -> None:
    """/classify at 64 connections, this tree's code beside `--baseline-ref`'s, both started the same way
    (`temporal-order serve`, same interpreter and packages), taking turns for a few rounds (this machine drifts)."""
    workdir = Path(tempfile.mkdtemp(prefix="serve-baseline-"))
    load = Load(workdir, args.duration)
    baseline_tree = workdir / "baseline"
    git("worktree", "add", "--detach", str(baseline_tree), args.baseline_ref)
    trees = {"baseline": baseline_tree, "current": ROOT}
    results: dict[str, Any] = {
        "machine": describe_machine() | {"load_average_at_start": os.getloadavg()},
        "load_generator": load.tool,
        "duration_s": args.duration,
        "baseline": {"ref": args.baseline_ref, "commit": git("rev-parse", args.baseline_ref)},
        "current": {"commit": git("rev-parse", "HEAD"), "uncommitted_changes": bool(git("status", "--porcelain"))},
    }
    servers: dict[str, tuple[subprocess.Popen[bytes], str]] = {}
    try:
        for name, tree in trees.items():
            servers[name] = start_tree_server(tree, tree_registry(tree, workdir / f"{name}.db"), workdir)
        generated = httpx.post(f"{servers['current'][1]}/generate", json={"n": 1, "seed": 1}, timeout=60).json()
        single = json.dumps({"sequence": generated["sequences"][0]["sequence"], "arch": "lstm"}).encode()
        for _, url in servers.values():
            load(f"{url}/classify", single, 64, 2)  # warm-up
        runs: dict[str, list[dict[str, float]]] = {name: [] for name in trees}
        for _ in range(args.rounds):
            for name, (_, url) in servers.items():
                runs[name].append(load(f"{url}/classify", single, 64))
    finally:
        for process, _ in servers.values():
            process.terminate()
            process.wait(timeout=30)
        git("worktree", "remove", "--force", str(baseline_tree))
    for name in trees:
        results[name] |= {
            "classify_64": runs[name],
            "median_rps": statistics.median(run["rps"] for run in runs[name]),
            "median_p99_ms": statistics.median(run["p99_ms"] for run in runs[name]),
        }
    ratio = results["current"]["median_rps"] / results["baseline"]["median_rps"]
    # Each round's two runs are seconds apart: their ratio is less exposed to the machine's drift than the medians.
    paired = statistics.median(
        now["rps"] / then["rps"] for now, then in zip(runs["current"], runs["baseline"], strict=True)
    )
    results |= {
        "ratio_rps_current_to_baseline": ratio,
        "median_ratio_of_rounds": paired,
        "target_ratio": BASELINE_TARGET_RATIO,
    }
    write_results(BASELINE_RESULTS, results)
    met = "yes" if ratio >= BASELINE_TARGET_RATIO else "NO"
    print(
        f"/classify at 64 connections, median of {args.rounds} rounds: {args.baseline_ref} "
        f"{results['baseline']['median_rps']:,.0f} req/s (p99 {results['baseline']['median_p99_ms']:.1f} ms), this "
        f"tree {results['current']['median_rps']:,.0f} req/s (p99 {results['current']['median_p99_ms']:.1f} ms): "
        f"{ratio:.3f} of the baseline (target >= {BASELINE_TARGET_RATIO:g}: {met}; median of the rounds' ratios "
        f"{paired:.3f}); "
        f"wrote {BASELINE_RESULTS.relative_to(ROOT)}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per measurement")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--output", type=Path, default=RESULTS)
    parser.add_argument(
        "--compile-start", action="store_true", help="also time a start that must compile the kernels (about a minute)"
    )
    parser.add_argument(
        "--flood", action="store_true", help="only /healthz under a flood of long requests (serve_flood.json)"
    )
    parser.add_argument(
        "--logging", action="store_true", help="only /classify with the access log on and off (serve_logging.json)"
    )
    parser.add_argument(
        "--baseline-ref",
        metavar="REF",
        help="only /classify at 64 connections, this tree beside the git REF's code (serve_baseline.json)",
    )
    parser.add_argument("--rounds", type=int, default=5, help="rounds of --baseline-ref's turns")
    parser.add_argument("--logging-rounds", type=int, default=LOGGING_ROUNDS, help="rounds of --logging's turns")
    args = parser.parse_args()
    if args.baseline_ref:
        baseline_main(args)
        return
    if args.flood:
        flood_main(args)
        return
    if args.logging:
        logging_cost_main(args)
        return

    workdir = Path(tempfile.mkdtemp(prefix="serve-bench-"))
    load = Load(workdir, args.duration)
    load_average_before = os.getloadavg()
    url = make_registry(workdir / "registry.db")
    results: dict[str, Any] = {
        "machine": describe_machine() | {"load_average_at_start": load_average_before},
        "load_generator": load.tool,
        "duration_s": args.duration,
        "device": args.device,
        "model": "lstm (16 cells, fused CPU kernel), untrained weights: serving cost does not depend on them",
    }

    # Before any other server ran: the first start reads the code from disk, the second from the page cache.
    results["cold_start"] = [cold_start(url, workdir) for _ in range(2)]
    if args.compile_start:
        results["cold_start_compiling"] = cold_start(url, workdir, numba_cache=workdir / "empty-numba-cache")
    server = start_server(url, workdir, device=args.device, reload_interval_s=0)
    try:
        single = json.dumps({"sequence": sequences(server, 1, seed=1)[0], "arch": "lstm"}).encode()
        batch = json.dumps({"sequences": sequences(server, 1024, seed=2), "arch": "lstm"}).encode()
        load(f"{server.url}/classify", single, 64, 2)  # warm-up
        results["classify_64"] = load(f"{server.url}/classify", single, 64)
        results["classify_1"] = load(f"{server.url}/classify", single, 1)
        # The framework's ceiling on this machine now: the cheapest route, same connections.
        results["healthz_64"] = load_get(f"{server.url}/healthz", 64, args.duration, load)
        load(f"{server.url}/classify/batch", batch, 2, 2)  # warm-up
        batch_run = load(f"{server.url}/classify/batch", batch, 2)
        batch_run["sequences_per_s"] = batch_run["rps"] * 1024
        results["batch_1024"] = batch_run
        results["rss_mb"] = rss_mb(server)
        job = httpx.post(
            f"{server.url}/train",
            # Ten rnn trials (the heaviest model to train) keep a job busy well past the measurement.
            json={"arch": "rnn", "trials": 10, "seed": 1},
            headers=server.auth,
            timeout=30,
        ).json()
        deadline = time.monotonic() + 120
        while httpx.get(f"{server.url}/train/{job['id']}", timeout=30).json()["progress"].get("sequences", 0) == 0:
            if time.monotonic() > deadline:
                raise RuntimeError("the training job did not start")
            time.sleep(0.2)
        results["classify_64_training"] = load(f"{server.url}/classify", single, 64)
        httpx.delete(f"{server.url}/train/{job['id']}", headers=server.auth, timeout=30)
    finally:
        server.stop()

    unbatched = start_server(url, workdir, device=args.device, reload_interval_s=0, micro_batching=False)
    try:
        load(f"{unbatched.url}/classify", single, 1, 2)
        results["classify_1_unbatched"] = load(f"{unbatched.url}/classify", single, 1)
        results["classify_64_unbatched"] = load(f"{unbatched.url}/classify", single, 64)
    finally:
        unbatched.stop()

    naive = start_server(url, workdir, app="bench.naive_app:app", factory=False, health_path="/classify")
    try:
        load(f"{naive.url}/classify", single, 64, 2)
        results["naive_64"] = load(f"{naive.url}/classify", single, 64)
        results["naive_1"] = load(f"{naive.url}/classify", single, 1)
    finally:
        naive.stop()

    results["lstm_forward_only_sequences_per_s"] = forward_only()
    measured = {
        "classify_rps_64": results["classify_64"]["rps"],
        "classify_p99_ms_64": results["classify_64"]["p99_ms"],
        "speedup_vs_naive": results["classify_64"]["rps"] / results["naive_64"]["rps"],
        "micro_batch_p50_overhead_ms": results["classify_1"]["p50_ms"] - results["classify_1_unbatched"]["p50_ms"],
        "batch_sequences_per_s": results["batch_1024"]["sequences_per_s"],
        "p99_training_ratio": results["classify_64_training"]["p99_ms"] / results["classify_64"]["p99_ms"],
        "rss_mb": results["rss_mb"],
        "cold_start_s": min(run["seconds_to_ready"] for run in results["cold_start"]),
    }
    lower_is_better = {
        "classify_p99_ms_64",
        "micro_batch_p50_overhead_ms",
        "p99_training_ratio",
        "rss_mb",
        "cold_start_s",
    }
    results["summary"] = {
        name: {
            "measured": value,
            "target": TARGETS[name],
            "met": value <= TARGETS[name] if name in lower_is_better else value >= TARGETS[name],
        }
        for name, value in measured.items()
    }
    write_results(args.output, results)

    print(f"\nserve benchmark ({load.tool}, {args.duration:g} s per run, {os.cpu_count()} CPUs, device {args.device})")
    print(f"{'run':<28}{'req/s':>10}{'p50 ms':>10}{'p99 ms':>10}{'errors':>8}")
    for name in (
        "healthz_64",
        "classify_64",
        "classify_64_training",
        "classify_64_unbatched",
        "naive_64",
        "classify_1",
        "classify_1_unbatched",
        "naive_1",
        "batch_1024",
    ):
        run = results[name]
        print(f"{name:<28}{run['rps']:>10.0f}{run['p50_ms']:>10.2f}{run['p99_ms']:>10.2f}{run['errors']:>8.0f}")
    forward = results["lstm_forward_only_sequences_per_s"]
    print(
        f"\nbare LSTM forward, batch 1024, sequences/s: fused kernel {forward['fused_1_thread']:,.0f} (1 thread), "
        f"{forward['fused_2_threads']:,.0f} (2 threads); nn.LSTM {forward['nn_lstm_1_thread']:,.0f} (1 thread)"
    )
    for index, run in enumerate(results["cold_start"], 1):
        print(
            f"start {index} to /readyz: {run['seconds_to_ready']:.2f} s ({run['cpu_seconds_to_ready']:.2f} s of CPU), "
            f"{run['rss_mb_at_ready']:.0f} MB"
        )
    if "cold_start_compiling" in results:
        print(f"start compiling the kernels: {results['cold_start_compiling']['seconds_to_ready']:.1f} s")
    print(f"\n{'figure':<30}{'measured':>12}{'target':>10}  met")
    for name, row in results["summary"].items():
        print(f"{name:<30}{row['measured']:>12.2f}{row['target']:>10.1f}  {'yes' if row['met'] else 'NO'}")
    print(f"\nwrote {args.output.relative_to(ROOT) if args.output.is_relative_to(ROOT) else args.output}")


if __name__ == "__main__":
    main()
