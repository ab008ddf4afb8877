"""The promotion gate: a newly trained version replaces the served one only if it is at least as good on a
common fresh test set — the same sequences for both, fewer or equally many wrong by the paper's rule — unless
the caller forces it. The decision says which and why, with the figures it was made on.

    decision = promote(registry, "lstm", 7, by="job 1f2e...", force=False)
    print(decision.reason)     # "version 7 has 3 wrong of 3000, version 5 (served) 12: promoted"
"""

from __future__ import annotations

import secrets
from dataclasses import asdict, dataclass
from typing import Any

from training.evaluate import N_TEST, evaluate
from training.protocol import best_trial
from training.registry import Registry, VersionInfo
from training.registry.queue import JobLease


@dataclass(frozen=True)
class PromotionDecision:
    """Whether `candidate` became the served version of `arch`, and why. The wrong counts (paper's rule) are
    on one test set of `n_test` sequences drawn from `test_seed`, None when no comparison was made."""

    arch: str
    candidate: int
    served: int | None
    promoted: bool
    forced: bool
    reason: str
    n_test: int | None = None
    test_seed: int | None = None
    candidate_wrong: int | None = None
    served_wrong: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def promote_job(
    registry: Registry, job_id: str, *, force: bool = False, n_test: int = N_TEST, worker: str | None = None
) -> dict[str, PromotionDecision]:
    """Put each architecture's best trial of job `job_id` through the gate; the decisions by architecture. With
    `worker`, each activation happens only while that worker holds the job's lease (`LeaseLost` otherwise)."""
    lease = None if worker is None else JobLease(job_id, worker)
    by_arch: dict[str, list[VersionInfo]] = {}
    for version in registry.job_versions(job_id):
        by_arch.setdefault(version.arch, []).append(version)
    return {
        arch: promote(
            registry, arch, best_version(versions).version, by=f"job {job_id}", force=force, n_test=n_test, lease=lease
        )
        for arch, versions in by_arch.items()
    }


def best_version(versions: list[VersionInfo]) -> VersionInfo:
    """The version a run would serve: `best_trial`'s pick among its trials."""
    if not versions:
        raise ValueError("no versions to choose from")
    return versions[best_trial([version.outcome for version in versions])]


def _activate(
    registry: Registry, arch: str, candidate: int, served: int | None, by: str, lease: JobLease | None
) -> bool:
    return registry.activate_if_served(arch, candidate, served=served, by=by, lease=lease)


def promote(
    registry: Registry,
    arch: str,
    candidate: int,
    *,
    by: str,
    force: bool = False,
    n_test: int = N_TEST,
    test_seed: int | None = None,
    lease: JobLease | None = None,
) -> PromotionDecision:
    """Serve `arch` version `candidate` if it passes the gate (or `force`), recording the activation `by`.

    The comparison is against the version served when the gate looked; if another activation lands while the
    two are being tested, nothing is activated and the decision says so (the comparison is stale). With `lease`
    (a job's trainer), the activation happens only while the lease holds, checked in its own transaction: a lease
    lost meanwhile raises `LeaseLost` and activates nothing."""
    served_info = registry.active_version(arch)
    served = None if served_info is None else served_info.version

    def decided(promoted: bool, reason: str, **figures: Any) -> PromotionDecision:
        if promoted and not _activate(registry, arch, candidate, served, by, lease):
            now = registry.active_version(arch)
            promoted, reason = (
                False,
                f"not promoted: version {now.version if now else 'none'} was activated meanwhile, "
                "so the comparison no longer holds",
            )
        return PromotionDecision(arch, candidate, served, promoted, force, reason, **figures)

    if served is None:
        return decided(True, f"version {candidate} promoted: no version of {arch} was served")
    if served == candidate:
        return PromotionDecision(arch, candidate, served, True, force, f"version {candidate} is served already")
    if force:
        return decided(True, f"version {candidate} promoted without comparison (forced); version {served} was served")
    candidate_info = registry.version(arch, candidate)
    assert served_info is not None
    if candidate_info.task_spec != served_info.task_spec:
        return PromotionDecision(
            arch,
            candidate,
            served,
            False,
            force,
            f"not promoted: version {candidate} is trained for task {candidate_info.task}, the served version "
            f"{served} for task {served_info.task}, so they cannot be compared on one test set (force to replace it)",
        )
    seed = secrets.randbelow(2**31) if test_seed is None else test_seed
    loaded = registry.load_model(arch, candidate)
    candidate_wrong = evaluate(loaded.model, loaded.task, seed=seed, n_test=n_test).wrong_paper
    served_wrong = evaluate(registry.load_model(arch, served).model, loaded.task, seed=seed, n_test=n_test).wrong_paper
    figures = {"n_test": n_test, "test_seed": seed, "candidate_wrong": candidate_wrong, "served_wrong": served_wrong}
    comparison = (
        f"version {candidate} has {candidate_wrong} wrong of {n_test} (paper's rule), "
        f"version {served} (served) {served_wrong} on the same sequences"
    )
    if candidate_wrong <= served_wrong:
        return decided(True, f"{comparison}: promoted", **figures)
    return decided(False, f"{comparison}: not promoted (force to replace it anyway)", **figures)
