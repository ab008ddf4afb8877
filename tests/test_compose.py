"""docker-compose.yml against the command line it starts: every `temporal-order` command a service runs is one the
CLI accepts (a renamed option would leave a container restarting forever, and only `make image-check`, which needs
a Docker daemon, would notice), and the `scale` profile has the roles issue 13 asks for: two API-only replicas,
two training workers, all on the one PostgreSQL registry, every port published on loopback only."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from service import cli

ROOT = Path(__file__).resolve().parents[1]
COMPOSE: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]


def _argv(service: dict[str, Any]) -> list[str] | None:
    """The `temporal-order` arguments a service runs (an `sh -c "exec temporal-order ..."` too), or None."""
    command = service.get("command")
    if not command:
        return None
    if command[:2] == ["sh", "-c"]:
        # Compose turns $$ into $; the shell expands the variable to the options it holds (empty by default).
        command = [word for word in shlex.split(command[2]) if word != "exec" and not word.startswith("$$")]
    return command[1:] if command[0] == "temporal-order" else None


def _scale(prefix: str) -> dict[str, dict[str, Any]]:
    return {name: s for name, s in SERVICES.items() if name.startswith(prefix) and "scale" in s.get("profiles", [])}


RUNS_THE_CLI = {name: argv for name, service in SERVICES.items() if (argv := _argv(service)) is not None}


def test_the_services_that_run_the_cli_are_found() -> None:
    assert {"trainer", "api", "bootstrap-pg", "api-1", "api-2", "worker-1", "worker-2"} <= set(RUNS_THE_CLI)


@pytest.mark.parametrize("name", sorted(RUNS_THE_CLI))
def test_every_command_a_service_runs_is_accepted_by_the_cli(name: str) -> None:
    # --help is answered only once every option before it has parsed: an unknown option or a bad value fails first.
    result = CliRunner().invoke(cli.build_app(), [*RUNS_THE_CLI[name], "--help"])
    assert result.exit_code == 0, f"{name}: temporal-order {shlex.join(RUNS_THE_CLI[name])}: {result.output}"


def test_the_scale_profile_has_two_api_only_replicas_and_two_workers() -> None:
    apis, workers = _scale("api-"), _scale("worker-")
    assert sorted(apis) == ["api-1", "api-2"] and sorted(workers) == ["worker-1", "worker-2"]
    for name in apis:
        assert RUNS_THE_CLI[name][0] == "serve" and "--no-worker" in RUNS_THE_CLI[name], f"{name} would train jobs"
    for name, worker in workers.items():
        assert RUNS_THE_CLI[name] == ["worker"], name
        # The image's health check asks /readyz, which a worker does not serve.
        assert worker.get("healthcheck") == {"disable": True}, f"{name} would be reported unhealthy"
    urls = {name: s["environment"]["TEMPORAL_ORDER_DATABASE_URL"] for name, s in {**apis, **workers}.items()}
    assert len(set(urls.values())) == 1 and next(iter(urls.values())).startswith("postgresql://"), urls


def test_the_default_api_runs_its_jobs_itself() -> None:
    assert RUNS_THE_CLI["api"][0] == "serve" and "--no-worker" not in RUNS_THE_CLI["api"]
    assert "TEMPORAL_ORDER_EMBEDDED_WORKER" not in SERVICES["api"].get("environment", {})


def test_every_port_is_published_on_loopback_only() -> None:
    published = {name: s["ports"] for name, s in SERVICES.items() if s.get("ports")}
    assert published
    for name, ports in published.items():
        assert all(str(port).startswith("127.0.0.1:") for port in ports), f"{name}: {ports}"
