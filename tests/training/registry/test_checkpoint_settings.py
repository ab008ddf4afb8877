"""Checkpoint bytes and settings: the pieces under the registry."""

from __future__ import annotations

import pytest
import torch
from pydantic import ValidationError

from training.architectures import build_model, default_config
from training.checkpoint import CheckpointError, from_checkpoint, read_config, to_checkpoint
from training.models import config_to_dict
from training.settings import DEFAULT_DATABASE_URL, Settings, get_settings, resolve_device


def test_checkpoint_carries_its_config_and_checksum() -> None:
    model = build_model(default_config("attn_rnn"))
    checkpoint = to_checkpoint(model)
    assert checkpoint.data[:8] != b"\x80\x04\x95"  # not a pickle
    assert read_config(checkpoint.data) == config_to_dict(model.config)
    rebuilt = from_checkpoint(checkpoint.data, sha256=checkpoint.sha256)
    for (name, expected), (_, actual) in zip(model.state_dict().items(), rebuilt.state_dict().items(), strict=True):
        assert torch.equal(expected, actual), name
    assert to_checkpoint(rebuilt) == checkpoint  # deterministic bytes


def test_wrong_checksum_or_garbage_is_refused() -> None:
    checkpoint = to_checkpoint(build_model(default_config("rnn")))
    with pytest.raises(CheckpointError, match="sha256 mismatch"):
        from_checkpoint(checkpoint.data, sha256="0" * 64)
    garbage = b"\xff" * 64
    from hashlib import sha256

    with pytest.raises(CheckpointError):
        from_checkpoint(garbage, sha256=sha256(garbage).hexdigest())


def test_settings_defaults_and_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TEMPORAL_ORDER_DATABASE_URL", raising=False)
    monkeypatch.delenv("TEMPORAL_ORDER_DEVICE", raising=False)
    assert Settings().database_url == DEFAULT_DATABASE_URL
    assert Settings().device == "auto"
    monkeypatch.setenv("TEMPORAL_ORDER_DATABASE_URL", "postgresql+psycopg://u:p@db/registry")
    monkeypatch.setenv("TEMPORAL_ORDER_DEVICE", "CUDA:1")
    get_settings.cache_clear()
    try:
        settings = get_settings()
        assert settings.database_url.startswith("postgresql") and settings.device == "cuda:1"
    finally:
        get_settings.cache_clear()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("database_url", "not a url"),
        ("database_url", "sqlite://"),
        ("database_url", "sqlite:///:memory:"),
        ("device", "tpu"),
        ("device", "cuda:x"),
    ],
)
def test_settings_reject_nonsense(field: str, value: str) -> None:
    with pytest.raises(ValidationError):
        Settings(**{field: value})  # type: ignore[arg-type]


def test_resolve_device() -> None:
    assert resolve_device("cpu") == "cpu"
    assert resolve_device("auto") in {"cpu", "cuda", "mps"}
