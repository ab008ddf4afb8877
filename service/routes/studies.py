"""GET /studies, GET /studies/{name}: the registry's studies, their progress and their figures (the report's)."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Path

from service.deps import RegistryDep
from service.errors import NotFound
from service.schemas import StudyList, StudyPointPublic, StudyPublic, StudySummaryPublic
from training.registry import Registry
from training.registry.studies import StudyNotFound
from training.study.overview import STUDY_NAME_PATTERN, StudyOverview, overview, overviews, study_points

router = APIRouter(prefix="/studies", tags=["studies"])

StudyName = Annotated[
    str, Path(pattern=STUDY_NAME_PATTERN, description="The study's name (`temporal-order study lags --name`).")
]


def summary_public(item: StudyOverview) -> StudySummaryPublic:
    study = item.study
    return StudySummaryPublic.model_validate(
        {
            "name": study.name,
            "kind": study.kind,
            "grid": study.grid,
            "progress": {"planned": item.planned, "recorded": item.recorded},
            "created_at": study.created_at,
        }
    )


def study_public(registry: Registry, name: str) -> StudyPublic:
    """Reads the study (StudyNotFound → 404) and its figures, computed as the report computes them."""
    try:
        item = overview(registry, name)
    except StudyNotFound as error:
        raise NotFound(str(error), hint="see GET /studies for the recorded ones") from None
    points = [
        StudyPointPublic.model_validate(point, from_attributes=True) for point in study_points(registry, item.study)
    ]
    return StudyPublic(**summary_public(item).model_dump(), points=points)


@router.get("")
async def list_studies(registry: RegistryDep) -> StudyList:
    """Every study in the registry, oldest first: its grid and progress (trials planned and recorded)."""
    items = await asyncio.to_thread(overviews, registry)
    return StudyList(studies=[summary_public(item) for item in items])


@router.get("/{name}")
async def get_study(name: StudyName, registry: RegistryDep) -> StudyPublic:
    """One study's figures per architecture and T: trials, success fraction, sequences to criterion (median,
    mean, 95% CI) and wall time per trial, as `temporal-order report` prints them."""
    return await asyncio.to_thread(study_public, registry, name)
