"""The Open Inference Protocol (v2, REST) beside the native API, for platforms that front models with KServe,
Seldon or Triton clients: health, server and model metadata, readiness, and inference (service/oip.py has the
wire format). Errors are the protocol's `{"error": "<message>"}`: 400 for a bad request, 404 for an unknown
model, 503 for a model that is not ready (a body over the size limit gets the service's 413, whose ErrorBody
also carries an "error" string).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from service import __version__, oip
from service.deps import StateDep
from service.errors import ServiceError
from service.inference import InferencePool
from service.openapi import OWN_ERRORS_TAG
from training.sequences import InvalidSequence, Parsed, pad_parsed, parse
from training.task import get_task

router = APIRouter(prefix="/v2", tags=[OWN_ERRORS_TAG])

SERVER_NAME = "temporal-order"
DEFAULT_TASK = "6b"


def protocol_error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


ERROR_RESPONSE: dict[str, Any] = {
    "content": {
        "application/json": {
            "schema": {"type": "object", "properties": {"error": {"type": "string"}}, "required": ["error"]}
        }
    }
}
READY_RESPONSE: dict[str, Any] = {
    "content": {
        "application/json": {
            "schema": {"type": "object", "properties": {"ready": {"type": "boolean"}}, "required": ["ready"]}
        }
    }
}


def _pool(state: Any) -> InferencePool | None:
    return state.pool if state.ready else None


def _unknown(model: str, pool: InferencePool | None) -> JSONResponse:
    known = ", ".join(pool.slots) if pool is not None else "none yet (the service is starting)"
    return protocol_error(404, f"unknown model {model!r}; models: {known}")


@router.get("", summary="Server metadata")
async def server_metadata() -> dict[str, Any]:
    """The server's name, version and protocol extensions."""
    return {"name": SERVER_NAME, "version": __version__, "extensions": [oip.BINARY_EXTENSION]}


@router.get("/health/live", summary="Server live")
async def live() -> dict[str, bool]:
    """200 while the process answers."""
    return {"live": True}


@router.get("/health/ready", summary="Server ready", responses={400: READY_RESPONSE})
async def ready(state: StateDep) -> JSONResponse:
    """200 once startup finished and at least one model serves; 400 (the protocol's 4xx for false) before."""
    pool = _pool(state)
    is_ready = pool is not None and any(slot.served is not None for slot in pool.slots.values())
    return JSONResponse({"ready": is_ready}, status_code=200 if is_ready else 400)


@router.get("/models/{model}", summary="Model metadata", responses={404: ERROR_RESPONSE})
async def metadata(model: str, state: StateDep) -> JSONResponse:
    """The model's served version, its input (SEQUENCE, BYTES) and outputs (PROBABILITIES FP32, LABEL BYTES)."""
    pool = _pool(state)
    slot = pool.slots.get(model) if pool is not None else None
    if slot is None:
        return _unknown(model, pool)
    served = slot.served
    task = served.task if served is not None else get_task(DEFAULT_TASK)
    versions = [str(served.version)] if served is not None else []
    return JSONResponse(oip.model_metadata(model, versions, task.n_classes))


@router.get("/models/{model}/ready", summary="Model ready", responses={400: READY_RESPONSE, 404: ERROR_RESPONSE})
async def model_ready(model: str, state: StateDep) -> JSONResponse:
    """200 when the model serves; 400 when it is known but not ready; 404 when unknown."""
    pool = _pool(state)
    slot = pool.slots.get(model) if pool is not None else None
    if slot is None:
        return _unknown(model, pool)
    is_ready = slot.served is not None
    return JSONResponse({"name": model, "ready": is_ready}, status_code=200 if is_ready else 400)


def _parse_all(sequences: list[str]) -> list[Parsed]:
    parsed: list[Parsed] = []
    for index, text in enumerate(sequences):
        try:
            parsed.append(parse(text))
        except InvalidSequence as error:
            raise oip.ProtocolError(f"input {oip.INPUT_NAME}[{index}]: {error.message}") from None
    return parsed


@router.post(
    "/models/{model}/infer",
    summary="Model infer",
    responses={400: ERROR_RESPONSE, 404: ERROR_RESPONSE, 413: ERROR_RESPONSE, 503: ERROR_RESPONSE},
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {"type": "object"},
                    "example": {
                        "id": "1",
                        "inputs": [{"name": "SEQUENCE", "datatype": "BYTES", "shape": [1], "data": ["EabXcdYabXcdB"]}],
                    },
                }
            },
        }
    },
)
async def infer(model: str, request: Request, state: StateDep) -> Response:
    """Classify the SEQUENCE strings: PROBABILITIES [n, classes] and LABEL [n] (binary tensor data when asked)."""
    pool = _pool(state)
    slot = pool.slots.get(model) if pool is not None else None
    if pool is None or slot is None:
        return _unknown(model, pool)
    try:
        parsed_request = oip.parse_request(await request.body(), request.headers.get(oip.HEADER_LENGTH))
        limit = state.settings.max_batch
        if len(parsed_request.sequences) > limit:
            raise oip.ProtocolError(f"input {oip.INPUT_NAME}: {len(parsed_request.sequences)} sequences exceed {limit}")
        sequences = _parse_all(parsed_request.sequences)
        served, forward = pool.start_padded(model, *pad_parsed(sequences))
        probabilities = await forward
    except oip.ProtocolError as error:
        return protocol_error(error.status, error.message)
    except ServiceError as error:  # ModelNotReady: the model is known but serves nothing now
        return protocol_error(error.status_code, error.message)
    state.metrics.observe_batch(served.arch, "v2", len(sequences))
    names = served.task.class_names
    labels = [names[index] for index in probabilities.argmax(axis=1).tolist()]
    body, header_length = oip.encode_response(
        parsed_request, model_name=model, model_version=served.version, probabilities=probabilities, labels=labels
    )
    if header_length is None:
        return Response(body, media_type="application/json")
    return Response(
        body,
        media_type="application/octet-stream",
        headers={"Inference-Header-Content-Length": str(header_length)},
    )
