"""GET /metrics."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST

from service.deps import MetricsDep, PoolDep, RegistryDep
from service.metrics import protocol_metrics
from service.schemas import MetricsPublic

router = APIRouter(tags=["metrics"])


def wants_prometheus(request: Request) -> bool:
    accept = request.headers.get("accept", "")
    return "text/plain" in accept or "openmetrics" in accept


@router.get(
    "/metrics",
    response_model=MetricsPublic,
    responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
)
async def get_metrics(request: Request, registry: RegistryDep, pool: PoolDep, metrics: MetricsDep) -> Response:
    """Test error per architecture beside the paper's figures; Prometheus text with Accept: text/plain."""
    if wants_prometheus(request):
        served = {arch: slot.served.version if slot.served else None for arch, slot in pool.slots.items()}
        await asyncio.to_thread(metrics.refresh_from_registry, registry, list(pool.slots), served)
        return Response(metrics.render(), media_type=CONTENT_TYPE_LATEST)
    public = await asyncio.to_thread(protocol_metrics, registry, list(pool.slots))
    return Response(public.model_dump_json(), media_type="application/json")
