"""The service's settings: unsafe values are refused, and an unset API key is generated and printed once."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from service.app import create_app
from service.settings import ServiceSettings


def test_a_short_api_key_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEMPORAL_ORDER_API_KEY", "short")
    with pytest.raises(ValidationError, match="at least 16 characters"):
        ServiceSettings()


@pytest.mark.parametrize(
    ("name", "value"),
    [("max_batch", "0"), ("port", "70000"), ("micro_batch_max_size", "0"), ("device", "tpu")],
)
def test_out_of_range_values_are_refused(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    monkeypatch.setenv(f"TEMPORAL_ORDER_{name.upper()}", value)
    with pytest.raises(ValidationError):
        ServiceSettings()


def test_an_unset_or_empty_key_is_generated_and_printed_once(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TEMPORAL_ORDER_API_KEY", "")
    app = create_app(ServiceSettings())
    key = app.state.service.api_key
    assert len(key) >= 16
    assert capsys.readouterr().err.count(key) == 1
