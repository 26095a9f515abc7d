"""The package's arrows point down: web -> capability packages -> core.

Read statically (ast), without importing anything: every import statement of every
module under festival/, wherever it stands (a function's body, an `if TYPE_CHECKING:`
block: a late or type-only import is still a dependency). Importing a module also runs
its parent packages' __init__, so those count as imported too.

- views do not talk to the database themselves: no module under festival/web/views
  imports festival.core.store (they may reach it through the domain modules they call);
- exports are pure: festival.calendar and festival.mail.compose reach neither the store
  nor a database driver, however indirectly;
- capability packages never import the web layer.
"""

from __future__ import annotations

import ast
import functools
from collections import deque
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "festival"
CAPABILITIES = ("core", "programme", "seats", "mail", "calendar", "organisers", "privacy")
DATABASE = ("festival.core.store", "aiosqlite", "sqlite3")
PURE_EXPORTS = ("festival.calendar", "festival.mail.compose")


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@functools.cache
def modules() -> dict[str, Path]:
    """Every module of the festival package by dotted name (a package by its own name)."""
    return {_module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def _with_parents(name: str) -> list[str]:
    """'festival.mail.compose' -> itself, 'festival.mail' and 'festival': importing a
    module runs its packages' __init__ first."""
    parts = name.split(".")
    return [".".join(parts[:n]) for n in range(len(parts), 0, -1)]


def _absolute(module: str, level: int, target: str | None) -> str:
    """The absolute name of `from <level dots><target> import ...` inside `module`."""
    if level == 0:
        return target or ""
    is_package = modules()[module].name == "__init__.py"
    base = module.split(".")
    base = base if is_package else base[:-1]
    base = base[: len(base) - (level - 1)]
    return ".".join([*base, target] if target else base)


@functools.cache
def direct_imports(module: str) -> frozenset[str]:
    """What `module` imports: festival modules by full name (with their packages), and
    anything outside the package by its top-level name ('aiosqlite', 'jinja2')."""
    tree = ast.parse(modules()[module].read_text("utf-8"), filename=str(modules()[module]))
    named: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            named.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            source = _absolute(module, node.level, node.module)
            named.add(source)
            # `from festival.core import store` imports the module festival.core.store.
            named.update(f"{source}.{alias.name}" for alias in node.names
                         if f"{source}.{alias.name}" in modules())
    found: set[str] = set()
    for name in named:
        if name == "festival" or name.startswith("festival."):
            found.update(n for n in _with_parents(name) if n in modules())
        else:
            found.add(name.split(".")[0])
    # A module runs inside its own packages too.
    found.update(n for n in _with_parents(module)[1:] if n in modules())
    found.discard(module)
    return frozenset(found)


def chain(start: str, targets: tuple[str, ...]) -> list[str] | None:
    """The shortest import path from `start` to any of `targets`, or None."""
    came_from: dict[str, str | None] = {start: None}
    queue = deque([start])
    while queue:
        current = queue.popleft()
        if current in targets:
            path = [current]
            while (previous := came_from[path[-1]]) is not None:
                path.append(previous)
            return path[::-1]
        if current not in modules():
            continue  # outside the package: not followed
        for name in sorted(direct_imports(current)):
            if name not in came_from:
                came_from[name] = current
                queue.append(name)
    return None


def _under(package: str) -> list[str]:
    return [m for m in modules() if m == package or m.startswith(package + ".")]


# --- the walker itself: a walker that sees nothing would pass every rule -----------------

def test_the_walker_sees_direct_transitive_and_package_imports() -> None:
    assert len(modules()) > 30
    assert {"festival.core.store", "festival.core", "festival"} <= (
        direct_imports("festival.programme.queries"))
    assert "aiosqlite" in direct_imports("festival.core.store.sqlite")
    assert "festival.core.store" in direct_imports("festival.mail.sender")
    assert chain("festival.mail.sender", DATABASE)[-1] == "festival.core.store"
    assert chain("festival.seats.registrations", ("festival.mail.facts",)) == [
        "festival.seats.registrations", "festival.mail.outbox", "festival.mail.facts"]
    assert chain("festival.web.app", ("festival.web.views",)) is not None


def test_relative_imports_are_resolved() -> None:
    assert _absolute("festival.mail.compose", 1, "facts") == "festival.mail.facts"
    assert _absolute("festival.mail", 1, "facts") == "festival.mail.facts"
    assert _absolute("festival.web.views.feeds", 2, "templating") == "festival.web.templating"
    assert _absolute("festival.web.views.feeds", 2, None) == "festival.web"


# --- the rules ---------------------------------------------------------------------------

def test_views_do_not_import_the_store() -> None:
    offenders = sorted(m for m in _under("festival.web.views")
                       if "festival.core.store" in direct_imports(m))
    assert offenders == [], (
        f"views import festival.core.store directly: {offenders}; "
        "read and write through the domain modules (festival.programme, .seats, ...)")


def test_pure_exports_reach_no_database() -> None:
    reached = {}
    for export in PURE_EXPORTS:
        for module in _under(export):
            path = chain(module, DATABASE)
            if path is not None:
                reached[module] = " -> ".join(path)
    assert reached == {}, "pure exports reach the database:\n" + "\n".join(reached.values())


def test_capability_packages_do_not_import_the_web() -> None:
    upward = {}
    for capability in CAPABILITIES:
        for module in _under(f"festival.{capability}"):
            web = sorted(n for n in direct_imports(module) if n in _under("festival.web"))
            if web:
                upward[module] = web
    assert upward == {}, f"capability modules import festival.web: {upward}"
