"""Plant known defects in the paper's protocol code, one at a time, and check that the suite catches each.

    .venv/bin/python tests/mutants.py                 # every mutant; writes docs/mutation.md
    .venv/bin/python tests/mutants.py judge-argmax    # only the named mutants; prints, writes nothing

Each mutant replaces one exact piece of source text in a copy of the repository (the working tree is never
touched) and runs the tests that guard that code. A mutant is *killed* when those tests fail and *survives*
when they pass; a survivor is either a gap in the suite or an equivalent mutant (listed with the reason).
Not collected by pytest: the name does not start with `test_`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
REPORT = REPO_ROOT / "docs" / "mutation.md"
# Each mutant's pytest output, to see why it was killed.
LOG_DIR = Path(tempfile.gettempdir()) / "temporal-order-mutants"

CRITERION_TESTS = ("tests/training/test_criterion.py", "tests/training/test_train.py")
TRAIN_TESTS = ("tests/training/test_train.py",)
EVALUATE_TESTS = ("tests/training/test_evaluate.py",)
CANCEL_TESTS = (
    "tests/training/test_train.py",
    "tests/training/test_experiment.py",
    "tests/service/test_jobs.py::test_cancel_a_running_and_a_queued_job",
)


@dataclass(frozen=True)
class Mutant:
    name: str
    path: str
    old: str
    new: str
    tests: tuple[str, ...]
    what: str
    # Why the mutant cannot change behaviour a user could notice; None for a real defect.
    equivalent: str | None = None


MUTANTS: tuple[Mutant, ...] = (
    # ---- training/criterion.py: the 0.3 rule, the training error, the stopping criterion
    Mutant(
        "judge-argmax",
        "training/criterion.py",
        "return np.asarray((np.abs(difference) < tolerance).all(axis=1))",
        "return np.asarray(probabilities.argmax(axis=1) == labels)",
        CRITERION_TESTS,
        "judge_batch counts argmax-correct sequences instead of the 0.3 rule",
    ),
    Mutant(
        "judge-tolerance-0.5",
        "training/criterion.py",
        "probabilities: np.ndarray, labels: np.ndarray, tolerance: float = PAPER_TOLERANCE",
        "probabilities: np.ndarray, labels: np.ndarray, tolerance: float = 0.5",
        CRITERION_TESTS,
        "judge_batch's default tolerance is 0.5",
    ),
    Mutant(
        "judge-inclusive",
        "training/criterion.py",
        "(np.abs(difference) < tolerance).all(axis=1)",
        "(np.abs(difference) <= tolerance).all(axis=1)",
        CRITERION_TESTS,
        "judge_batch accepts a unit exactly 0.3 off",
    ),
    Mutant(
        "judge-abs-error",
        "training/criterion.py",
        "np.asarray((difference * difference).sum(axis=1))",
        "np.asarray(np.abs(difference).sum(axis=1))",
        CRITERION_TESTS,
        "judge_batch's training error is a sum of absolute errors",
    ),
    Mutant(
        "paper-rule-argmax",
        "training/criterion.py",
        "return ((probabilities - targets).abs() < tolerance).all(dim=1)",
        "return probabilities.argmax(dim=1) == labels",
        CRITERION_TESTS + EVALUATE_TESTS,
        "paper_correct (used by the test protocol) is the argmax rule",
    ),
    Mutant(
        "tolerance-0.5",
        "training/criterion.py",
        "PAPER_TOLERANCE = 0.3",
        "PAPER_TOLERANCE = 0.5",
        CRITERION_TESTS,
        "the paper's tolerance is 0.5",
    ),
    Mutant(
        "window-1000",
        "training/criterion.py",
        "CRITERION_WINDOW = 2000",
        "CRITERION_WINDOW = 1000",
        CRITERION_TESTS,
        "the criterion looks at 1000 sequences",
    ),
    Mutant(
        "criterion-error-0.2",
        "training/criterion.py",
        "CRITERION_ERROR = 0.1",
        "CRITERION_ERROR = 0.2",
        CRITERION_TESTS,
        "the criterion's error bound is 0.2",
    ),
    Mutant(
        "met-without-full-window",
        "training/criterion.py",
        "return self._filled == self.window and bool(self._correct.all())",
        "return self._filled > 0 and bool(self._correct[: self._filled].all())",
        CRITERION_TESTS,
        "the criterion can be met before 2000 sequences were seen",
    ),
    Mutant(
        "met-ignores-error",
        "training/criterion.py",
        "and float(self._errors.mean()) < self.max_error",
        "",
        CRITERION_TESTS,
        "the criterion ignores the mean error",
    ),
    Mutant(
        "met-error-inclusive",
        "training/criterion.py",
        "float(self._errors.mean()) < self.max_error",
        "float(self._errors.mean()) <= self.max_error",
        CRITERION_TESTS,
        "a mean error of exactly 0.1 meets the criterion",
    ),
    Mutant(
        "update-keeps-oldest",
        "training/criterion.py",
        "correct_values[-self.window :], error_values[-self.window :]",
        "correct_values[: self.window], error_values[: self.window]",
        CRITERION_TESTS,
        "a batch longer than the window keeps its oldest sequences",
    ),
    # ---- training/train.py: the loop around the criterion
    Mutant(
        "loop-argmax",
        "training/train.py",
        "criterion.update(*judge_batch(probabilities.numpy(), batch.labels.numpy()))",
        "criterion.update(\n            (probabilities.argmax(dim=1) == batch.labels).numpy(),\n"
        "            judge_batch(probabilities.numpy(), batch.labels.numpy())[1],\n        )",
        TRAIN_TESTS,
        "the training loop judges sequences by argmax",
    ),
    Mutant(
        "loop-tolerance-0.5",
        "training/train.py",
        "criterion.update(*judge_batch(probabilities.numpy(), batch.labels.numpy()))",
        "criterion.update(*judge_batch(probabilities.numpy(), batch.labels.numpy(), 0.5))",
        TRAIN_TESTS,
        "the training loop judges with tolerance 0.5",
    ),
    Mutant(
        "loop-steps-after-convergence",
        "training/train.py",
        "        if not converged and online is None:\n            flat.gather_gradients()",
        "        if online is None:\n            flat.gather_gradients()",
        TRAIN_TESTS,
        "the optimiser keeps stepping after the criterion is met",
    ),
    Mutant(
        "loop-runs-past-convergence",
        "training/train.py",
        "        if converged:\n            break",
        "        if False:\n            break",
        TRAIN_TESTS,
        "training goes on after the criterion is met",
    ),
    Mutant(
        "loop-ignores-config-window",
        "training/train.py",
        "criterion = StoppingCriterion(config.criterion_window, config.criterion_error)",
        "criterion = StoppingCriterion(config.criterion_window // 2, config.criterion_error)",
        TRAIN_TESTS,
        "the loop's criterion looks at half the configured window",
    ),
    Mutant(
        "loop-reused-sequences",
        "training/train.py",
        "batch = data.take(min(config.batch_size, config.max_sequences - seen))",
        "batch = data.take(min(config.batch_size, config.max_sequences - seen))\n"
        "            data = SequenceStream(task, make_generator(seed))",
        TRAIN_TESTS,
        "every batch restarts the stream: the same sequences again and again, not fresh ones",
    ),
    Mutant(
        "loop-no-stop-check",
        "training/train.py",
        "if should_stop is not None and should_stop():",
        "if False:",
        TRAIN_TESTS + CANCEL_TESTS,
        "the loop never asks whether to stop (cancel is ignored)",
    ),
    Mutant(
        "to-criterion-off-by-a-batch",
        "training/train.py",
        "sequences_to_criterion=seen if converged else None",
        "sequences_to_criterion=seen - len(batch) if converged else None",
        TRAIN_TESTS,
        "sequences to criterion misses the last batch",
    ),
    # ---- training/evaluate.py: the test protocol
    Mutant(
        "test-seed-offset-0",
        "training/evaluate.py",
        "TEST_SEED_OFFSET = 1_000_003",
        "TEST_SEED_OFFSET = 0",
        EVALUATE_TESTS,
        "a trial's test set is drawn from its own training stream",
    ),
    Mutant(
        "test-seed-offset-1",
        "training/evaluate.py",
        "TEST_SEED_OFFSET = 1_000_003",
        "TEST_SEED_OFFSET = 1",
        EVALUATE_TESTS,
        "a trial's test set is the next trial's training stream",
    ),
    Mutant(
        "evaluate-scores-one-chunk",
        "training/evaluate.py",
        "for batch in test_batches(task, seed=seed, n_test=n_test):\n        probabilities",
        "for batch in list(test_batches(task, seed=seed, n_test=n_test))[:1]:\n        probabilities",
        EVALUATE_TESTS,
        "only the first chunk of 1000 test sequences is scored",
    ),
    Mutant(
        "evaluate-wrong-is-argmax-twice",
        "training/evaluate.py",
        "wrong_paper += int((~paper_correct(probabilities, batch.labels)).sum())",
        "wrong_paper += int((~argmax_correct(probabilities, batch.labels)).sum())",
        EVALUATE_TESTS,
        "the paper-rule count is the argmax count",
    ),
    Mutant(
        "evaluate-in-train-mode",
        "training/evaluate.py",
        "    model.eval()\n    return model.probabilities",
        "    return model.probabilities",
        EVALUATE_TESTS,
        "evaluation leaves the model in training mode",
    ),
    Mutant(
        "median-is-mean",
        "training/evaluate.py",
        "median_sequences_to_criterion=float(statistics.median(to_criterion))",
        "median_sequences_to_criterion=float(statistics.fmean(to_criterion))",
        EVALUATE_TESTS,
        "the summary's median is a mean",
    ),
    Mutant(
        "median-counts-unconverged",
        "training/evaluate.py",
        "to_criterion = [o.sequences_to_criterion for o in outcomes if o.sequences_to_criterion is not None]",
        "to_criterion = [o.sequences_to_criterion or 0 for o in outcomes]",
        EVALUATE_TESTS,
        "trials that never converged count as 0 sequences to criterion",
    ),
    Mutant(
        "std-is-sample-std",
        "training/evaluate.py",
        "return statistics.pstdev(values) if len(values) > 1 else 0.0",
        "return statistics.stdev(values) if len(values) > 1 else 0.0",
        EVALUATE_TESTS,
        "the spread is the sample standard deviation, not the population one",
    ),
    # ---- service/jobs.py: cancelling a training job (the job process run by a worker, issue 13)
    Mutant(
        "job-ignores-cancel",
        "service/jobs.py",
        "self._cancelled = info is not None and info.cancel_requested",
        "self._cancelled = False",
        CANCEL_TESTS,
        "the training process never notices a cancel request (only the worker's fallback ends it)",
    ),
    Mutant(
        "job-cancel-recorded-as-failed",
        "service/jobs.py",
        'except TrainingCancelled:\n            end_job(registry, job_id, "cancelled", "cancelled on request"',
        'except TrainingCancelled:\n            end_job(registry, job_id, "failed", "cancelled on request"',
        CANCEL_TESTS,
        "a cancelled job ends as failed",
    ),
    Mutant(
        "job-queued-cancel-still-runs",
        "service/jobs.py",
        "if info.cancel_requested:  # asked for between the claim and this process's start",
        "if False:  # asked for between the claim and this process's start",
        CANCEL_TESTS,
        "a job cancelled between its claim and its process's start trains anyway",
        equivalent="the trainer's cancel poll asks first thing, before any trial is recorded, and ends the job "
        "the same way (cancelled on request, nothing recorded)",
    ),
    Mutant(
        "job-dead-process-cancelled",
        "service/jobs.py",
        'status: JobStatus = "cancelled" if info.cancel_requested else "failed"',
        'status: JobStatus = "cancelled"',
        ("tests/service/test_jobs.py::test_a_job_without_activation_and_a_job_whose_process_dies",),
        "a training process that dies without a cancel request is recorded as cancelled",
    ),
)


# Plants for the suite's own gaps (issue 17), outside the protocol modules.
SUITE_PLANTS: tuple[Mutant, ...] = (
    Mutant(
        "seed-attention-dead",
        "training/models.py",
        'context = torch.einsum("bt,bts->bs", weights, inputs)  # (B, S)',
        'context = torch.zeros_like(torch.einsum("bt,bts->bs", weights, inputs))  # (B, S)',
        ("tests/training/test_models.py",),
        "the seed attention's head sees nothing: it stays at chance, far below its 50% cap",
    ),
    Mutant(
        "seed-attention-order-leak",
        "training/models.py",
        'context = torch.einsum("bt,bts->bs", weights, inputs)  # (B, S)',
        'context = torch.einsum("bt,bts->bs", weights * torch.linspace(1, 2, inputs.shape[1]), inputs)  # (B, S)',
        ("tests/training/test_models.py",),
        "the seed attention weighs symbols by position, so order leaks past the bag",
    ),
    Mutant(
        "activate-is-a-no-op",
        "service/routes/models.py",
        "    await asyncio.to_thread(registry.activate, arch, body.version)\n",
        "",
        ("tests/service/test_concurrency.py::test_activation_under_load_drops_no_request",),
        "POST /models/{arch}/activate answers 200 but changes nothing",
    ),
    Mutant(
        "default-arch-worst",
        "service/inference.py",
        "return min(ready, key=lambda served: served.test_error).arch",
        "return max(ready, key=lambda served: served.test_error).arch",
        ("tests/service/test_api.py::test_classify_defaults_to_the_lowest_test_error",),
        "requests without an architecture go to the one with the highest test error",
    ),
)


def run_mutant(mutant: Mutant, copy: Path) -> tuple[str, float, str]:
    """'killed', 'survived' or 'stale' (its source text is gone), the seconds its tests took, and the test
    that failed first."""
    target = copy / mutant.path
    original = target.read_text()
    if original.count(mutant.old) != 1:
        return "stale", 0.0, ""
    target.write_text(original.replace(mutant.old, mutant.new))
    env = {**os.environ, "PYTHONPATH": str(copy)}
    started = time.monotonic()
    try:
        result = subprocess.run(
            [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *mutant.tests],
            cwd=copy,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
    finally:
        target.write_text(original)
    seconds = time.monotonic() - started
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    (LOG_DIR / f"{mutant.name}.log").write_text(result.stdout + result.stderr)
    if result.returncode == 0:
        return "survived", seconds, ""
    failed = [line.split()[1] for line in result.stdout.splitlines() if line.startswith(("FAILED", "ERROR"))]
    return "killed", seconds, failed[0] if failed else f"pytest exit status {result.returncode}"


def write_report(outcomes: list[tuple[Mutant, str, float, str]]) -> None:
    real = [(m, outcome) for m, outcome, _, _ in outcomes if m.equivalent is None and outcome in ("killed", "survived")]
    killed = sum(outcome == "killed" for _, outcome in real)
    lines = [
        "# Mutation check of the protocol code",
        "",
        "Written by `.venv/bin/python tests/mutants.py` (see its docstring): each mutant plants one defect in a",
        "copy of the repository and runs the tests that guard that code.",
        "",
        f"**Score: {killed} of {len(real)} non-equivalent mutants killed** "
        f"({len(outcomes)} of {len(MUTANTS) + len(SUITE_PLANTS)} mutants run).",
        "",
        "| mutant | file | defect | outcome | first failing test | seconds |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for mutant, outcome, seconds, killer in outcomes:
        shown = f"{outcome} (equivalent)" if mutant.equivalent else outcome
        test = f"`{killer}`" if killer else ""
        lines.append(f"| `{mutant.name}` | `{mutant.path}` | {mutant.what} | {shown} | {test} | {seconds:.0f} |")
    equivalent = [m for m, _, _, _ in outcomes if m.equivalent]
    if equivalent:
        lines += ["", "## Equivalent mutants", ""]
        lines += [f"- `{m.name}`: {m.equivalent}." for m in equivalent]
    REPORT.write_text("\n".join(lines) + "\n")


def main(names: list[str]) -> int:
    unknown = set(names) - {m.name for m in MUTANTS + SUITE_PLANTS}
    if unknown:
        print(f"unknown mutants: {', '.join(sorted(unknown))}", file=sys.stderr)
        return 2
    chosen = [m for m in MUTANTS + SUITE_PLANTS if not names or m.name in names]
    outcomes: list[tuple[Mutant, str, float, str]] = []
    with tempfile.TemporaryDirectory(prefix="mutants-") as directory:
        copy = Path(directory) / "repo"
        shutil.copytree(REPO_ROOT, copy, ignore=shutil.ignore_patterns(".venv", ".git", "var", "*_cache"))
        for mutant in chosen:
            outcome, seconds, killer = run_mutant(mutant, copy)
            outcomes.append((mutant, outcome, seconds, killer))
            print(f"{mutant.name:34} {outcome:9} {seconds:6.0f} s  {killer}", flush=True)
            if not names:
                write_report(outcomes)  # after each mutant: a long run that is cut short still leaves a record
    real = [o for m, o, _, _ in outcomes if m.equivalent is None and o != "stale"]
    return 0 if all(o == "killed" for o in real) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
