"""What an operator scrapes: process and GC collectors, forward time and queue wait per architecture, the served
version, and every series the Grafana dashboard in deploy/ plots."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import httpx
import yaml

DEPLOY = Path(__file__).resolve().parents[3] / "deploy"


PROMETHEUS_ACCEPT = "application/openmetrics-text;version=1.0.0,text/plain;q=0.5"  # what Prometheus sends


def sample(text: str, series: str, arch: str) -> float:
    found = re.search(rf'^{series}{{arch="{arch}"}} (\S+)', text, re.M)
    assert found is not None, f"{series} for {arch} is missing from the scrape"
    return float(found.group(1))


def scrape(live_server: Any) -> str:
    with httpx.Client(base_url=live_server.url, timeout=30) as http:
        sequence = http.post("/generate", json={"n": 1, "seed": 4}).json()["sequences"][0]["sequence"]
        assert http.post("/classify", json={"sequence": sequence, "arch": "lstm"}).status_code == 200
        assert http.post("/classify/batch", json={"sequences": [sequence] * 3, "arch": "rnn"}).status_code == 200
        answer = http.get("/metrics", headers={"Accept": PROMETHEUS_ACCEPT})
    assert answer.status_code == 200
    return answer.text


def test_the_scrape_has_process_gc_forward_and_version_series(live_server: Any) -> None:
    text = scrape(live_server)
    for series in ("process_resident_memory_bytes", "process_cpu_seconds_total", "python_gc_collections_total"):
        assert re.search(rf"^{series}[{{ ]", text, re.M), series
    for arch in ("lstm", "rnn"):
        count = re.search(rf'^temporal_order_forward_duration_seconds_count{{arch="{arch}"}} (\S+)', text, re.M)
        assert count is not None and float(count.group(1)) >= 1, arch
        assert re.search(rf'^temporal_order_active_model_version{{arch="{arch}"}} [1-9]', text, re.M)


def test_every_single_classification_is_counted_in_its_architectures_queue_wait(live_server: Any) -> None:
    with httpx.Client(base_url=live_server.url, timeout=30) as http:
        sequences = [s["sequence"] for s in http.post("/generate", json={"n": 3, "seed": 9}).json()["sequences"]]
        assert (
            http.post("/classify", json={"sequence": sequences[0], "arch": "lstm"}).status_code == 200
        )  # the series exists
        before = http.get("/metrics", headers={"Accept": PROMETHEUS_ACCEPT}).text
        for sequence in sequences:  # the fast lane and the routed /classify both queue in the micro-batcher
            assert http.post("/classify", json={"sequence": sequence, "arch": "lstm"}).status_code == 200
        body = json.dumps({"sequence": sequences[0], "arch": "lstm"}).encode()
        # a streamed body (no Content-Length) takes FastAPI's route instead of the fast lane
        routed = http.post("/classify", content=iter([body]), headers={"Content-Type": "application/json"})
        assert routed.status_code == 200
        assert http.post("/classify/batch", json={"sequences": sequences, "arch": "lstm"}).status_code == 200
        after = http.get("/metrics", headers={"Accept": PROMETHEUS_ACCEPT}).text
        active = http.get("/models/lstm").json()["active_version"]
    count = "temporal_order_queue_wait_seconds_count"
    # Four single requests queued; the batch request runs its own forward and waits in no batcher.
    assert sample(after, count, "lstm") - sample(before, count, "lstm") == 4
    waited = sample(after, "temporal_order_queue_wait_seconds_sum", "lstm")
    assert waited >= sample(before, "temporal_order_queue_wait_seconds_sum", "lstm")
    assert re.search(r'^temporal_order_queue_wait_seconds_bucket{arch="lstm",le="\+Inf"} ', after, re.M)
    assert sample(after, "temporal_order_active_model_version", "lstm") == active


def test_the_dashboard_plots_only_series_the_service_exports(live_server: Any) -> None:
    text = scrape(live_server)
    dashboard = json.loads((DEPLOY / "grafana" / "temporal-order.json").read_text())
    expressions = [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]
    names = {name for expr in expressions for name in re.findall(r"\b((?:temporal_order|process|python)_\w+)", expr)}
    assert len(names) >= 8
    for shown in ("temporal_order_queue_wait_seconds_bucket", "temporal_order_forward_duration_seconds_bucket"):
        assert shown in names, f"the dashboard does not plot {shown}"
    assert "temporal_order_active_model_version" in names
    for name in names:
        assert re.search(rf"^{name}[{{ ]", text, re.M), f"the dashboard plots {name}, which the service does not export"
    config = yaml.safe_load((DEPLOY / "prometheus.yml").read_text())
    assert config["scrape_configs"][0]["metrics_path"] == "/metrics"
