"""The project's one typed configuration, read from `TEMPORAL_ORDER_*` environment variables.

    TEMPORAL_ORDER_DATABASE_URL=sqlite:///var/registry.db temporal-order db upgrade

Nothing else in the project reads `os.environ` for these values; the service extends `Settings` for its own.
"""

from __future__ import annotations

import re
from functools import lru_cache

from pydantic import field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

DEFAULT_DATABASE_URL = "sqlite:///var/registry.db"
# "auto", a device type, or a CUDA device with its index: what torch accepts and we know how to resolve.
_DEVICE = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")


class Settings(BaseSettings):
    """Where the registry lives and which device models run on."""

    model_config = SettingsConfigDict(env_prefix="TEMPORAL_ORDER_", extra="ignore")

    # A relative SQLite path is relative to the working directory (the repository root under `make`).
    database_url: str = DEFAULT_DATABASE_URL
    device: str = "auto"
    # A Ray cluster for trials (`ray start --head` prints it); unset: the local process pool.
    ray_address: str | None = None

    @property
    def database_url_is_default(self) -> bool:
        """No URL was configured: the registry is the embedded SQLite file, created and migrated on first use."""
        return "database_url" not in self.model_fields_set

    @field_validator("database_url")
    @classmethod
    def _parseable_url(cls, value: str) -> str:
        value = value.strip()
        try:
            url = make_url(value)
        except ArgumentError:
            raise ValueError(f"not a database URL: {value!r} (expected e.g. {DEFAULT_DATABASE_URL})") from None
        if url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:"):
            # Every process would get its own empty database: the service and a trainer would never meet.
            raise ValueError("an in-memory SQLite registry cannot be shared; give a file path")
        return value

    @field_validator("device")
    @classmethod
    def _known_device(cls, value: str) -> str:
        value = value.strip().lower()
        if not _DEVICE.match(value):
            raise ValueError(f"device must be auto, cpu, mps, cuda or cuda:N, got {value!r}")
        return value


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The settings, read once per process; tests call `get_settings.cache_clear()` after changing env."""
    return Settings()


def resolve_device(name: str = "auto") -> str:
    """`auto` → the best available device (cuda, then mps, then cpu); anything else is returned as given."""
    if name != "auto":
        return name
    import torch  # deferred: reading settings should not pay for importing torch

    if torch.cuda.is_available():
        return "cuda"
    if torch.backends.mps.is_available():
        return "mps"
    return "cpu"
