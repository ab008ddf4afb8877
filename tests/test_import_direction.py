"""The direction of imports that DESIGN.md draws: service -> training, never back; the registry below the trainer;
the SDK apart from the server; and no circles. Read from the source (every import, also those inside functions),
then every module imported for real."""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("training", "service")
THE_TRAINER = ("training.train", "training.evaluate", "training.experiment", "training.trial", "training.distributed")
NOT_IN_THE_SDK = ("torch", "numpy", "fastapi", "starlette", "uvicorn", "sqlalchemy", "alembic", "training")


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@cache
def modules() -> dict[str, Path]:
    """Every module of the project's packages, by dotted name."""
    return {_module_name(path): path for package in PACKAGES for path in sorted((ROOT / package).rglob("*.py"))}


def _imported_names(path: Path, name: str) -> Iterator[str]:
    """Dotted names `path` imports anywhere (module level, inside functions, under TYPE_CHECKING)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            yield base
            yield from (f"{base}.{alias.name}" for alias in node.names)


@cache
def imports_of(name: str) -> frozenset[str]:
    """What module `name` imports: project modules by their own name, anything else by its top-level package."""
    found = set()
    for imported in _imported_names(modules()[name], name):
        if imported.split(".")[0] not in PACKAGES:
            found.add(imported.split(".")[0])
            continue
        while imported and imported not in modules():
            imported = imported.rpartition(".")[0]  # `from package import name`: the name is not a module
        if imported and imported != name:
            found.add(imported)
    return frozenset(found)


def _within(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == prefix or name.startswith(prefix + ".") for prefix in prefixes)


def test_every_module_is_found() -> None:
    assert {"training.train", "training.registry.store", "service.app", "service.client._client"} <= set(modules())


def test_training_never_imports_service() -> None:
    offending = {name: sorted(i for i in imports_of(name) if _within(i, ("service",))) for name in modules()}
    assert {name: found for name, found in offending.items() if found and name.startswith("training")} == {}


def test_the_registry_never_imports_the_trainer() -> None:
    registry = [name for name in modules() if _within(name, ("training.registry",))]
    offending = {name: sorted(i for i in imports_of(name) if _within(i, THE_TRAINER)) for name in registry}
    assert {name: found for name, found in offending.items() if found} == {}


def _server_side(imported: str) -> bool:
    if _within(imported, ("service",)):  # the SDK may use the package's version and the schemas it shares
        return imported not in ("service", "service.schemas") and not _within(imported, ("service.client",))
    return _within(imported, NOT_IN_THE_SDK)


def test_the_sdk_imports_no_server_side_package() -> None:
    sdk = [name for name in modules() if _within(name, ("service.client",))]
    offending = {name: sorted(filter(_server_side, imports_of(name))) for name in sdk}
    assert {name: found for name, found in offending.items() if found} == {}


def _circles() -> list[list[str]]:
    """Strongly connected groups of more than one module in the graph of imports (Tarjan's algorithm)."""
    graph = {name: sorted(i for i in imports_of(name) if i in modules()) for name in modules()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for successor in graph[node]:
            if successor not in index:
                visit(successor)
                low[node] = min(low[node], low[successor])
            elif successor in on_stack:
                low[node] = min(low[node], index[successor])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for name in graph:
        if name not in index:
            visit(name)
    return groups


def test_no_import_circles() -> None:
    assert _circles() == []


def test_every_module_imports() -> None:
    """Every module imported for real, in a fresh interpreter: what the source says is what runs."""
    script = "import importlib, sys\nfor name in sys.argv[1:]:\n    importlib.import_module(name)\n"
    result = subprocess.run([sys.executable, "-c", script, *sorted(modules())], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
