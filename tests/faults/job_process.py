"""A training job's process, run by hand for the fault tests, optionally with the disk "filling up".

    python tests/faults/job_process.py JOB_ID DATABASE_URL [FULL_AFTER_TRIALS]

With FULL_AFTER_TRIALS = n, the process's file-size limit drops to one byte once n trials are recorded
(resource.setrlimit: every later write of the registry fails as on a full disk). It then runs the service's
own `run_job`, exactly as the service's job manager would.
"""

from __future__ import annotations

import logging
import resource
import sys
from typing import Any

from service.jobs import run_job
from training.registry import Registry


def fill_disk_after(trials: int) -> None:
    add_trial = Registry.add_trial
    recorded = 0

    def add_trial_then_fill(self: Registry, *args: Any, **kwargs: Any) -> Any:
        nonlocal recorded
        if recorded == trials:
            resource.setrlimit(resource.RLIMIT_FSIZE, (1, resource.RLIM_INFINITY))
        result = add_trial(self, *args, **kwargs)
        recorded += 1
        return result

    Registry.add_trial = add_trial_then_fill  # type: ignore[method-assign]


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if len(sys.argv) > 3:
        fill_disk_after(int(sys.argv[3]))
    run_job(sys.argv[1], sys.argv[2], 1)
