"""Every endpoint's happy path, against a real uvicorn."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import torch

from service.schemas import (
    ClassifyBatchResult,
    ClassifyResult,
    GenerateResult,
    Health,
    MetricsPublic,
    ModelList,
    ModelPublic,
    Readiness,
    TrainJobList,
)
from training.architectures import ARCHITECTURES
from training.models import one_hot
from training.registry import Registry
from training.sequences import pad_parsed, parse, rule_label
from training.task import get_task

ARCHES = ("rnn", "lstm", "attn_rnn", "attn_rnn_seed", "lstm1997", "gru")


@pytest.fixture(scope="module")
def client(live_server: Any) -> Any:
    with httpx.Client(base_url=live_server.url, timeout=30) as session:
        yield session


@pytest.fixture(scope="module")
def generated(client: httpx.Client) -> GenerateResult:
    response = client.post("/generate", json={"n": 8, "task": "6b", "seed": 7})
    assert response.status_code == 200
    return GenerateResult.model_validate(response.json())


def test_health_and_readiness(client: httpx.Client) -> None:
    assert Health.model_validate(client.get("/healthz").json()).status == "ok"
    response = client.get("/readyz")
    assert response.status_code == 200
    ready = Readiness.model_validate(response.json())
    assert ready.ready and ready.registry
    assert ready.models == dict.fromkeys(ARCHES, "ready")


def test_generate_is_seeded_and_labelled(client: httpx.Client, generated: GenerateResult) -> None:
    again = client.post("/generate", json={"n": 8, "task": "6b", "seed": 7}).json()
    assert again == generated.model_dump(mode="json")
    spec = get_task("6b")
    for item in generated.sequences:
        assert spec.class_names[rule_label(item.sequence, spec)] == item.label
        assert [item.sequence[p - 1] for p in item.positions] == list(item.label)
    six_a = GenerateResult.model_validate(client.post("/generate", json={"n": 3, "task": "6a"}).json())
    assert all(len(item.label) == 2 for item in six_a.sequences)


def test_generate_the_maximum(client: httpx.Client) -> None:
    body = client.post("/generate", json={"n": 10_000, "seed": 1}).json()
    assert len(body["sequences"]) == 10_000


@pytest.mark.parametrize("arch", ARCHES)
def test_classify_each_architecture(client: httpx.Client, generated: GenerateResult, arch: str) -> None:
    item = generated.sequences[0]
    response = client.post("/classify", json={"sequence": item.sequence, "arch": arch})
    assert response.status_code == 200, response.text
    result = ClassifyResult.model_validate(response.json())
    assert result.arch == arch and result.model_version >= 1
    assert list(result.probabilities) == list(get_task("6b").class_names)
    if arch == "lstm1997":
        # The paper's logistic output units: each in (0, 1), one per class, with no reason to sum to 1.
        assert all(0 < p < 1 for p in result.probabilities.values())
    else:
        assert abs(sum(result.probabilities.values()) - 1) < 1e-5
    assert result.label == max(result.probabilities, key=result.probabilities.__getitem__)
    assert result.rule_label == item.label and result.in_distribution and result.attribution is None


def test_classify_defaults_to_the_lowest_test_error(client: httpx.Client, generated: GenerateResult) -> None:
    # Worked out here from each active version's recorded test result, not from the service's own choice.
    models = ModelList.model_validate(client.get("/models").json())
    errors = {
        model.arch: version.wrong_argmax / version.n_test
        for model in models.models
        for version in model.versions
        if version.active
    }
    assert set(ARCHES) <= set(errors)
    assert min(errors.values()) < max(errors.values()), "the check needs versions that differ"
    # Ties go to the first in the order of the architectures.
    best = min((arch for arch in ARCHITECTURES if arch in errors), key=errors.__getitem__)
    result = client.post("/classify", json={"sequence": generated.sequences[0].sequence}).json()
    assert result["arch"] == best
    assert models.default_arch == best


def test_classify_reports_malformed_and_out_of_distribution(client: httpx.Client) -> None:
    short = client.post("/classify", json={"sequence": "E a X b Y c X B"}).json()
    assert short["rule_label"] == "XYX" and not short["in_distribution"]
    assert any("length 8" in problem for problem in short["problems"])
    malformed = client.post("/classify", json={"sequence": "abcd"}).json()
    assert malformed["rule_label"] is None and malformed["problems"]


@pytest.mark.parametrize(
    ("arch", "method"),
    [
        ("lstm", "gradient_x_input"),
        ("attn_rnn", "attention"),
        ("lstm1997", "gradient_x_input"),
        ("gru", "gradient_x_input"),
    ],
)
def test_explain_gives_one_number_per_symbol(
    client: httpx.Client, generated: GenerateResult, arch: str, method: str
) -> None:
    sequence = generated.sequences[1].sequence
    result = client.post("/classify", json={"sequence": sequence, "arch": arch, "explain": True}).json()
    assert result["attribution_method"] == method
    assert len(result["attribution"]) == len(sequence)
    if method == "attention":
        assert abs(sum(result["attribution"]) - 1) < 1e-4


@pytest.mark.parametrize("arch", ["lstm", "attn_rnn"])
def test_explain_values_are_those_of_the_served_checkpoint(
    client: httpx.Client, live_server: Any, generated: GenerateResult, arch: str
) -> None:
    """Recomputed here from the registry's checkpoint: the attention weights, or gradient × input of the
    predicted class's log-probability, symbol by symbol."""
    answers = [
        client.post("/classify", json={"sequence": item.sequence, "arch": arch, "explain": True}).json()
        for item in generated.sequences
    ]
    # A sequence not predicted as class 0, so explaining the wrong class would show.
    pairs = zip(generated.sequences, answers, strict=True)
    sequence, result = next((item.sequence, answer) for item, answer in pairs if answer["class_index"])
    registry = Registry(live_server.database_url)
    try:
        model = registry.load_model(arch, result["model_version"]).model.eval()
    finally:
        registry.close()
    tokens, lengths = pad_parsed([parse(sequence)])
    inputs = one_hot(tokens).requires_grad_(True)  # (1, T, S)
    if arch == "attn_rnn":
        expected = model.attention(inputs, lengths)[0]
    else:
        model(inputs, lengths).log_softmax(dim=1)[0, result["class_index"]].backward()
        assert inputs.grad is not None
        expected = (inputs.grad * inputs).sum(dim=2)[0]
    assert result["attribution"] == pytest.approx(expected.tolist(), abs=1e-5)
    assert max(abs(value) for value in result["attribution"]) > 1e-6  # not all zeros


