"""GET /studies and GET /studies/{name} on a real uvicorn, through both SDK clients, on a registry holding a tiny
study recorded for real and one interrupted after its first trial: progress, the report's own figures, 404 and
422 as ErrorBody."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from service.client import AsyncClient, Client, NotFoundError
from service.schemas import StudyPointPublic
from tests.support.registry import make_registry
from tests.support.server import LiveServer, start_server
from tests.support.study import record_tiny_study, tiny_grid
from training.registry import Registry
from training.study.report import study_table, write_studies_report
from training.study.runner import run_study
from training.study.stats import PointSummary


class Interrupted(Exception):
    pass


def _interrupt(*_: object) -> None:
    raise Interrupted


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    directory = tmp_path_factory.mktemp("studies")
    url = make_registry(directory / "registry.db", arches=("lstm",))
    registry = Registry(url)
    try:
        record_tiny_study(registry, "tiny")
        with pytest.raises(Interrupted):  # a driver stopped after its first trial: 1 of 2 recorded
            run_study(registry, tiny_grid(lags=(20,)), name="partial", on_recorded=_interrupt)
    finally:
        registry.close()
    live = start_server(url, directory, warmup=False)
    yield live
    live.stop()


def _summary(point: StudyPointPublic) -> PointSummary:
    return PointSummary(**point.model_dump(exclude={"success_fraction"}))


def test_the_list_shows_each_study_with_its_grid_and_progress(server: LiveServer) -> None:
    with Client(server.url) as client:
        studies = {study.name: study for study in client.studies().studies}
    assert list(studies) == ["tiny", "partial"]  # oldest first
    tiny, partial = studies["tiny"], studies["partial"]
    assert (tiny.kind, tiny.grid.lags, tiny.grid.arches, tiny.grid.trials, tiny.grid.budget) == (
        "lags", [20, 24], ["rnn"], 2, 100
    )  # fmt: skip
    assert (tiny.progress.planned, tiny.progress.recorded) == (4, 4)
    assert (partial.progress.planned, partial.progress.recorded) == (2, 1)


def test_a_study_shows_the_figures_the_report_prints(server: LiveServer, tmp_path: Path) -> None:
    with Client(server.url) as client:
        study = client.study("tiny")
    assert [(p.arch, p.length, p.trials) for p in study.points] == [("rnn", 20, 2), ("rnn", 24, 2)]
    for point in study.points:
        assert point.success_fraction == point.converged / point.trials
        assert point.mean_wall_seconds > 0 and point.n_test == 20
    registry = Registry(server.database_url)
    try:
        report = write_studies_report(registry, tmp_path)
    finally:
        registry.close()
    assert report is not None
    text = report.read_text()
    assert study_table([_summary(p) for p in study.points]) in text
    # Each section says how much of its grid is recorded; the interrupted study says it is unfinished.
    tiny_section, partial_section = text.split("## Lag study `partial`")
    assert "Recorded: 4 of 4 planned trials." in tiny_section and "Unfinished" not in tiny_section
    assert "Recorded: 1 of 2 planned trials. Unfinished: points not in the table were not run" in partial_section


@pytest.mark.anyio
async def test_the_async_client_reads_them_and_an_unknown_study_is_a_404(server: LiveServer) -> None:
    async with AsyncClient(server.url) as client:
        assert [study.name for study in (await client.studies()).studies] == ["tiny", "partial"]
        partial = await client.study("partial")
        assert [(p.length, p.trials) for p in partial.points] == [(20, 1)]
        with pytest.raises(NotFoundError, match="no study named 'nope'"):
            await client.study("nope")


@pytest.mark.parametrize(
    ("path", "status", "error"),
    [("/studies/nope", 404, "not_found"), ("/studies/a%20b", 422, "validation_error")],
)
def test_bad_names_answer_with_the_error_body(server: LiveServer, path: str, status: int, error: str) -> None:
    response = httpx.get(f"{server.url}{path}", timeout=30)
    assert response.status_code == status
    body = response.json()
    assert body["error"] == error and body["message"]
