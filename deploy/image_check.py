"""Build the image as a machine without registry access must, start the compose setups, use them as a user would,
tear them down, and write the figures to bench/results/image.json.

    make image-check                                   # = .venv/bin/python deploy/image_check.py
    .venv/bin/python deploy/image_check.py --base-image python:3.11-slim --no-cache

Needs a running Docker daemon (root) and Compose (`docker compose` or Debian's `docker-compose`). Steps: the
Debian base image (deploy/base_image.sh, debootstrap) and the wheelhouse (deploy/wheelhouse.sh) where missing;
`docker build --network host` of the service's image and of the `scale` profile's PostgreSQL; then, under a
compose project of its own, the default setup (one-shot trainer on SQLite, one API whose embedded worker runs
the jobs) and the `scale` profile (PostgreSQL, a trainer on it, two API replicas with `serve --no-worker`, two
`temporal-order worker` containers). For each: the time from `up` to every API's /readyz 200, the time from the
API container's start to it, /generate, /classify and /classify/batch on every replica, and a small training job:
submitted through one replica, seen claimed (its `worker`) by the container that must run it (the API in the
default setup, one of the two workers in `scale`), followed to success through the other replica, and its result
read back through both. Every container is removed at the end, volumes too; the images are kept. Ports are
published on 127.0.0.1 only, and the builds run on the host network.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from machine import describe_machine  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "image.json"
LOGS = ROOT / "build" / "image-check"
WHEELHOUSE = ROOT / "build" / "wheelhouse"
DEBOOTSTRAP_BASE = "temporal-order-base:bookworm"
SERVICE_IMAGE = "temporal-order"
POSTGRES_IMAGE = "temporal-order-postgres"
PROJECT = "temporal-order-image-check"
TERMINAL_JOB_STATES = {"succeeded", "failed", "cancelled", "interrupted"}


class CheckFailed(Exception):
    """A step of the check failed; the message says which and why."""


def log(message: str) -> None:
    print(f"[image-check {time.strftime('%H:%M:%S')}] {message}", flush=True)


def run(command: list[str], *, env: dict[str, str] | None = None, log_name: str | None = None) -> str:
    """Run a command to completion; its output goes to build/image-check/LOG_NAME.log when named, else is returned."""
    log("$ " + " ".join(command))
    if log_name is None:
        done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise CheckFailed(f"{' '.join(command)} exited {done.returncode}: {done.stderr.strip()[-2000:]}")
        return done.stdout
    path = LOGS / f"{log_name}.log"
    with path.open("w") as out:
        returncode = subprocess.run(command, env=env, stdout=out, stderr=subprocess.STDOUT, check=False).returncode
    if returncode != 0:
        tail = path.read_text(errors="replace")[-3000:]
        raise CheckFailed(f"{' '.join(command)} exited {returncode} (log: {path}):\n{tail}")
    return ""


def compose_command() -> list[str]:
    """Compose v2 (`docker compose`) where the plugin is installed, else Debian's docker-compose (v1)."""
    if subprocess.run(["docker", "compose", "version"], capture_output=True, check=False).returncode == 0:
        return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    raise CheckFailed("no Compose: install the compose plugin or Debian's docker-compose")


def image_exists(tag: str) -> bool:
    return subprocess.run(["docker", "image", "inspect", tag], capture_output=True, check=False).returncode == 0


def ensure_base_image(tag: str) -> None:
    if image_exists(tag) or tag != DEBOOTSTRAP_BASE:
        return  # another base is pulled by the build itself
    log(f"{tag} missing: making it with debootstrap")
    run([str(ROOT / "deploy" / "base_image.sh"), tag], log_name="base-image")


def ensure_wheelhouse() -> None:
    if list(WHEELHOUSE.glob("torch-*.whl")) and list(WHEELHOUSE.glob("fastapi-*.whl")):
        return
    log(f"{WHEELHOUSE} missing or incomplete: filling it")
    run([str(ROOT / "deploy" / "wheelhouse.sh"), str(WHEELHOUSE)], log_name="wheelhouse")