def test_classify_batch_answers_in_order(client: httpx.Client, generated: GenerateResult) -> None:
    sequences = [item.sequence for item in generated.sequences]
    response = client.post("/classify/batch", json={"sequences": sequences, "arch": "lstm"})
    assert response.status_code == 200
    batch = ClassifyBatchResult.model_validate(response.json())
    assert [r.rule_label for r in batch.results] == [item.label for item in generated.sequences]


def test_classify_batch_of_the_maximum_size(client: httpx.Client) -> None:
    sequences = [item["sequence"] for item in client.post("/generate", json={"n": 1024}).json()["sequences"]]
    results = client.post("/classify/batch", json={"sequences": sequences}).json()["results"]
    assert len(results) == 1024


def test_served_lstm_gives_its_checkpoints_probabilities(client: httpx.Client, live_server: Any) -> None:
    # The service runs the LSTM through its frozen compiled copy; it must be the checkpoint's own function.
    generated = client.post("/generate", json={"n": 300, "seed": 3}).json()["sequences"]
    texts = [item["sequence"] for item in generated]
    registry = Registry(live_server.database_url)
    try:
        model = registry.load_model("lstm").model.eval()
    finally:
        registry.close()
    tokens, lengths = pad_parsed([parse(text) for text in texts])
    with torch.no_grad():
        expected = model(one_hot(tokens), lengths).softmax(dim=1).tolist()
    names = get_task("6b").class_names
    served = client.post("/classify/batch", json={"sequences": texts, "arch": "lstm"}).json()["results"]
    single = client.post("/classify", json={"sequence": texts[0], "arch": "lstm"}).json()
    for row, want in zip([single, *served], [expected[0], *expected], strict=True):
        assert max(abs(row["probabilities"][name] - value) for name, value in zip(names, want, strict=True)) < 1e-5


def test_models(client: httpx.Client) -> None:
    listing = ModelList.model_validate(client.get("/models").json())
    assert [m.arch for m in listing.models] == list(ARCHES)
    for model in listing.models:
        assert model.state == "ready" and model.device == "cpu" and model.parameter_count
        assert any(v.active and v.version == model.active_version for v in model.versions)
    one = ModelPublic.model_validate(client.get("/models/lstm").json())
    assert one.arch == "lstm" and one.versions


def test_metrics_json_beside_the_paper(client: httpx.Client) -> None:
    metrics = MetricsPublic.model_validate(client.get("/metrics").json())
    by_arch = {row.arch: row for row in metrics.architectures}
    assert set(by_arch) == set(ARCHES)
    lstm = by_arch["lstm"]
    assert lstm.summary is not None and lstm.summary.trials == 1 and lstm.summary.n_test > 0
    assert lstm.paper is not None and lstm.paper.sequences_to_criterion == 571_100


def test_metrics_prometheus(client: httpx.Client, generated: GenerateResult) -> None:
    client.post("/classify", json={"sequence": generated.sequences[0].sequence})
    response = client.get("/metrics", headers={"Accept": "text/plain"})
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert 'temporal_order_http_requests_total{method="POST",route="/classify",status="200"}' in text
    assert "temporal_order_http_request_duration_seconds_bucket" in text
    assert "temporal_order_inference_batch_size_bucket" in text
    assert 'temporal_order_training_jobs{status="running"}' in text
    assert 'temporal_order_test_error{arch="lstm",rule="argmax"}' in text


def test_train_list_and_openapi(client: httpx.Client) -> None:
    TrainJobList.model_validate(client.get("/train").json())
    spec = client.get("/openapi.json").json()
    assert "/classify" in spec["paths"] and "/models/{arch}/activate" in spec["paths"]


def test_bearer_token_is_accepted(client: httpx.Client, live_server: Any) -> None:
    headers = {"Authorization": f"Bearer {live_server.api_key}"}
    response = client.post("/models/rnn/activate", json={"version": 1}, headers=headers)
    assert response.status_code == 200, response.text
    assert response.json()["active_version"] == 1
