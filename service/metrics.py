"""What /metrics reports: the protocol's summary per architecture beside the paper's figures (JSON), and
the service's own counters in Prometheus text exposition."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)

from service.schemas import ArchMetrics, MetricsPublic, PaperFiguresPublic, SummaryPublic
from training.evaluate import PAPER_FIGURES
from training.registry import JOB_STATUSES, Registry

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)
# A lone request waits microseconds for the batcher's worker; a queue behind a long forward, milliseconds and more.
QUEUE_WAIT_BUCKETS = (0.00005, 0.0001, 0.00025, *LATENCY_BUCKETS)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096)


class ServiceMetrics:
    """Prometheus instruments in a registry of their own, so that several apps in one process never clash."""

    def __init__(self) -> None:
        # (method, route, status) → the labelled counter and histogram: `labels()` locks and builds a key on
        # every call, a visible cost at thousands of requests a second.
        self._request_children: dict[tuple[str, str, str], tuple[Any, Any]] = {}
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "temporal_order_http_requests",
            "HTTP requests by method, route template and status code.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "temporal_order_http_request_duration_seconds",
            "Time from the first byte of the request to the end of the response, per route template.",
            ["route"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.batch_size = Histogram(
            "temporal_order_inference_batch_size",
            "Sequences per forward pass: 'micro' for batched single requests, 'batch' for /classify/batch.",
            ["arch", "kind"],
            buckets=BATCH_BUCKETS,
            registry=self.registry,
        )
        self.jobs = Gauge(
            "temporal_order_training_jobs",
            "Training jobs in the registry by status (the most recent 1000).",
            ["status"],
            registry=self.registry,
        )
        self.test_error = Gauge(
            "temporal_order_test_error",
            "Mean wrong predictions per test sequence over the active run's trials, by counting rule.",
            ["arch", "rule"],
            registry=self.registry,
        )
        self.model_version = Gauge(
            "temporal_order_active_model_version",
            "The version each architecture serves (0 when none).",
            ["arch"],
            registry=self.registry,
        )
        self.forward_seconds = Histogram(
            "temporal_order_forward_duration_seconds",
            "Time of one forward pass (a micro-batch, a batch request or an explanation), per architecture.",
            ["arch"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.queue_wait_seconds = Histogram(
            "temporal_order_queue_wait_seconds",
            "Time a single classification waits in its architecture's micro-batcher before its forward starts.",
            ["arch"],
            buckets=QUEUE_WAIT_BUCKETS,
            registry=self.registry,
        )
        # The process's CPU, memory and open files, the interpreter's collections and its version: what an operator
        # looks at first, in the service's own registry beside its other series.
        ProcessCollector(registry=self.registry)
        GCCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        self._forward_children: dict[str, Any] = {}
        self._queue_wait_children: dict[str, Any] = {}
        self.model_ready = Gauge(
            "temporal_order_model_ready", "1 when the architecture serves requests.", ["arch"], registry=self.registry
        )

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        key = (method, route, str(status))
        children = self._request_children.get(key)
        if children is None:
            children = (self.requests.labels(*key), self.latency.labels(route))
            self._request_children[key] = children
        children[0].inc()
        children[1].observe(seconds)

    def observe_forward(self, arch: str, seconds: float) -> None:
        child = self._forward_children.get(arch)
        if child is None:
            child = self._forward_children[arch] = self.forward_seconds.labels(arch)
        child.observe(seconds)

    def observe_queue_wait(self, arch: str, waits: list[float]) -> None:
        child = self._queue_wait_children.get(arch)
        if child is None:
            child = self._queue_wait_children[arch] = self.queue_wait_seconds.labels(arch)
        for seconds in waits:
            child.observe(seconds)

    def observe_batch(self, arch: str, kind: str, size: int) -> None:
        self.batch_size.labels(arch=arch, kind=kind).observe(size)

    def refresh_from_registry(self, registry: Registry, arches: Iterable[str], served: dict[str, int | None]) -> None:
        """Set the gauges that mirror the registry; called when Prometheus scrapes."""
        counts = dict.fromkeys(JOB_STATUSES, 0)
        for job in registry.jobs(limit=1000):
            counts[job.status] = counts.get(job.status, 0) + 1
        for status, count in counts.items():
            self.jobs.labels(status=status).set(count)
        for arch in arches:
            version = served.get(arch)
            self.model_version.labels(arch=arch).set(version or 0)
            self.model_ready.labels(arch=arch).set(1 if version else 0)
            summary = registry.active_summary(arch)
            if summary is None:
                continue
            _, _, protocol = summary
            if protocol.n_test:
                self.test_error.labels(arch=arch, rule="argmax").set(protocol.mean_wrong_argmax / protocol.n_test)
                self.test_error.labels(arch=arch, rule="paper").set(protocol.mean_wrong_paper / protocol.n_test)

    def render(self) -> bytes:
        return generate_latest(self.registry)


def protocol_metrics(registry: Registry, arches: Iterable[str]) -> MetricsPublic:
    """Per architecture: the paper's protocol over its active run, and the paper's own figures for that task."""
    rows = []
    for arch in arches:
        found = registry.active_summary(arch)
        if found is None:
            rows.append(ArchMetrics(arch=arch, task=None, active_version=None, run_id=None, summary=None, paper=None))  # type: ignore[arg-type]
            continue
        info, run, summary = found
        figures = PAPER_FIGURES.get(run.task)  # none for shortened or custom variants
        rows.append(
            ArchMetrics(
                arch=arch,  # type: ignore[arg-type]
                task=run.task,
                active_version=info.version,
                run_id=run.id,
                summary=SummaryPublic(**summary.to_dict()),
                paper=PaperFiguresPublic(**figures.to_dict()) if figures else None,
            )
        )
    return MetricsPublic(architectures=rows)
