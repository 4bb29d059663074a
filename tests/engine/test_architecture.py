"""The house's shape, held by tests: no import circles, and no arrow from a lower layer to a higher
one (engine → server → ui → pages; the store under the engine knows only records, the workflow
model, errors, the clock and the decision rule). Imports inside functions count: a lazy import is
still a dependency."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("engine", "server", "ui", "pages")
LAYERS = {"engine": 0, "server": 1, "ui": 2, "pages": 3, "app": 3}
"""Each top-level part's layer: a module may import its own layer and those below it."""
STORE_MAY_IMPORT = (
    "engine.store",
    "engine.records",
    "engine.model",
    "engine.errors",
    "engine.clock",
    "engine.decisions",
)
"""What the store may import: itself and the foundations (the decision rule included: the counters and
both SQL recounts follow `engine.decisions`)."""


def _modules() -> dict[str, Path]:
    """Every first-party module by dotted name (a package by its own name)."""
    files = [p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")] + [ROOT / "app.py"]
    out = {}
    for path in files:
        name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        out[name.removesuffix(".__init__")] = path
    return out


def _type_checking_only(node: ast.stmt) -> bool:
    """An `if TYPE_CHECKING:` block (annotations only, never run)."""
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)


def _imported(tree: ast.Module, package: str) -> Iterator[str]:
    """Every dotted name the module imports (module-level or inside functions), relative ones
    resolved against `package`."""
    skipped = {id(n) for n in ast.walk(tree) if isinstance(n, ast.stmt) and _type_checking_only(n)}
    skipped |= {id(c) for n in ast.walk(tree) if id(n) in skipped for c in ast.walk(n)}
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parts, base] if base else parts)
            yield from (f"{base}.{a.name}" for a in node.names)


@cache
def import_graph() -> dict[str, set[str]]:
    """Module → the first-party modules it imports (read once per session)."""
    modules = _modules()
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        deps = set()
        for target in _imported(ast.parse(path.read_text()), package):
            while target and target not in modules:
                target = target.rpartition(".")[0]
            if target and target != name:
                deps.add(target)
        graph[name] = deps
    return graph


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected groups of two or more modules (Tarjan's algorithm, iteratively)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for start in graph:
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                group = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.append(member)
                    if member == node:
                        break
                if len(group) > 1:
                    found.append(sorted(group))
    return found


def arrows_up(graph: dict[str, set[str]]) -> list[str]:
    """Imports from a lower layer to a higher one, and from the store to the engine above it."""
    out = []
    for module, deps in sorted(graph.items()):
        layer = LAYERS[module.split(".")[0]]
        for dep in sorted(deps):
            if LAYERS[dep.split(".")[0]] > layer:
                out.append(f"{module} → {dep}")
            elif module.startswith("engine.store") and not dep.startswith(STORE_MAY_IMPORT):
                out.append(f"{module} → {dep} (the store knows only the foundations)")
    return out


def test_no_import_circles() -> None:
    """A new circle names its modules here."""
    assert circles(import_graph()) == []


def test_no_import_from_a_lower_layer_to_a_higher_one() -> None:
    """The engine knows nothing of the server, the server nothing of the pages, and so on."""
    assert arrows_up(import_graph()) == []


def test_pages_and_ui_read_records_not_the_store_interface() -> None:
    """The pages and the UI get records from `engine.records`; only services hold a store."""
    graph = import_graph()
    leaks = [
        m for m, deps in graph.items() if m.startswith(("ui", "pages", "app")) and "engine.store.base" in deps
    ]
    assert leaks == []


def test_the_checks_find_what_they_look_for() -> None:
    """The circle finder and the layer check see a planted circle and a planted upward import."""
    planted = {
        "engine.a": {"engine.b"},
        "engine.b": {"engine.c"},
        "engine.c": {"engine.a"},
        "engine.d": set(),
    }
    assert circles(planted) == [["engine.a", "engine.b", "engine.c"]]
    assert arrows_up({"engine.x": {"ui.y"}, "ui.y": set()}) == ["engine.x → ui.y"]
    assert arrows_up({"engine.store.x": {"engine.services"}, "engine.services": set()}) != []
    real = import_graph()
    assert "engine.records" in real["engine.store.base"]  # imports inside the tree are seen
    assert "engine.dataflow" in real["engine.kinds.ai_step"]  # and so are imports inside functions
