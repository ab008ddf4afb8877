"""Settings for the whole suite."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from hypothesis import settings

# No per-example deadline: on a loaded machine (a shared CI runner, two suites on two cores) an example that
# usually takes milliseconds can take half a second, and a wall-clock threshold would fail a correct test.
settings.register_profile("suite", deadline=None)
settings.load_profile("suite")


def _named_loggers() -> dict[str, logging.Logger]:
    return {name: lg for name, lg in logging.Logger.manager.loggerDict.items() if isinstance(lg, logging.Logger)}


@pytest.fixture(autouse=True)
def isolated_logging_configuration() -> Iterator[None]:
    """Logging set up by one test (an app built in-process, Alembic's fileConfig, a log-format test) is undone
    after it: a handler left on a stream that its test closed turns every later log line into a "Logging error"
    on stderr, which tests that read a command's output then see. pytest's own capture handlers are left to it."""
    root = logging.getLogger()
    root_handlers, root_level = set(root.handlers), root.level
    saved = {name: (lg.handlers[:], lg.level, lg.propagate, lg.disabled) for name, lg in _named_loggers().items()}
    yield
    for handler in root.handlers[:]:
        if handler not in root_handlers and not type(handler).__module__.startswith("_pytest"):
            root.removeHandler(handler)
    root.setLevel(root_level)
    for name, lg in _named_loggers().items():
        handlers, level, propagate, disabled = saved.get(name, ([], logging.NOTSET, True, False))
        lg.handlers[:] = handlers
        lg.setLevel(level)
        lg.propagate, lg.disabled = propagate, disabled
