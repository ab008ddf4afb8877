"""The service's configuration: one typed settings object, read once from `TEMPORAL_ORDER_*` variables.

TEMPORAL_ORDER_API_KEY=... TEMPORAL_ORDER_DEVICE=auto temporal-order serve --port 8000
"""

from __future__ import annotations

import secrets
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import SettingsConfigDict

from training.settings import Settings

MIN_API_KEY_LENGTH = 16


class ServiceSettings(Settings):
    """Everything the HTTP service needs on top of the shared settings (database URL, device)."""

    # A rejected value is never echoed: it may be the API key.
    model_config = SettingsConfigDict(hide_input_in_errors=True)

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    api_key: SecretStr | None = Field(
        default=None, description="Required for training and activation; generated and printed once if unset."
    )
    max_batch: int = Field(default=1024, ge=1, le=100_000, description="Most sequences per /classify/batch.")
    max_body_bytes: int = Field(default=2 * 1024 * 1024, ge=1024, le=256 * 1024 * 1024)
    micro_batching: bool = Field(default=True, description="Off: every single request runs its own forward.")
    fast_lane: bool = Field(
        default=True,
        description="Answer plain POST /classify requests beside FastAPI's routing (same responses); "
        "false sends every request through the routes.",
    )
    micro_batch_max_size: int = Field(default=128, ge=1, le=4096)
    micro_batch_max_wait_ms: float = Field(
        default=0.0, ge=0.0, le=100.0, description="Extra wait to fill a micro-batch; 0 batches what is queued."
    )
    # Micro-batches of at most this many sequences run on the event loop's own thread: on a small machine the
    # hand-off to the inference thread and back costs more than such a forward (bench/serve_bench.py measures
    # it). 0 sends every batch to the inference thread.
    micro_batch_inline_max: int = Field(default=64, ge=0, le=4096)
    # Micro-batches of at most this many symbols in all run on the event loop's own thread (whatever their count of
    # requests): a few long sequences would otherwise hold the loop, and with it every other request.
    micro_batch_inline_max_symbols: int = Field(default=8_192, ge=0, le=1_000_000)
    # Symbols in one /classify/batch request: bounds how long one request holds the inference thread.
    max_batch_symbols: int = Field(default=262_144, ge=1_000, le=100_000_000)
    # Padded symbols per forward pass: bounds memory when a batch holds a few very long sequences.
    max_tokens_per_forward: int = Field(default=262_144, ge=10_000)
    job_concurrency: int = Field(default=1, ge=1, le=16, description="Jobs one worker trains at a time.")
    embedded_worker: bool = Field(
        default=True,
        description="`serve` also claims and runs training jobs (the single-process default); false for an "
        "API-only replica beside `temporal-order worker` processes.",
    )
    job_lease_s: float = Field(
        default=30.0,
        gt=0.5,
        le=3600,
        description="How long a worker's claim on a job holds without a heartbeat (renewed every third of it); a "
        "job whose worker died is ended (or requeued) this long after its last heartbeat.",
    )
    job_poll_s: float = Field(default=1.0, gt=0, le=60, description="How often an idle worker looks for a job.")
    # One intra-op thread: inference runs on one executor thread and batches amortise the per-step cost;
    # more threads spin against the event loop and, on a busy machine, make a forward many times slower.
    torch_threads: int | None = Field(default=1, ge=1, le=256, description="None keeps torch's default.")
    # A forward of at least `large_batch_min` sequences (a /classify/batch) runs on this many threads: such a
    # batch splits well over cores, and the event loop waits on it anyway. Below it, waking threads costs more
    # than they save; this is the one threshold, the compiled forwards included (they take threads per call).
    large_batch_threads: int = Field(default=2, ge=1, le=256)
    large_batch_min: int = Field(default=256, ge=1)
    training_threads: int = Field(default=1, ge=1, le=256)
    reload_interval_s: float = Field(
        default=0.25,
        ge=0.0,
        description="How often to check (one cheap query) for versions activated elsewhere, by another replica, a "
        "job or the CLI; 0 turns it off.",
    )
    warmup: bool = True
    log_format: Literal["auto", "json", "console"] = Field(
        default="auto", description="auto: JSON lines when stderr is not a terminal, readable lines on a terminal."
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    access_log: bool = Field(default=True, description="One line per request (service/logging_setup.py).")
    access_log_flush_s: float = Field(
        default=0.1,
        gt=0,
        description="JSON access lines are written in batches: at most this long after their request ended "
        "(service/access_lines.py).",
    )
    job_progress_log_s: float = Field(
        default=10.0,
        gt=0,
        description="A running training job logs its progress at most this often, and only when it moved.",
    )

    @field_validator("log_level", mode="before")
    @classmethod
    def _level_any_case(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("api_key", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("api_key")
    @classmethod
    def _long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < MIN_API_KEY_LENGTH:
            raise ValueError(f"the API key must have at least {MIN_API_KEY_LENGTH} characters")
        return value

    def resolved_api_key(self) -> tuple[str, bool]:
        """The configured key, or a fresh random one; the flag says whether it was generated."""
        if self.api_key is not None:
            return self.api_key.get_secret_value(), False
        return secrets.token_urlsafe(24), True
