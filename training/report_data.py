"""Gather the report's inputs from the registry: each architecture's active run, every trial of it."""

from __future__ import annotations

from typing import Any

from training.architectures import ARCHITECTURES
from training.report import ArchResults, describe_settings


def results_from_registry(registry: Any) -> list[ArchResults]:
    results: list[ArchResults] = []
    for arch in ARCHITECTURES:
        active = registry.active_version(arch)
        if active is None:
            continue
        versions = registry.run_versions(active.run_id)
        results.append(
            ArchResults(
                arch=arch,
                task=active.task,
                outcomes=[v.outcome for v in versions],
                curves=[[(int(p["sequences"]), float(p["train_error"])) for p in v.curve] for v in versions],
                settings=describe_settings(active.model_config, active.train_config),
            )
        )
    return results
