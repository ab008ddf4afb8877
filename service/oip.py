"""The Open Inference Protocol (v2, REST) on the wire, without I/O: reading an inference request, JSON or with
binary tensor data, and writing the response.

A model here takes one input, `SEQUENCE`: BYTES, shape [n] (or [n, 1]), each element a symbol string such as
'EabX…B'. It gives two outputs: `PROBABILITIES`, FP32 [n, classes], and `LABEL`, BYTES [n]. Binary tensor data
(Triton's extension, what `tritonclient` sends by default) is read for inputs and written for outputs that ask
for it (`parameters.binary_data`, or `binary_data_output` on the request).
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

INPUT_NAME = "SEQUENCE"
PROBABILITIES = "PROBABILITIES"
LABEL = "LABEL"
OUTPUT_NAMES = (PROBABILITIES, LABEL)
HEADER_LENGTH = "inference-header-content-length"
BINARY_EXTENSION = "binary_tensor_data"


class ProtocolError(Exception):
    """A request the protocol rejects: the message says what is wrong and where; `status` is the HTTP status."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


class TensorInput(BaseModel):
    model_config = ConfigDict(extra="allow")

    name: str
    shape: list[int]
    datatype: str
    parameters: dict[str, Any] = Field(default_factory=dict)
    data: Any = None


class RequestedOutput(BaseModel):
    model_config = ConfigDict(extra="allow")

    name: str
    parameters: dict[str, Any] = Field(default_factory=dict)


class InferenceRequest(BaseModel):
    model_config = ConfigDict(extra="allow")

    id: str | None = None
    parameters: dict[str, Any] = Field(default_factory=dict)
    inputs: list[TensorInput]
    outputs: list[RequestedOutput] | None = None


@dataclass(frozen=True)
class ParsedRequest:
    id: str | None
    sequences: list[str]
    outputs: dict[str, bool]  # output name → answered as binary data


def _describe(error: ValidationError) -> str:
    first = error.errors()[0]
    where = ".".join(str(part) for part in first["loc"])
    return f"{where}: {first['msg']}" if where else str(first["msg"])


def _flatten(data: Any) -> list[Any]:
    if isinstance(data, list):
        return [item for part in data for item in _flatten(part)]
    return [data]


def decode_bytes_tensor(raw: bytes) -> list[bytes]:
    """BYTES elements in binary form: each is a 4-byte little-endian length, then that many bytes."""
    elements: list[bytes] = []
    offset = 0
    while offset < len(raw):
        if offset + 4 > len(raw):
            raise ProtocolError(f"input {INPUT_NAME}: binary data ends inside an element's length at byte {offset}")
        (size,) = struct.unpack_from("<I", raw, offset)
        offset += 4
        if offset + size > len(raw):
            raise ProtocolError(f"input {INPUT_NAME}: binary element {len(elements)} runs past the end of the data")
        elements.append(raw[offset : offset + size])
        offset += size
    return elements


def encode_bytes_tensor(elements: list[bytes]) -> bytes:
    return b"".join(struct.pack("<I", len(element)) + element for element in elements)


def _split_body(body: bytes, header_length: str | None) -> tuple[bytes, bytes]:
    if header_length is None:
        return body, b""
    try:
        length = int(header_length)
    except ValueError:
        raise ProtocolError(f"Inference-Header-Content-Length is not a number: {header_length!r}") from None
    if not 0 < length <= len(body):
        raise ProtocolError(f"Inference-Header-Content-Length {length} does not fit a body of {len(body)} bytes")
    return body[:length], body[length:]


