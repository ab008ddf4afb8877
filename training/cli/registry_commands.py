"""Registry commands: migrate the database, list model versions, choose the active one.

temporal-order db upgrade
temporal-order models --arch lstm
temporal-order activate lstm 3
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated

import typer

from training.cli.common import fail, opened_registry

if TYPE_CHECKING:
    from rich.table import Table

    from training.registry import VersionInfo

db_app = typer.Typer(help="Migrate the registry database (Alembic).", no_args_is_help=True)


def _check_arch(arch: str) -> str:
    from training.architectures import ARCHITECTURES

    if arch not in ARCHITECTURES:
        raise fail(f"unknown architecture {arch!r}; known: {', '.join(ARCHITECTURES)}")
    return arch


@db_app.command("upgrade")
def db_upgrade(
    revision: Annotated[str, typer.Argument(help="Target revision.")] = "head",
) -> None:
    """Apply the migrations up to REVISION (default: the newest)."""
    with opened_registry(at_head=False) as registry:
        registry.upgrade(revision)
        typer.echo(f"registry {registry.display_url} at revision {registry.current_revision()}")


@db_app.command("downgrade")
def db_downgrade(
    revision: Annotated[str, typer.Argument(help="Target revision; `base` drops every table.")] = "-1",
) -> None:
    """Undo migrations down to REVISION (default: one step)."""
    with opened_registry(at_head=False) as registry:
        registry.downgrade(revision)
        typer.echo(f"registry {registry.display_url} at revision {registry.current_revision() or 'base'}")


@db_app.command("current")
def db_current() -> None:
    """Print the database's schema revision."""
    with opened_registry(at_head=False) as registry:
        typer.echo(registry.current_revision() or "base (not migrated)")


def _or_dash(value: object) -> str:
    return "—" if value is None else f"{value:,}" if isinstance(value, int) else str(value)


def _versions_table(versions: list[VersionInfo]) -> Table:
    from rich.table import Table

    table = Table(title="Model versions (newest first)")
    for header in ("arch", "version", "active", "task", "converged", "sequences to criterion"):
        table.add_column(header, justify="right" if header in ("version", "sequences to criterion") else "left")
    table.add_column("wrong (argmax)", justify="right")
    table.add_column("wrong (paper)", justify="right")
    table.add_column("created (UTC)")
    for info in versions:
        table.add_row(
            info.arch,
            str(info.version),
            "●" if info.active else "",
            info.task,
            "yes" if info.converged else "no",
            _or_dash(info.sequences_to_criterion),
            f"{info.wrong_argmax} / {info.n_test}",
            f"{info.wrong_paper} / {info.n_test}",
            info.created_at.strftime("%Y-%m-%d %H:%M:%S"),
            style="bold" if info.active else None,
        )
    return table


def models(
    arch: Annotated[str | None, typer.Option(help="Only this architecture.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="A JSON array instead of a table.")] = False,
) -> None:
    """List every model version in the registry: results, and which one is active per architecture."""
    if arch is not None:
        _check_arch(arch)
    with opened_registry() as registry:
        versions = registry.versions(arch)
    if as_json:
        # The curve is the bulk of a version and belongs to `report`; the listing stays one screen per run.
        rows = [{k: v for k, v in info.to_dict().items() if k != "curve"} for info in versions]
        typer.echo(json.dumps(rows, indent=2))
        return
    if not versions:
        typer.echo("The registry holds no model versions yet: run `temporal-order train`.")
        return
    from rich.console import Console

    Console().print(_versions_table(versions))


def activate(
    arch: Annotated[str, typer.Argument(help="Architecture.")],
    version: Annotated[
        int | None, typer.Argument(min=1, help="Version number (see `temporal-order models`).", show_default=False)
    ] = None,
    rollback: Annotated[
        bool, typer.Option("--rollback", help="Instead of VERSION: go back one step in ARCH's activation history.")
    ] = False,
) -> None:
    """Make VERSION the active model of ARCH (the one the service serves), or with --rollback the one served before."""
    _check_arch(arch)
    if (version is None) == (not rollback):
        typer.echo("error: give either VERSION or --rollback (not both)", err=True)
        raise typer.Exit(2)
    with opened_registry() as registry:
        if rollback:  # nothing to roll back to is a RegistryError: one line, exit status 1
            step = registry.rollback(arch, by="cli rollback")
            typer.echo(f"{arch} rolled back from version {step.from_version} to version {step.to_version}.")
            return
        assert version is not None
        info = registry.activate(arch, version, by="cli")
    typer.echo(f"{info.arch} version {info.version} is active ({info.wrong_argmax} wrong of {info.n_test}).")


def register(app: typer.Typer) -> None:
    """Add the registry commands to `app`."""
    app.add_typer(db_app, name="db")
    app.command()(models)
    app.command()(activate)
