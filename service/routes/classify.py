"""POST /classify and /classify/batch (service/classify.py does the work)."""

from __future__ import annotations

from typing import Any

import pydantic_core
from fastapi import APIRouter, Response

from service.classify import classify_many, classify_one
from service.deps import MetricsDep, PoolDep, SettingsDep
from service.schemas import ClassifyBatchRequest, ClassifyBatchResult, ClassifyRequest, ClassifyResult

router = APIRouter(tags=["classify"])


def json_response(content: Any) -> Response:
    """Plain data as a JSON response, serialised once (the use-case's data is already the response model's)."""
    return Response(pydantic_core.to_json(content), media_type="application/json")


@router.post("/classify", response_model=ClassifyResult)
async def classify(body: ClassifyRequest, pool: PoolDep) -> Response:
    """Classify one sequence (optionally with a per-position attribution)."""
    return json_response(await classify_one(pool, body))


@router.post("/classify/batch", response_model=ClassifyBatchResult)
async def classify_batch(
    body: ClassifyBatchRequest, pool: PoolDep, settings: SettingsDep, metrics: MetricsDep
) -> Response:
    """Classify up to the configured limit of sequences (default 1024), answered in order."""
    return json_response(await classify_many(pool, body, settings, metrics))
