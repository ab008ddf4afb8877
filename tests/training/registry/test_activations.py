"""The activation history on SQLite and PostgreSQL: every change recorded (from → to, by what), rollback one step
at a time, the mark a replica polls, and a compare-and-set activation that loses to an earlier one."""

from __future__ import annotations

import pytest

from training.registry import Registry, VersionNotFound
from training.registry.activations import NothingToRollBack
from training.task import TaskSpec

from .conftest import MakeRecord


def _served(registry: Registry, arch: str = "lstm") -> int | None:
    active = registry.active_version(arch)
    return None if active is None else active.version


def test_every_activation_is_history_and_rollback_walks_it_back(
    any_registry: Registry, make_record: MakeRecord, task: TaskSpec
) -> None:
    assert any_registry.activation_mark() == 0
    # Version 1 is the best of the first run (fewest wrong), activated by recording it.
    any_registry.record_run("lstm", task, [make_record(wrong_argmax=1), make_record(seed=1)])
    any_registry.record_run("lstm", task, [make_record(seed=2)], activate=False)
    mark = any_registry.activation_mark()
    any_registry.activate("lstm", 3, by="cli")
    assert any_registry.activation_mark() > mark
    any_registry.activate("lstm", 2, by="api")
    any_registry.activate("lstm", 2, by="api")  # already served: no step
    history = any_registry.activation_history("lstm")
    assert [(h.from_version, h.to_version, h.by) for h in history] == [(3, 2, "api"), (1, 3, "cli"), (None, 1, "train")]

    back = any_registry.rollback("lstm", by="cli rollback")
    assert (back.from_version, back.to_version, back.by, back.undoes) == (2, 3, "cli rollback", history[0].id)
    assert _served(any_registry) == 3
    assert any_registry.rollback("lstm").to_version == 1  # the next step back, not a toggle
    assert _served(any_registry) == 1
    with pytest.raises(NothingToRollBack, match="served nothing before version 1"):
        any_registry.rollback("lstm")
    assert _served(any_registry) == 1

    # A new activation after rollbacks is undone first.
    any_registry.activate("lstm", 2, by="api")
    assert any_registry.rollback("lstm").to_version == 1


def test_rollback_without_history_says_so(any_registry: Registry) -> None:
    with pytest.raises(NothingToRollBack, match="'rnn' has no activation to roll back"):
        any_registry.rollback("rnn")


def test_a_compare_and_set_activation_loses_to_one_that_came_first(
    any_registry: Registry, make_record: MakeRecord, task: TaskSpec
) -> None:
    any_registry.record_run("lstm", task, [make_record(), make_record(seed=1), make_record(seed=2)], activate=False)
    assert any_registry.activate_if_served("lstm", 1, served=None, by="job a")
    # A gate compared against version 1, but version 3 was activated meanwhile.
    any_registry.activate("lstm", 3, by="cli")
    assert not any_registry.activate_if_served("lstm", 2, served=1, by="job b")
    assert _served(any_registry) == 3
    assert any_registry.activate_if_served("lstm", 2, served=3, by="job b")
    assert _served(any_registry) == 2
    with pytest.raises(VersionNotFound, match="no version 9 of 'lstm'"):
        any_registry.activate_if_served("lstm", 9, served=2, by="job c")