def build(tag: str, context: Path, base_image: str, no_cache: bool) -> float:
    """`docker build` on the host network; the seconds it took. (Its steps run under the daemon, at the daemon's
    nice level: niced here, only the client would be.)"""
    command = ["docker", "build", "--network", "host", "--build-arg", f"BASE_IMAGE={base_image}"]
    command += ["--no-cache"] if no_cache else []
    started = time.monotonic()
    run([*command, "-t", tag, str(context)], log_name=f"build-{tag}")
    return round(time.monotonic() - started, 1)


def image_size_mb(tag: str) -> float:
    return round(int(run(["docker", "image", "inspect", "--format", "{{.Size}}", tag]).strip()) / 1e6, 1)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def http(method: str, url: str, body: Any = None, api_key: str | None = None, timeout: float = 30) -> Any:
    """One JSON request; the decoded answer, or CheckFailed naming the URL, the status and the body."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("content-type", "application/json")
    if api_key:
        request.add_header("x-api-key", api_key)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as error:
        raise CheckFailed(f"{method} {url}: {error.code} {error.read()[:500]!r}") from None


def is_ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/readyz", timeout=2) as response:
            return bool(response.status == 200)
    except (OSError, urllib.error.URLError):
        return False  # not listening yet, or 503 while it loads


class ComposeProject:
    """One compose project (its own name, ports and volumes), torn down completely by down()."""

    def __init__(self, compose: list[str], env: dict[str, str], profiles: list[str]) -> None:
        self.base = [*compose, "--project-name", PROJECT, "--file", str(ROOT / "docker-compose.yml")]
        for profile in profiles:
            self.base += ["--profile", profile]
        self.env = {**os.environ, **env}

    def command(self, *args: str) -> list[str]:
        return [*self.base, *args]

    def up(self, services: list[str]) -> subprocess.Popen[bytes]:
        """`up -d` in the background: Compose waits for the one-shot trainer before it starts the APIs."""
        log("$ " + " ".join(self.command("up", "-d", *services)))
        out = (LOGS / "compose-up.log").open("ab")
        return subprocess.Popen(self.command("up", "-d", *services), env=self.env, stdout=out, stderr=out)

    def container(self, service: str) -> str:
        ids = run(self.command("ps", "-q", service), env=self.env).split()
        if not ids:
            raise CheckFailed(f"no container for service {service}")
        return ids[0]

    def container_logs(self, service: str) -> str:
        done = subprocess.run(["docker", "logs", self.container(service)], capture_output=True, text=True, check=False)
        return done.stdout + done.stderr

    def state(self, service: str) -> dict[str, Any]:
        state: dict[str, Any] = json.loads(
            run(["docker", "inspect", "--format", "{{json .State}}", self.container(service)])
        )
        return state

    def logs(self, name: str) -> None:
        run(self.command("logs", "--no-color"), env=self.env, log_name=f"logs-{name}")

    def down(self) -> None:
        run(self.command("down", "--volumes", "--remove-orphans"), env=self.env, log_name="compose-down")


def docker_time(value: str) -> float:
    """Docker's RFC 3339 time with nanoseconds as a Unix time (Python parses microseconds at most)."""
    head, _, fraction = value.rstrip("Z").partition(".")
    return datetime.fromisoformat(f"{head}.{(fraction or '0')[:6]:0<6}+00:00").timestamp()


