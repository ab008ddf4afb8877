"""What machine a benchmark ran on, for every bench/results/*.json: per-trial results and kernel speeds differ
between CPUs (AVX2 vs AVX-512 above all), so a figure without its machine cannot be compared.

    from machine import describe_machine   # bench scripts run with bench/ on sys.path

A run's record (`start_run`, `finish_run`) also holds its command, its times, the machine's load average when it
starts and when it finishes, and the note its operator gave (`--note`, `NOTE_HELP`): timings taken beside other
jobs are not a quiet machine's.
"""

from __future__ import annotations

import os
import platform
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

# The instruction-set flags that change our kernels' speed or rounding; the rest of /proc/cpuinfo is noise here.
RELEVANT_FLAGS = ("sse4_2", "avx", "avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512_bf16", "amx_tile")


def cpu_model_and_flags(cpuinfo: str) -> tuple[str, list[str]]:
    """The CPU's model name and which of RELEVANT_FLAGS it has, from /proc/cpuinfo's text (first processor)."""
    model, flags = "unknown", set[str]()
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "model name" and model == "unknown":
            model = value.strip()
        elif key == "flags" and not flags:
            flags = set(value.split())
    return model, [flag for flag in RELEVANT_FLAGS if flag in flags]


NOTE_HELP = "what else ran on the machine, recorded beside the run's timings (default: no note; the load is measured)"


def load_average() -> list[float]:
    """The 1-, 5- and 15-minute load averages: on 2 cores, ~2 is a bench alone, more means something ran beside it."""
    return [round(load, 2) for load in os.getloadavg()]


def utc_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def start_run(machine: dict[str, Any], note: str | None) -> dict[str, Any]:
    """A run's record as it starts: its command, start time, machine (`describe_machine()`), note and load; a bench
    adds its settings."""
    return {
        "command": " ".join(sys.argv),
        "started": utc_now(),
        "machine": machine,
        "note": note,
        "load_average_at_start": load_average(),
    }


def finish_run(run: dict[str, Any]) -> None:
    """Stamp a run's record with its finish time and the load then (each time a bench writes its JSON)."""
    run["finished"] = utc_now()
    run["load_average_at_finish"] = load_average()


def describe_machine() -> dict[str, Any]:
    cpuinfo = Path("/proc/cpuinfo")
    model, flags = cpu_model_and_flags(cpuinfo.read_text()) if cpuinfo.exists() else (platform.processor(), [])
    return {
        "cpu_model": model,
        "cpu_flags": flags,
        "avx2": "avx2" in flags,
        "avx512f": "avx512f" in flags,
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
    }


if __name__ == "__main__":
    import json

    print(json.dumps(describe_machine(), indent=2))
