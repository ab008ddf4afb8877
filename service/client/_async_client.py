"""The asynchronous client: `BaseClient` plus sending over `httpx.AsyncClient`.

from service.client import AsyncClient

async with AsyncClient("http://127.0.0.1:8000") as client:
    print((await client.classify("EabXcd…B")).label)
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from types import TracebackType
from typing import Any, TypeVar

import httpx

from service.client._base import (
    NOT_GIVEN,
    BaseClient,
    NotGiven,
    RequestSpec,
    TimeoutTypes,
    backoff_delay,
    error_from_httpx,
    parse_response,
    should_retry,
)
from service.client._jobs import AsyncTrainJob
from service.schemas import (
    Arch,
    ClassifyBatchResult,
    ClassifyResult,
    GenerateResult,
    Health,
    MetricsPublic,
    ModelList,
    ModelPublic,
    Readiness,
    StudyList,
    StudyPublic,
    TaskName,
    TrainJobList,
    TrainJobPublic,
    VersionCurve,
)

T = TypeVar("T")
log = logging.getLogger("service.client")


class AsyncClient(BaseClient):
    """An asyncio client of the temporal-order service; the same methods as `Client`, awaitable.

    `base_url` defaults to TEMPORAL_ORDER_URL, then http://127.0.0.1:8000; `api_key` to
    TEMPORAL_ORDER_API_KEY (needed only by `train`, `TrainJob.cancel` and `activate`). Every method also
    takes `timeout=` and `max_retries=` to override the client's settings for that one call.
    """

    def __init__(
        self,
        base_url: str | None = None,
        *,
        api_key: str | None = None,
        timeout: TimeoutTypes | NotGiven = NOT_GIVEN,
        max_retries: int | None = None,
        headers: Mapping[str, str] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        super().__init__(base_url, api_key=api_key, timeout=timeout, max_retries=max_retries, headers=headers)
        self._http = httpx.AsyncClient(
            base_url=self.base_url, headers=self.default_headers(), timeout=self.timeout, transport=transport
        )
        self._sleep: Callable[[float], Awaitable[None]] = asyncio.sleep

    # ---- lifecycle ------------------------------------------------------------------------------

    async def aclose(self) -> None:
        """Close the connection pool. An `async with` block does this for you."""
        await self._http.aclose()

    @property
    def is_closed(self) -> bool:
        return self._http.is_closed

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    # ---- sending --------------------------------------------------------------------------------

    async def _send(self, spec: RequestSpec[T], *, timeout: TimeoutTypes | NotGiven, max_retries: int | None) -> T:
        retries_left = self._retries_for(max_retries)
        retries_done = 0
        while True:
            request = self._build_request(self._http, spec, timeout, retries_done)
            try:
                response = await self._http.send(request)
            except httpx.TransportError as exc:
                if not should_retry(spec, retries_left):
                    raise error_from_httpx(exc, request) from exc
                delay = backoff_delay(retries_done)
                log.info("%s %s failed (%s); retry in %.2fs", spec.method, spec.path, exc, delay)
            else:
                if not should_retry(spec, retries_left, response=response):
                    return parse_response(spec, response)
                delay = backoff_delay(retries_done, response)
                log.info("%s %s answered %d; retry in %.2fs", spec.method, spec.path, response.status_code, delay)
                await response.aclose()
            await self._sleep(delay)
            retries_left -= 1
            retries_done += 1

    # ---- inference ------------------------------------------------------------------------------

    async def classify(
        self,
        sequence: str,
        *,
        arch: Arch | None = None,
        explain: bool = False,
        timeout: TimeoutTypes | NotGiven = NOT_GIVEN,
        max_retries: int | None = None,
    ) -> ClassifyResult:
        """Classify one symbol string ('EabXcd…B'); `explain=True` adds a per-symbol attribution."""
        return await self._send(self._classify(sequence, arch, explain), timeout=timeout, max_retries=max_retries)

    async def classify_batch(
        self,
        sequences: list[str],
        *,
        arch: Arch | None = None,
        timeout: TimeoutTypes | NotGiven = NOT_GIVEN,
        max_retries: int | None = None,
    ) -> ClassifyBatchResult:
        """Classify many strings in one request; `.results` holds one result per sequence, in order."""
        return await self._send(self._classify_batch(sequences, arch), timeout=timeout, max_retries=max_retries)

    async def generate(
        self,
        *,
        n: int = 5,
        task: TaskName = "6b",
        seed: int | None = None,
        timeout: TimeoutTypes | NotGiven = NOT_GIVEN,
        max_retries: int | None = None,
    ) -> GenerateResult:
        """Draw `n` fresh sequences of `task` with their labels and relevant positions."""
        return await self._send(self._generate(n, task, seed), timeout=timeout, max_retries=max_retries)

    # ---- training jobs --------------------------------------------------------------------------

    async def train(
        self,
        *,
        arch: Arch | str = "lstm",
        trials: int = 1,
        max_sequences: int = 200_000,
        task: TaskName = "6b",
        seed: int = 0,
        optimizer: str | None = None,
        learning_rate: float | None = None,
        batch_size: int | None = None,
        grad_clip: float | None = None,
        activate: bool = True,
        force: bool = False,
        retries: int = 0,
        timeout: TimeoutTypes | NotGiven = NOT_GIVEN,
    ) -> AsyncTrainJob:
        """Start a training job (needs the API key) and return its handle; `.wait()` blocks until it ends.

        Never retried: if the answer is lost, look for the job in `jobs()` before starting another.
        `arch="all"` trains every architecture in one job. Unset optimiser settings take the server's
        per-architecture defaults. With `activate`, the best trial is served only if the promotion gate finds it
        at least as good as the served version; `force=True` serves it without that comparison. `retries` (0-5)
        is how many times the server queues the job again when the worker running it dies: not HTTP retries
        (this call is never retried).
        """
        params: dict[str, Any] = dict(
            arch=arch, trials=trials, max_sequences=max_sequences, task=task, seed=seed, optimizer=optimizer,
            learning_rate=learning_rate, batch_size=batch_size, grad_clip=grad_clip, activate=activate,
            force=force, retries=retries,
        )  # fmt: skip
        job = await self._send(self._train(params), timeout=timeout, max_retries=0)
        return AsyncTrainJob(self, job)

    async def job(
        self, job_id: str, *, timeout: TimeoutTypes | NotGiven = NOT_GIVEN, max_retries: int | None = None
    ) -> AsyncTrainJob:
        """A handle on an existing job, with its current state in `.job`."""
        job = await self._send(self._get_job(job_id), timeout=timeout, max_retries=max_retries)
        return AsyncTrainJob(self, job)

    async def jobs(
        self, *, timeout: TimeoutTypes | NotGiven = NOT_GIVEN, max_retries: int | None = None
    ) -> TrainJobList:
        """Every training job the server knows, newest first."""
        return await self._send(self._jobs(), timeout=timeout, max_retries=max_retries)

    async def fetch_job(self, job_id: str) -> TrainJobPublic:
        """A job's current state (what `AsyncTrainJob.refresh` shows)."""
        return await self._send(self._get_job(job_id), timeout=NOT_GIVEN, max_retries=None)

    async def cancel_job(self, job_id: str) -> TrainJobPublic:
        """Ask the server to cancel a job (needs the API key; never retried); its state after the request."""
        return await self._send(self._cancel_job(job_id), timeout=NOT_GIVEN, max_retries=0)

    async def pause(self, seconds: float) -> None:
        """How an `AsyncTrainJob` waits between polls."""
        await self._sleep(seconds)

    # ---- metrics, models, health ----------------------------------------------------------------

    async def metrics(
        self, *, timeout: TimeoutTypes | NotGiven = NOT_GIVEN, max_retries: int | None = None
    ) -> MetricsPublic:
        """Test-set errors of each architecture's active run beside the paper's figures."""
        return await self._send(self._metrics(), timeout=timeout, max_retries=max_retries)

    async def metrics_prometheus(
        self, *, timeout: TimeoutTypes | NotGiven = NOT_GIVEN, max_retries: int | None = None
    ) -> str:
        """The same metrics (and the service's own counters) in Prometheus text exposition format."""
        return await self._send(self._metrics_prometheus(), timeout=timeout, max_retries=max_retries)

    async def models(
        self, *, timeout: TimeoutTypes | NotGiven = NOT_GIVEN, max_retries: int | None = None
    ) -> ModelList:
        """Every architecture: state, active version, device, parameter count and registry versions."""
        return await self._send(self._models(), timeout=timeout, max_retries=max_retries)

    async def model(
        self,
        arch: Arch | str,
        *,
        timeout: TimeoutTypes | NotGiven = NOT_GIVEN,
        max_retries: int | None = None,
    ) -> ModelPublic:
        """One architecture's registry view."""
        return await self._send(self._model(arch), timeout=timeout, max_retries=max_retries)

    async def curve(
        self,
        arch: Arch | str,
        *,
        version: int,
        timeout: TimeoutTypes | NotGiven = NOT_GIVEN,
        max_retries: int | None = None,
    ) -> VersionCurve:
        """A version's learning curve, with the curves of the other trials of its run."""
        return await self._send(self._curve(arch, version), timeout=timeout, max_retries=max_retries)

    async def studies(
        self, *, timeout: TimeoutTypes | NotGiven = NOT_GIVEN, max_retries: int | None = None
    ) -> StudyList:
        """Every study in the registry: its grid and progress (trials planned and recorded)."""
        return await self._send(self._studies(), timeout=timeout, max_retries=max_retries)

    async def study(
        self, name: str, *, timeout: TimeoutTypes | NotGiven = NOT_GIVEN, max_retries: int | None = None
    ) -> StudyPublic:
        """One study's figures per architecture and T (`.points`), as `temporal-order report` prints them."""
        return await self._send(self._study(name), timeout=timeout, max_retries=max_retries)

    async def activate(
        self, arch: Arch | str, *, version: int, timeout: TimeoutTypes | NotGiven = NOT_GIVEN
    ) -> ModelPublic:
        """Serve registry version `version` of `arch` from now on (needs the API key). Never retried."""
        return await self._send(self._activate(arch, version), timeout=timeout, max_retries=0)

    async def health(self, *, timeout: TimeoutTypes | NotGiven = NOT_GIVEN, max_retries: int | None = None) -> Health:
        """Liveness: the process answers."""
        return await self._send(self._health(), timeout=timeout, max_retries=max_retries)

    async def ready(self, *, timeout: TimeoutTypes | NotGiven = NOT_GIVEN, max_retries: int | None = None) -> Readiness:
        """Readiness, returned (not raised) also when the server says 503 not ready; see `.ready`."""
        return await self._send(self._ready(), timeout=timeout, max_retries=max_retries)