def wait_ready(urls: dict[str, str], up: subprocess.Popen[bytes], limit_s: float, ready_at: dict[str, float]) -> float:
    """Poll every API's /readyz until all answer 200, noting when each first did (Unix time) in `ready_at`; the
    seconds since `up` started."""
    started = time.monotonic()
    pending = dict(urls)
    while pending:
        for service, url in list(pending.items()):
            if is_ready(url):
                ready_at[service] = time.time()
                log(f"{service} ready after {time.monotonic() - started:.1f} s")
                del pending[service]
        if up.poll() not in (None, 0):
            raise CheckFailed(f"compose up exited {up.returncode} (log: {LOGS / 'compose-up.log'})")
        if time.monotonic() - started > limit_s:
            raise CheckFailed(f"not ready within {limit_s:.0f} s: {', '.join(pending)}")
        time.sleep(0.2)
    return round(time.monotonic() - started, 1)


def start_to_ready_s(project: ComposeProject, service: str, ready_at: float) -> float:
    """From the API container's start (Docker's clock, this machine's) to its first /readyz 200 seen here."""
    return round(ready_at - docker_time(project.state(service)["StartedAt"]), 1)


def classify_smoke(url: str) -> dict[str, Any]:
    """Fresh sequences from /generate, classified one by one and as a batch; how many agree with their labels."""
    generated = http("POST", f"{url}/generate", {"n": 16, "task": "6b", "seed": 20261201})["sequences"]
    single = [http("POST", f"{url}/classify", {"sequence": item["sequence"], "arch": "lstm"}) for item in generated]
    batch = http(
        "POST", f"{url}/classify/batch", {"sequences": [item["sequence"] for item in generated], "arch": "lstm"}
    )
    batch_labels = [result["label"] for result in batch["results"]]
    single_labels = [result["label"] for result in single]
    if batch_labels != single_labels:
        raise CheckFailed(f"{url}: /classify/batch labels {batch_labels} differ from /classify's {single_labels}")
    return {
        "sequences": len(generated),
        "correct": sum(result["label"] == item["label"] for result, item in zip(single, generated, strict=True)),
        "model_version": single[0]["model_version"],
    }


def worker_service(worker_id: str | None, containers: dict[str, str]) -> str | None:
    """The compose service whose container runs the worker `worker_id` (HOST:PID:RANDOM, HOST the container's
    hostname: the first 12 digits of its id); None when no service's container matches."""
    host = (worker_id or "").split(":", 1)[0]
    return next((service for service, cid in containers.items() if host and cid.startswith(host)), None)


def job_smoke(
    submit_url: str, follow_url: str, api_key: str, runners: dict[str, str], limit_s: float
) -> dict[str, Any]:
    """A small training job (not activated), submitted through one API, followed through another: it must be claimed
    by one of `runners` (service -> container id), succeed, and read the same through both APIs."""
    params = {"arch": "lstm", "trials": 1, "max_sequences": 2000, "seed": 3, "activate": False}
    job = http("POST", f"{submit_url}/train", params, api_key=api_key)
    started = time.monotonic()
    claimed_s: float | None = None
    while job["status"] not in TERMINAL_JOB_STATES:
        if time.monotonic() - started > limit_s:
            raise CheckFailed(f"job {job['id']} still {job['status']} after {limit_s:.0f} s")
        time.sleep(0.5)
        job = http("GET", f"{follow_url}/train/{job['id']}")
        if claimed_s is None and job.get("worker"):
            claimed_s = round(time.monotonic() - started, 1)
            log(f"job {job['id']} claimed by {job['worker']} after {claimed_s} s")
    ran_in = worker_service(job.get("worker"), runners)
    outcome = {
        "params": params,
        "submitted_through": submit_url,
        "followed_through": follow_url,
        "status": job["status"],
        "error": job["error"],
        "seconds": round(time.monotonic() - started, 1),
        "claimed_after_s": claimed_s,
        "trials": len(job["results"]),
        # Which worker claimed it (the queue's record) and the compose service whose container that worker is.
        "worker": job.get("worker"),
        "worker_service": ran_in,
        "attempts": job.get("attempts"),
    }
    if job["status"] != "succeeded":
        raise CheckFailed(f"job {job['id']} ended {job['status']}: {job['error']}")
    if ran_in is None:
        raise CheckFailed(f"job {job['id']} was run by {job.get('worker')!r}, none of {', '.join(runners)}")
    if job.get("attempts") != 1:
        raise CheckFailed(f"job {job['id']} was claimed {job.get('attempts')} times, not once")
    through_submitter = http("GET", f"{submit_url}/train/{job['id']}")
    if through_submitter != job:
        raise CheckFailed(f"job {job['id']} reads differently through {submit_url} and {follow_url}")
    outcome["same_through_both"] = True
    return outcome