def _sequences(tensor: TensorInput, binary: bytes) -> list[str]:
    if tensor.datatype != "BYTES":
        raise ProtocolError(f"input {INPUT_NAME}: datatype must be BYTES, got {tensor.datatype}")
    if not 1 <= len(tensor.shape) <= 2 or (len(tensor.shape) == 2 and tensor.shape[1] != 1) or tensor.shape[0] < 1:
        raise ProtocolError(f"input {INPUT_NAME}: shape must be [n] or [n, 1] with n >= 1, got {tensor.shape}")
    if "binary_data_size" in tensor.parameters:
        if len(binary) != tensor.parameters["binary_data_size"]:
            raise ProtocolError(
                f"input {INPUT_NAME}: binary_data_size is {tensor.parameters['binary_data_size']} but "
                f"{len(binary)} bytes follow the header"
            )
        raw_elements = decode_bytes_tensor(binary)
    elif tensor.data is None:
        raise ProtocolError(f"input {INPUT_NAME}: no data (give 'data' or binary data)")
    else:
        raw_elements = _flatten(tensor.data)
    if len(raw_elements) != tensor.shape[0]:
        raise ProtocolError(
            f"input {INPUT_NAME}: shape {tensor.shape} says {tensor.shape[0]} elements, got {len(raw_elements)}"
        )
    sequences: list[str] = []
    for index, element in enumerate(raw_elements):
        text: object = element
        if isinstance(element, bytes):
            try:
                text = element.decode("ascii")
            except UnicodeDecodeError:
                raise ProtocolError(f"input {INPUT_NAME}[{index}]: not ASCII symbols") from None
        if not isinstance(text, str):
            raise ProtocolError(f"input {INPUT_NAME}[{index}]: expected a string, got {type(text).__name__}")
        sequences.append(text)
    return sequences


def parse_request(body: bytes, header_length: str | None) -> ParsedRequest:
    """The sequences to classify and the outputs to give, or ProtocolError saying what is wrong."""
    header, binary = _split_body(body, header_length)
    try:
        request = InferenceRequest.model_validate_json(header)
    except ValidationError as error:
        if any(item["type"] == "json_invalid" for item in error.errors()):
            raise ProtocolError("the inference request is not valid JSON") from None
        raise ProtocolError(f"invalid inference request: {_describe(error)}") from None
    names = [tensor.name for tensor in request.inputs]
    if names != [INPUT_NAME]:
        raise ProtocolError(f"the model takes one input, {INPUT_NAME}; got {names or 'none'}")
    sequences = _sequences(request.inputs[0], binary)
    all_binary = bool(request.parameters.get("binary_data_output", False))
    if request.outputs is None:
        outputs = dict.fromkeys(OUTPUT_NAMES, all_binary)
    else:
        outputs = {}
        for output in request.outputs:
            if output.name not in OUTPUT_NAMES:
                raise ProtocolError(f"unknown output {output.name!r}; the model gives {', '.join(OUTPUT_NAMES)}")
            outputs[output.name] = bool(output.parameters.get("binary_data", all_binary))
    return ParsedRequest(id=request.id, sequences=sequences, outputs=outputs)


def _tensor(
    name: str, datatype: str, shape: list[int], values: Any, raw: bytes, binary: bool
) -> tuple[dict[str, Any], bytes]:
    tensor: dict[str, Any] = {"name": name, "datatype": datatype, "shape": shape}
    if binary:
        tensor["parameters"] = {"binary_data_size": len(raw)}
        return tensor, raw
    tensor["data"] = values
    return tensor, b""


def encode_response(
    request: ParsedRequest, *, model_name: str, model_version: int, probabilities: np.ndarray, labels: list[str]
) -> tuple[bytes, int | None]:
    """The response body, and the JSON header's length when binary data follows it (else None)."""
    rows, classes = probabilities.shape
    tensors: list[dict[str, Any]] = []
    blobs: list[bytes] = []
    for name, binary in request.outputs.items():
        if name == PROBABILITIES:
            values = probabilities.astype("<f4")
            tensor, blob = _tensor(name, "FP32", [rows, classes], values.ravel().tolist(), values.tobytes(), binary)
        else:
            raw = encode_bytes_tensor([label.encode("ascii") for label in labels]) if binary else b""
            tensor, blob = _tensor(name, "BYTES", [rows], labels, raw, binary)
        tensors.append(tensor)
        blobs.append(blob)
    response: dict[str, Any] = {"model_name": model_name, "model_version": str(model_version), "outputs": tensors}
    if request.id is not None:
        response["id"] = request.id
    header = json.dumps(response, separators=(",", ":")).encode()
    binary_part = b"".join(blobs)
    return header + binary_part, (len(header) if binary_part else None)


def model_metadata(name: str, versions: list[str], classes: int) -> dict[str, Any]:
    return {
        "name": name,
        "versions": versions,
        "platform": "pytorch",
        "inputs": [{"name": INPUT_NAME, "datatype": "BYTES", "shape": [-1]}],
        "outputs": [
            {"name": PROBABILITIES, "datatype": "FP32", "shape": [-1, classes]},
            {"name": LABEL, "datatype": "BYTES", "shape": [-1]},
        ],
    }
