"""Settings for the whole suite."""

from __future__ import annotations

from hypothesis import settings

# No per-example deadline: on a loaded machine (a shared CI runner, two suites on two cores) an example that
# usually takes milliseconds can take half a second, and a wall-clock threshold would fail a correct test.
settings.register_profile("suite", deadline=None)
settings.load_profile("suite")
