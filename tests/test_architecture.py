"""The house rules: no import circles, and every import points down a floor (README: Layout)."""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("checkin", "enrollment", "models", "kiosk_client")

# Lowest first. A module may import modules of its own floor or of the floors below it.
FLOORS: tuple[tuple[str, ...], ...] = (
    ("models",),
    (  # the base floor: shared by everything above, importing only models
        "checkin.errors",
        "checkin.settings",
        "checkin.protocol",
        "checkin.logs",
        "checkin.audit",
        "checkin.stored_settings",
        "checkin.runtime",
        "checkin.keys",
        "checkin.lifeline",
    ),
    ("kiosk_client",),
    ("checkin.faces",),
    ("checkin.accounts",),
    ("checkin.meetings",),
    ("checkin.recognition",),
    ("enrollment",),
    ("checkin.bench",),
    ("checkin.web",),
    ("checkin.cli",),
)
# The face path is pure: arrays in, dataclasses out; no database, no web.
_IO = ("models", "sqlalchemy", "fastapi", "starlette", "redis", "httpx")
PURE = {"checkin.faces": _IO, "checkin.meetings.outcomes": _IO}  # the term record's rules


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def project_modules() -> dict[str, Path]:
    return {
        module_name(p): p
        for pkg in PACKAGES
        for p in (REPO / pkg).rglob("*.py")
        if "migrations" not in p.parts
    }


def imported(tree: ast.AST, known: Iterable[str]) -> set[str]:
    """Every module an AST imports (at any depth), resolved against the `known` modules."""
    known = set(known)
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for a in node.names:  # `from pkg import mod` imports pkg.mod when that is a module
                sub = f"{node.module}.{a.name}"
                out.add(sub if sub in known else node.module)
    return out


def import_graph(sources: Mapping[str, str]) -> dict[str, set[str]]:
    """Module -> the project modules it imports."""
    return {
        name: {m for m in imported(ast.parse(text), sources) if m in sources and m != name}
        for name, text in sources.items()
    }


def floor(module: str) -> int:
    """The floor of a module: the longest matching prefix wins."""
    if module == "checkin":  # the namespace package itself (empty)
        return 1
    best, index = -1, -1
    for i, prefixes in enumerate(FLOORS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > best:
                best, index = len(prefix), i
    if index < 0:
        raise AssertionError(f"{module} is on no floor: add it to FLOORS")
    return index


def upward(graph: Mapping[str, set[str]]) -> list[str]:
    """Imports that point up a floor."""
    return sorted(
        f"{a} -> {b}" for a, targets in graph.items() for b in targets if floor(b) > floor(a)
    )


def cycles(graph: Mapping[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def impure(sources: Mapping[str, str]) -> list[str]:
    """Imports of the database or the web from the pure packages."""
    bad = []
    for name, text in sources.items():
        for package, banned in PURE.items():
            if name == package or name.startswith(package + "."):
                for m in imported(ast.parse(text), sources):
                    if m.split(".")[0] in banned:
                        bad.append(f"{name} -> {m}")
    return sorted(bad)


def sources() -> dict[str, str]:
    return {name: path.read_text() for name, path in project_modules().items()}


def test_every_module_is_on_a_floor() -> None:
    for name in project_modules():
        floor(name)


def test_no_import_circles() -> None:
    assert cycles(import_graph(sources())) == []


def test_imports_point_down_the_floors() -> None:
    assert upward(import_graph(sources())) == []


def test_the_face_path_is_pure() -> None:
    assert impure(sources()) == []


def test_the_rules_catch_violations() -> None:
    fake = {
        "checkin.faces.engine": "from checkin.web import app\nimport sqlalchemy\n",
        "checkin.web.app": "from checkin.meetings import service\n",
        "checkin.meetings.service": "def f():\n    from checkin.meetings import status\n",
        "checkin.meetings.status": "import checkin.meetings.service\n",
    }
    graph = import_graph(fake)
    assert upward(graph) == ["checkin.faces.engine -> checkin.web.app"]
    assert cycles(graph) == [["checkin.meetings.service", "checkin.meetings.status"]]
    assert impure(fake) == ["checkin.faces.engine -> sqlalchemy"]
