"""The models the service serves: the active version of each architecture, on the configured device.

Each architecture has a slot whose state is ready, missing (no active version) or error (the checkpoint
failed to load); one bad architecture never stops the others. A reload builds the new model off to the
side and swaps the slot's reference, so requests in flight finish on the old one and none is dropped.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import torch

from service.batcher import MicroBatcher
from service.errors import ModelNotReady
from service.explain import Method, attribution
from service.logging_setup import served_arch
from training.architectures import ARCHITECTURES
from training.kernels import CompiledForward, compiled_forward
from training.models import SequenceClassifier, parameter_count
from training.registry import CorruptCheckpoint, NoActiveVersion, Registry, VersionInfo
from training.sequences import Parsed, pad_parsed
from training.settings import resolve_device
from training.task import TaskSpec, generate, make_generator

logger = logging.getLogger("service.inference")

State = Literal["ready", "missing", "error"]


@dataclass(frozen=True)
class Served:
    """One loaded version: the module on its device plus what the registry says about it."""

    arch: str
    model: SequenceClassifier
    info: VersionInfo
    task: TaskSpec
    device: torch.device
    parameter_count: int
    # The model's compiled forward, when it has one on this device: one call per batch, no torch operators, so
    # the inference thread never queues for the GIL mid-forward.
    kernel: CompiledForward | None = None

    @property
    def version(self) -> int:
        return self.info.version

    @property
    def test_error(self) -> float:
        return self.info.wrong_argmax / self.info.n_test if self.info.n_test else 1.0


@dataclass
class Slot:
    arch: str
    state: State = "missing"
    served: Served | None = None
    error: str | None = None
    # The active version this slot last tried to load, so a broken one is not retried in a loop.
    seen_version: int | None = None
    batcher: MicroBatcher[Parsed, tuple[Served, np.ndarray]] | None = field(default=None, repr=False)


def _symbols(sequence: Parsed) -> int:
    return len(sequence.ids)


def pick_device(name: str) -> torch.device:
    """`auto` → cuda, then mps, then cpu."""
    return torch.device(resolve_device(name))


class InferencePool:
    """Loads, serves and swaps the active model of every architecture."""

    def __init__(
        self,
        registry: Registry,
        *,
        device: torch.device,
        executor: Executor,
        micro_batching: bool = True,
        micro_batch_max_size: int = 128,
        micro_batch_max_wait_s: float = 0.0,
        micro_batch_inline_max: int = 0,
        micro_batch_inline_max_symbols: int | None = None,
        max_tokens_per_forward: int = 262_144,
        large_batch_threads: int,
        large_batch_min: int,
        on_batch: Callable[[str, int], None] | None = None,
        on_forward: Callable[[str, float], None] | None = None,
        on_queue_wait: Callable[[str, list[float]], None] | None = None,
        arches: Sequence[str] = ARCHITECTURES,
    ) -> None:
        self.registry = registry
        self.on_forward = on_forward  # (arch, seconds) after every forward: the forward-time histogram
        self.device = device
        self.executor = executor
        self.max_tokens_per_forward = max_tokens_per_forward
        self.large_batch_threads = large_batch_threads
        self.large_batch_min = large_batch_min
        self.micro_batching = micro_batching
        self.slots: dict[str, Slot] = {}
        for arch in arches:
            slot = Slot(arch)
            slot.batcher = MicroBatcher(
                self._batch_runner(slot),
                executor=executor,
                max_size=micro_batch_max_size,
                max_wait_s=micro_batch_max_wait_s,
                inline_max=micro_batch_inline_max,
                cost=_symbols,
                inline_max_cost=micro_batch_inline_max_symbols,
                max_cost=max_tokens_per_forward,
                on_batch=self._batch_observer(arch, on_batch),
                on_wait=self._wait_observer(arch, on_queue_wait),
                name=f"batcher-{arch}",
            )
            self.slots[arch] = slot
        self._reload_lock = asyncio.Lock()

    @staticmethod
    def _batch_observer(arch: str, on_batch: Callable[[str, int], None] | None) -> Callable[[int], None] | None:
        if on_batch is None:
            return None
        return lambda size: on_batch(arch, size)

    @staticmethod
    def _wait_observer(
        arch: str, on_queue_wait: Callable[[str, list[float]], None] | None
    ) -> Callable[[list[float]], None] | None:
        if on_queue_wait is None:
            return None
        return lambda waits: on_queue_wait(arch, waits)

    # ---- loading ----------------------------------------------------------------------------------

    def _load(self, arch: str, version: int | None = None) -> Served:
        loaded = self.registry.load_model(arch, version, device=str(self.device))
        model = loaded.model.to(self.device).eval()
        for parameter in model.parameters():
            parameter.requires_grad_(False)
        kernel = compiled_forward(model, self.device)
        return Served(arch, model, loaded.info, loaded.task, self.device, parameter_count(model), kernel)

    def _load_into(self, slot: Slot) -> None:
        try:
            served = self._load(slot.arch)
        except NoActiveVersion:
            slot.state, slot.served, slot.error, slot.seen_version = "missing", None, "no active version", None
            return
        except CorruptCheckpoint as error:
            # Callers read the slot's error (/readyz, /models, 503 bodies): a fixed sentence; the details
            # go to the log.
            logger.error("%s: %s", slot.arch, error)
            self._mark_error(slot, "the active checkpoint is corrupt: it failed its integrity check")
            return
        except Exception:  # a bad checkpoint must not take the other architectures down
            logger.exception("loading %s failed", slot.arch)
            self._mark_error(slot, "the active checkpoint could not be loaded (see the service log)")
            return
        slot.served, slot.state, slot.error, slot.seen_version = served, "ready", None, served.version
        logger.info("%s: serving version %d on %s", slot.arch, served.version, self.device)

    def _mark_error(self, slot: Slot, message: str) -> None:
        active = None
        try:
            info = self.registry.active_version(slot.arch)
            active = info.version if info else None
        except Exception:
            logger.exception("reading the active version of %s failed", slot.arch)
        slot.state, slot.served, slot.error, slot.seen_version = "error", None, message, active
        logger.error("%s: %s", slot.arch, message)

    async def load_all(self) -> None:
        for slot in self.slots.values():
            await asyncio.to_thread(self._load_into, slot)
            if slot.batcher is not None:
                slot.batcher.start()

    async def reload(self, arch: str) -> Slot:
        """Load the registry's active version of `arch` and swap it in without dropping requests."""
        async with self._reload_lock:
            slot = self.slots[arch]
            staging = Slot(arch)
            await asyncio.to_thread(self._load_into, staging)
            if staging.served is not None:
                await asyncio.to_thread(self._warm, staging.served)
            slot.served, slot.state, slot.error, slot.seen_version = (
                staging.served,
                staging.state,
                staging.error,
                staging.seen_version,
            )
            return slot

    async def activate(self, arch: str, version: int, commit: Callable[[], object]) -> Slot:
        """Load and warm `version` of `arch` off to the side; only once that worked, run `commit` (the
        registry's activation) and swap it in. A version that fails to load raises, and the slot keeps
        serving what it served."""
        async with self._reload_lock:
            served = await asyncio.to_thread(self._load, arch, version)
            await asyncio.to_thread(self._warm, served)
            await asyncio.to_thread(commit)
            slot = self.slots[arch]
            slot.served, slot.state, slot.error, slot.seen_version = served, "ready", None, served.version
            logger.info("%s: serving version %d on %s (activated)", arch, served.version, self.device)
            return slot

    async def refresh(self) -> list[str]:
        """Reload every architecture whose active version changed in the registry (e.g. via the CLI)."""
        changed = []
        for arch, slot in self.slots.items():
            info = await asyncio.to_thread(self.registry.active_version, arch)
            version = info.version if info else None
            if version != slot.seen_version:
                await self.reload(arch)
                changed.append(arch)
        return changed

    def warm_up(self) -> None:
        for slot in self.slots.values():
            if slot.served is not None:
                self._warm(slot.served)

    def _warm(self, served: Served) -> None:
        # The first forward of each kind loads its compiled code, which should not happen inside a request: one
        # sequence and a micro-batch for every model, and a large batch where a model has a compiled forward (its
        # multi-thread copy). A torch model's large batch only repeats the same work at more cost
        # (torch prepares its kernels per shape, so no warm-up covers every request anyway), and the start waits.
        sizes = [1, 64] + ([max(64, self.large_batch_min)] if served.kernel is not None else [])
        batch = generate(served.task, sizes[-1], make_generator(0))
        for n in sizes:
            self.forward(served, batch.tokens[:n], batch.lengths[:n])

    async def close(self) -> None:
        for slot in self.slots.values():
            if slot.batcher is not None:
                await slot.batcher.close()

    # ---- serving ----------------------------------------------------------------------------------

    def require(self, arch: str) -> Served:
        slot = self.slots.get(arch)
        if slot is None:
            raise ModelNotReady(f"architecture {arch!r} is not served", hint=f"known: {', '.join(self.slots)}")
        served = slot.served
        if served is None:
            if slot.state == "missing":
                hint = f"train one: POST /train with arch={arch!r}, or run `temporal-order bootstrap`"
            else:
                hint = f"activate a good version: POST /models/{arch}/activate; see GET /models/{arch}"
            raise ModelNotReady(f"architecture {arch!r} is not available: {slot.error}", hint=hint)
        return served

    def default_arch(self) -> str | None:
        """The ready architecture with the lowest test error (ties: the order of ARCHITECTURES)."""
        ready = [slot.served for slot in self.slots.values() if slot.served is not None]
        if not ready:
            return None
        return min(ready, key=lambda served: served.test_error).arch

    def resolve(self, arch: str | None) -> Served:
        if arch is None:
            arch = self.default_arch()
            if arch is None:
                raise ModelNotReady("no architecture is ready", hint="run `temporal-order bootstrap` or POST /train")
        served_arch.set(arch)  # for the request's access line
        return self.require(arch)

    @torch.inference_mode()
    def forward(self, served: Served, tokens: torch.Tensor, lengths: torch.Tensor) -> np.ndarray:
        """Class probabilities (N, C) as float64, in chunks of at most `max_tokens_per_forward` symbols."""
        if self.on_forward is None:
            return self._forward(served, tokens, lengths)
        started = time.perf_counter()
        try:
            return self._forward(served, tokens, lengths)
        finally:
            self.on_forward(served.arch, time.perf_counter() - started)

    def _forward(self, served: Served, tokens: torch.Tensor, lengths: torch.Tensor) -> np.ndarray:
        n = len(lengths)
        if n == 0:
            return np.zeros((0, served.task.n_classes))
        threads = torch.get_num_threads()
        # Big batches split well over cores; small ones only pay the threads' hand-off, so they stay on one.
        large = n >= self.large_batch_min and served.device.type == "cpu"
        if served.kernel is not None:
            # Its thread count is per call (widening torch's pool would cost a millisecond), and it needs no
            # chunks: it reads each row up to its own length.
            wide_threads = max(threads, self.large_batch_threads)
            return served.kernel(tokens.numpy(), lengths.numpy(), threads=wide_threads if large else 1)
        if not (large and self.large_batch_threads > threads):
            return self._forward_chunks(served, tokens, lengths)
        torch.set_num_threads(self.large_batch_threads)
        try:
            return self._forward_chunks(served, tokens, lengths)
        finally:
            torch.set_num_threads(threads)

    def _forward_chunks(self, served: Served, tokens: torch.Tensor, lengths: torch.Tensor) -> np.ndarray:
        n = len(lengths)
        order = torch.argsort(lengths, descending=True)
        out = np.empty((n, served.task.n_classes), dtype=np.float64)
        start = 0
        while start < n:
            width = int(lengths[order[start]])
            size = max(1, min(n - start, self.max_tokens_per_forward // width))
            rows = order[start : start + size]
            chunk_lengths = lengths[rows]
            chunk_tokens = tokens[rows, : int(chunk_lengths.max())].to(served.device)
            logits = served.model.forward_tokens(chunk_tokens, chunk_lengths.to(served.device))  # (B, C)
            out[rows.numpy()] = served.model.probabilities(logits).cpu().double().numpy()  # MPS has no float64
            start += size
        return out

    def _batch_runner(self, slot: Slot) -> Callable[[list[Parsed]], list[tuple[Served, np.ndarray]]]:
        def run(items: list[Parsed]) -> list[tuple[Served, np.ndarray]]:
            served = slot.served
            if served is None:
                raise ModelNotReady(f"architecture {slot.arch!r} was unloaded", hint=f"see GET /models/{slot.arch}")
            tokens, lengths = pad_parsed(items)
            probabilities = self.forward(served, tokens, lengths)
            return [(served, row) for row in probabilities]

        return run

    async def classify_one(self, arch: str | None, sequence: Parsed) -> tuple[Served, np.ndarray]:
        served = self.resolve(arch)
        slot = self.slots[served.arch]
        if not self.micro_batching or slot.batcher is None:
            tokens, lengths = pad_parsed([sequence])
            loop = asyncio.get_running_loop()
            probabilities = await loop.run_in_executor(self.executor, self.forward, served, tokens, lengths)
            return served, probabilities[0]
        return await slot.batcher.submit(sequence)

    def start_many(self, arch: str | None, sequences: list[Parsed]) -> tuple[Served, asyncio.Future[np.ndarray]]:
        """Start a forward over `sequences` on the inference thread; the caller may work while it runs."""
        return self.start_padded(arch, *pad_parsed(sequences))

    def start_padded(
        self, arch: str | None, tokens: torch.Tensor, lengths: torch.Tensor
    ) -> tuple[Served, asyncio.Future[np.ndarray]]:
        """`start_many` for sequences already padded by `pad_parsed`."""
        served = self.resolve(arch)
        loop = asyncio.get_running_loop()
        return served, loop.run_in_executor(self.executor, self.forward, served, tokens, lengths)

    async def classify_many(self, arch: str | None, sequences: list[Parsed]) -> tuple[Served, np.ndarray]:
        served, probabilities = self.start_many(arch, sequences)
        return served, await probabilities

    async def explain(self, arch: str | None, sequence: Parsed) -> tuple[Served, np.ndarray, list[float], Method]:
        served = self.resolve(arch)

        def run() -> tuple[np.ndarray, list[float], Method]:
            tokens, lengths = pad_parsed([sequence])
            probabilities = self.forward(served, tokens, lengths)
            target = int(probabilities[0].argmax())
            scores, method = attribution(served.model, tokens.to(served.device), lengths.to(served.device), target)
            return probabilities[0], scores, method

        row, scores, method = await asyncio.get_running_loop().run_in_executor(self.executor, run)
        return served, row, scores, method
