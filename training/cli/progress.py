"""Progress bars for trials, on stderr so that `--json` output on stdout stays clean."""

from __future__ import annotations

from types import TracebackType

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from training.protocol import TrialProgress


class TrialProgressBars:
    """One bar per trial (sequences seen out of the budget, with the running training error)."""

    def __init__(self) -> None:
        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("err {task.fields[error]}"),
            TimeElapsedColumn(),
            console=Console(stderr=True),
            transient=False,
        )
        self._tasks: dict[tuple[str, int], TaskID] = {}

    def __enter__(self) -> TrialProgressBars:
        self._progress.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self._progress.stop()

    def update(self, progress: TrialProgress) -> None:
        key = (progress.arch, progress.trial)
        if key not in self._tasks:
            description = f"{progress.arch:<13} trial {progress.trial:>2}/{progress.trials}"
            self._tasks[key] = self._progress.add_task(description, total=progress.max_sequences, error="—")
        error = "—" if progress.train_error != progress.train_error else f"{progress.train_error:.3f}"
        self._progress.update(self._tasks[key], completed=progress.sequences, error=error)