def worker_ids(project: ComposeProject, services: list[str], limit_s: float) -> dict[str, str]:
    """Each worker container's id in the queue, from the line `temporal-order worker` prints once it polls."""
    ids: dict[str, str] = {}
    started = time.monotonic()
    while len(ids) < len(services):
        for service in services:
            found = re.search(r"training worker (\S+) on ", project.container_logs(service))
            if found is not None:
                ids[service] = found.group(1)
        if len(ids) < len(services) and time.monotonic() - started > limit_s:
            missing = ", ".join(sorted(set(services) - set(ids)))
            raise CheckFailed(f"no 'training worker ... on' line within {limit_s:.0f} s in the log of {missing}")
        time.sleep(0.5)
    return ids


def check_running(project: ComposeProject, services: list[str]) -> dict[str, str]:
    """Every service's container still up, none restarted (a crashing worker would be restarted by compose), and
    healthy where it has a health check; each one's health ('none' without a check)."""
    health: dict[str, str] = {}
    for service in services:
        state = project.state(service)
        health[service] = state.get("Health", {}).get("Status", "none")
        if health[service] not in ("healthy", "none"):
            raise CheckFailed(f"{service} is {health[service]}: {state.get('Health')}")
        restarts = int(
            json.loads(run(["docker", "inspect", "--format", "{{json .RestartCount}}", project.container(service)]))
        )
        if not state["Running"] or restarts:
            raise CheckFailed(f"{service}: running={state['Running']}, restarted {restarts} times: {state}")
    return health


def check_setup(name: str, compose: list[str], args: argparse.Namespace, api_key: str) -> dict[str, Any]:
    """Bring one setup up, smoke it, tear it down; its figures (and `error` if a step failed)."""
    scale = name == "scale"
    ports = {"api-1": free_port(), "api-2": free_port()} if scale else {"api": free_port()}
    env = {
        "BASE_IMAGE": args.base_image,
        "TEMPORAL_ORDER_API_KEY": api_key,
        "TEMPORAL_ORDER_BOOTSTRAP_ARGS": args.bootstrap_args,
        "TEMPORAL_ORDER_PORT": str(ports.get("api", 8000)),
        "TEMPORAL_ORDER_SCALE_PORT_1": str(ports.get("api-1", 8001)),
        "TEMPORAL_ORDER_SCALE_PORT_2": str(ports.get("api-2", 8002)),
        "TEMPORAL_ORDER_POSTGRES_PASSWORD": secrets.token_hex(12),
    }
    project = ComposeProject(compose, env, ["scale"] if scale else [])
    urls = {service: f"http://127.0.0.1:{port}" for service, port in ports.items()}
    # Who may run the job: the scale profile's workers (its APIs run `serve --no-worker`), else the API itself.
    runners = ["worker-1", "worker-2"] if scale else ["api"]
    services = list(dict.fromkeys([*ports, *runners]))
    result: dict[str, Any] = {"bootstrap_args": args.bootstrap_args, "services": services}
    project.down()  # leftovers of an interrupted earlier check
    try:
        up = project.up(services)
        ready_at: dict[str, float] = {}
        result["up_to_all_ready_s"] = wait_ready(urls, up, args.ready_limit_s, ready_at)
        if up.wait(timeout=120) != 0:
            raise CheckFailed(f"compose up exited {up.returncode}")
        result["api_start_to_ready_s"] = {s: start_to_ready_s(project, s, ready_at[s]) for s in ports}
        trainer = "bootstrap-pg" if scale else "trainer"
        trainer_state = project.state(trainer)
        result["bootstrap_s"] = round(
            docker_time(trainer_state["FinishedAt"]) - docker_time(trainer_state["StartedAt"]), 1
        )
        result["health"] = {s: http("GET", f"{url}/readyz") for s, url in urls.items()}
        result["classify"] = {s: classify_smoke(url) for s, url in urls.items()}
        if scale:
            result["workers"] = worker_ids(project, runners, args.ready_limit_s)
        replicas = list(urls.values())
        containers = {service: project.container(service) for service in runners}
        result["job"] = job_smoke(replicas[0], replicas[-1], api_key, containers, args.job_limit_s)
        result["health_at_end"] = check_running(project, services)
        result["ok"] = True
    except (CheckFailed, subprocess.TimeoutExpired) as error:
        log(f"{name}: FAILED: {error}")
        result["ok"] = False
        result["error"] = str(error)
    finally:
        try:
            project.logs(name)
        except CheckFailed as error:
            log(f"could not save the logs: {error}")
        project.down()
    return result


