"""What every command shares: one way to stop with an error, one way to open the registry, one way to pick the
Ray cluster that trials run on.

    with opened_registry() as registry:       # what `temporal-order models` does
        versions = registry.versions()

Only typer is imported here; the registry's modules come when a command opens it, so `--help` stays fast.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from sqlalchemy.exc import SQLAlchemyError

    from training.registry import Registry
    from training.settings import Settings


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print `error: MESSAGE` on stderr; `raise fail(...)` ends the command with exit status `code`."""
    typer.secho(f"error: {message}", err=True, fg=typer.colors.RED)
    return typer.Exit(code)


RAY_ADDRESS_HELP = "Run trials on this Ray cluster (TEMPORAL_ORDER_RAY_ADDRESS) instead of the local process pool."


def ray_address_or_fail(given: str | None) -> str | None:
    """The Ray cluster trials run on: `--ray-address`, else TEMPORAL_ORDER_RAY_ADDRESS, else None (the local
    pool). Without the ray extra an address ends the command with one line naming the extra, before any work."""
    from training.settings import get_settings

    try:
        address = given or get_settings().ray_address
    except ValueError as error:
        raise fail(f"cannot read the settings: {error}") from None
    ray_extra_or_fail(address)
    return address


def ray_extra_or_fail(address: str | None) -> None:
    """With a Ray `address` but without the ray extra, end the command with the one line naming the extra."""
    if address is None:
        return
    from training.ray_extra import RayUnavailable, require_ray

    try:
        require_ray()
    except RayUnavailable as error:
        raise fail(str(error)) from None


def _reason(error: SQLAlchemyError) -> str:
    """The driver's own message, first line only (psycopg adds hints on further lines)."""
    reason = str(getattr(error, "orig", None) or error).strip()
    return reason.splitlines()[0] if reason else type(error).__name__


@contextmanager
def opened_registry(
    settings: Settings | None = None, *, migrate: bool = False, at_head: bool = True
) -> Iterator[Registry]:
    """The registry of `settings` (default: the environment's) for one command, closed when the block ends.

    `at_head`: at the migrations' head as `training.registry.opening.open_registry` brings it there (the embedded
    default on first use, a configured database only with `migrate`, a command's --migrate); otherwise as it is
    (the `db` commands). Registry and database errors, opening it or inside the block, end the command with one
    line and exit status 1: the user's to fix, not a traceback.
    """
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import SQLAlchemyError

    from training.registry import Registry, RegistryError
    from training.registry.opening import open_registry
    from training.settings import get_settings

    try:
        settings = settings or get_settings()
    except ValueError as error:
        raise fail(f"cannot open the registry: {error}") from None
    try:
        if at_head:
            registry = open_registry(settings, migrate=migrate, announce=lambda line: typer.echo(line, err=True))
        else:
            registry = Registry(settings.database_url)
    except RegistryError as error:
        raise fail(str(error)) from None
    except SQLAlchemyError as error:
        shown = make_url(settings.database_url).render_as_string(hide_password=True)
        raise fail(f"cannot open the registry {shown}: {_reason(error)}") from None
    try:
        yield registry
    except RegistryError as error:
        raise fail(str(error)) from None
    except SQLAlchemyError as error:
        raise fail(f"registry {registry.display_url}: {_reason(error)}") from None
    finally:
        registry.close()
