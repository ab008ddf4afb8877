"""The Open Inference Protocol (v2 REST) through a client nobody here wrote: tritonclient's HTTP client, with
its default binary tensor data and with plain JSON, against a real uvicorn; answers match the native API."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import numpy as np
import pytest
from tritonclient import http as triton
from tritonclient.utils import InferenceServerException

from tests.support.server import LiveServer


@pytest.fixture(scope="module")
def client(server: LiveServer) -> Iterator[triton.InferenceServerClient]:
    connection = triton.InferenceServerClient(server.url.removeprefix("http://"), network_timeout=60.0)
    yield connection
    connection.close()


@pytest.fixture(scope="module")
def sequences(server: LiveServer) -> list[str]:
    drawn = httpx.post(f"{server.url}/generate", json={"n": 5, "seed": 11}, timeout=30).json()
    return [item["sequence"] for item in drawn["sequences"]]


def native(server: LiveServer, sequences: list[str]) -> tuple[np.ndarray, list[str], int]:
    answer = httpx.post(f"{server.url}/classify/batch", json={"sequences": sequences, "arch": "lstm"}, timeout=30)
    results = answer.json()["results"]
    probabilities = np.array([list(result["probabilities"].values()) for result in results])
    return probabilities, [result["label"] for result in results], results[0]["model_version"]


def sequence_input(sequences: list[str], *, binary: bool) -> triton.InferInput:
    tensor = triton.InferInput("SEQUENCE", [len(sequences)], "BYTES")
    tensor.set_data_from_numpy(np.array([text.encode() for text in sequences], dtype=np.object_), binary_data=binary)
    return tensor


def test_health_and_metadata(client: triton.InferenceServerClient) -> None:
    assert client.is_server_live() and client.is_server_ready()
    assert client.get_server_metadata()["name"] == "temporal-order"
    assert client.is_model_ready("lstm")
    assert not client.is_model_ready("attn_rnn_seed")  # known, but no version in this registry
    metadata = client.get_model_metadata("lstm")
    assert metadata["inputs"] == [{"name": "SEQUENCE", "datatype": "BYTES", "shape": [-1]}]
    assert {output["name"]: output["datatype"] for output in metadata["outputs"]} == {
        "PROBABILITIES": "FP32",
        "LABEL": "BYTES",
    }
    with pytest.raises(InferenceServerException) as unknown:
        client.get_model_metadata("transformer")
    assert unknown.value.status() == "404" and "unknown model 'transformer'" in unknown.value.message()


@pytest.mark.parametrize("binary", [True, False], ids=["binary-tensors", "json-tensors"])
def test_infer_matches_the_native_api(
    client: triton.InferenceServerClient, server: LiveServer, sequences: list[str], binary: bool
) -> None:
    expected, labels, version = native(server, sequences)
    outputs = [triton.InferRequestedOutput(name, binary_data=binary) for name in ("PROBABILITIES", "LABEL")]
    result = client.infer("lstm", [sequence_input(sequences, binary=binary)], outputs=outputs, request_id="r-1")
    probabilities = result.as_numpy("PROBABILITIES")
    assert probabilities.dtype == np.float32 and probabilities.shape == (len(sequences), 8)
    np.testing.assert_allclose(probabilities, expected, rtol=0, atol=1e-6)  # FP32 of the same forward
    # binary BYTES come back as bytes, JSON ones as str
    assert [label if isinstance(label, str) else label.decode() for label in result.as_numpy("LABEL")] == labels
    response: dict[str, Any] = result.get_response()
    assert (response["model_name"], response["model_version"], response["id"]) == ("lstm", str(version), "r-1")


def test_infer_without_requested_outputs_gives_both(client: triton.InferenceServerClient, sequences: list[str]) -> None:
    result = client.infer("lstm", [sequence_input(sequences[:2], binary=True)])  # asks for binary_data_output
    assert result.as_numpy("PROBABILITIES").shape == (2, 8)
    assert result.as_numpy("LABEL").shape == (2,)


def test_errors_are_the_protocols(client: triton.InferenceServerClient, sequences: list[str]) -> None:
    def failure(model: str, inputs: list[triton.InferInput]) -> InferenceServerException:
        with pytest.raises(InferenceServerException) as raised:
            client.infer(model, inputs)
        return raised.value

    bad = failure("lstm", [sequence_input([sequences[0], "EabZcdXB"], binary=True)])
    assert bad.status() == "400"
    assert "SEQUENCE[1]" in bad.message() and "unknown symbol 'Z' at position 4" in bad.message()
    assert failure("transformer", [sequence_input(sequences[:1], binary=False)]).status() == "404"
    not_ready = failure("attn_rnn_seed", [sequence_input(sequences[:1], binary=False)])
    assert not_ready.status() == "503" and "attn_rnn_seed" in not_ready.message()
    numbers = triton.InferInput("SEQUENCE", [1], "INT32")
    numbers.set_data_from_numpy(np.array([1], dtype=np.int32))
    wrong_type = failure("lstm", [numbers])
    assert wrong_type.status() == "400" and "datatype must be BYTES" in wrong_type.message()


def test_malformed_requests_get_an_error_object(server: LiveServer) -> None:
    url = f"{server.url}/v2/models/lstm/infer"
    cases = {
        b"{not json": "not valid JSON",
        b'{"inputs": []}': "one input, SEQUENCE",
        b'{"inputs": [{"name": "SEQUENCE", "datatype": "BYTES", "shape": [2], "data": ["EabB"]}]}': "says 2 elements",
        b'{"inputs": [{"name": "SEQUENCE", "datatype": "BYTES", "shape": [1], "data": ["EB"]}], '
        b'"outputs": [{"name": "LOGITS"}]}': "unknown output 'LOGITS'",
    }
    for body, message in cases.items():
        response = httpx.post(url, content=body, headers={"content-type": "application/json"}, timeout=30)
        assert response.status_code == 400 and message in response.json()["error"], (body, response.text)
    # binary data whose one element claims 9 bytes but has 3
    header = b'{"inputs":[{"name":"SEQUENCE","datatype":"BYTES","shape":[1],"parameters":{"binary_data_size":7}}]}'
    truncated = httpx.post(
        url,
        content=header + b"\x09\x00\x00\x00Eab",
        headers={"Inference-Header-Content-Length": str(len(header))},
        timeout=30,
    )
    assert truncated.status_code == 400 and "runs past the end" in truncated.json()["error"]