def source() -> str:
    """The commit the image is built from, marked when the working tree differs from it."""
    commit = run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"]).strip()
    dirty = run(["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"]).strip()
    return f"{commit} (with uncommitted changes)" if dirty else commit


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base-image", default=DEBOOTSTRAP_BASE, help="BASE_IMAGE of both builds")
    parser.add_argument("--no-cache", action="store_true", help="build every layer again (a cold build's time)")
    parser.add_argument(
        "--bootstrap-args",
        default="--arch lstm",
        help="what the one-shot trainers train (TEMPORAL_ORDER_BOOTSTRAP_ARGS; '' for compose's default)",
    )
    parser.add_argument("--setups", default="default,scale", help="which compose setups to check")
    parser.add_argument("--ready-limit-s", type=float, default=1800.0)
    parser.add_argument("--job-limit-s", type=float, default=900.0)
    args = parser.parse_args()

    LOGS.mkdir(parents=True, exist_ok=True)
    (LOGS / "compose-up.log").write_bytes(b"")
    results: dict[str, Any] = {"machine": describe_machine(), "base_image": args.base_image, "source": source()}
    results["machine"]["load_average_at_start"] = os.getloadavg()
    try:
        compose = compose_command()
        results["docker"] = json.loads(run(["docker", "version", "--format", "{{json .Server.Version}}"]))
        results["compose"] = run([*compose, "version", "--short"]).strip()
        ensure_base_image(args.base_image)
        ensure_wheelhouse()
        results["build"] = {"no_cache": args.no_cache}
        results["build"]["service_s"] = build(SERVICE_IMAGE, ROOT, args.base_image, args.no_cache)
        results["build"]["postgres_s"] = build(
            POSTGRES_IMAGE, ROOT / "deploy" / "postgres", args.base_image, args.no_cache
        )
        results["image_size_mb"] = {tag: image_size_mb(tag) for tag in (args.base_image, SERVICE_IMAGE, POSTGRES_IMAGE)}
    except CheckFailed as error:
        log(f"FAILED before any container started: {error}")
        results["error"] = str(error)
        write_results(results)
        return 1
    api_key = secrets.token_hex(24)
    for name in args.setups.split(","):
        log(f"--- {name} setup ---")
        results[name] = check_setup(name, compose, args, api_key)
    write_results(results)
    failed = [name for name in args.setups.split(",") if not results[name]["ok"]]
    log(f"wrote {RESULTS}" + (f"; FAILED: {', '.join(failed)}" if failed else "; every setup passed"))
    return 1 if failed else 0


def write_results(results: dict[str, Any]) -> None:
    results["machine"]["load_average_at_end"] = os.getloadavg()
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    sys.exit(main())
