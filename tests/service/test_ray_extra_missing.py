"""`serve` (with its embedded worker) and `worker`, given a Ray address where Ray is not installed, refuse to start
with the one line naming the extra, rather than starting and failing every training job. Each command runs as the
installed console script in its own process, where a sitecustomize makes `import ray` fail as it does without
the extra."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.server import server_environment

CONSOLE_SCRIPT = str(Path(sys.executable).with_name("temporal-order"))
# Only a hang guard: the commands fail before they import torch.
START_TIMEOUT_S = 120


@pytest.fixture()
def without_ray(tmp_path: Path) -> dict[str, str]:
    """The environment of a machine without the ray extra, and a Ray address in TEMPORAL_ORDER_RAY_ADDRESS."""
    site = tmp_path / "site"
    site.mkdir()
    # What `import ray` meets where Ray is not installed (a None in sys.modules stops the import).
    (site / "sitecustomize.py").write_text("import sys\n\nsys.modules['ray'] = None\n")
    environment = server_environment(f"sqlite:///{tmp_path / 'registry.db'}", ray_address="127.0.0.1:6379")
    environment["PYTHONPATH"] = os.pathsep.join(filter(None, [str(site), environment.get("PYTHONPATH")]))
    return environment


def test_the_environment_has_no_ray(without_ray: dict[str, str]) -> None:
    blocked = subprocess.run([sys.executable, "-c", "import ray"], env=without_ray, capture_output=True, text=True)
    assert blocked.returncode == 1 and "ModuleNotFoundError" in blocked.stderr


@pytest.mark.parametrize("command", [["serve", "--port", "9"], ["worker"]], ids=["serve", "worker"])
def test_a_ray_address_without_ray_refuses_to_start_naming_the_extra(
    command: list[str], without_ray: dict[str, str], tmp_path: Path
) -> None:
    result = subprocess.run(
        [CONSOLE_SCRIPT, *command], env=without_ray, capture_output=True, text=True, timeout=START_TIMEOUT_S
    )
    assert result.returncode == 1, result.stderr
    assert result.stderr.strip().splitlines() == [
        "error: a Ray address was given but Ray is not installed: install the extra with pip install "
        "'temporal-order[ray]' (or run without --ray-address / TEMPORAL_ORDER_RAY_ADDRESS to use the local process "
        "pool)"
    ]
    assert not (tmp_path / "registry.db").exists()  # refused before it opened (or created) the registry
