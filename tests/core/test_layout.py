"""The layout's import rules (docs/ARCHITECTURE.md): dependencies run one way only.

core ← geodata ← directory ← {matching, coverage, accounts} ← referrals: a package imports only
from packages strictly below it, never one beside or above it, and no two modules import each
other, even through others. Every import counts, including those inside functions and under
``if TYPE_CHECKING``. Top-level modules: ``app`` and ``wsgi`` sit above every package (no
package imports them); ``extensions`` (the Flask extension objects) sits below every package
and imports none of them.

The graph is read from the source with ``ast`` (nothing is imported), module by module: an
import names the most precise module it reaches (``from directory import hours`` is an edge to
``directory.hours``, ``from directory import Venue`` one to ``directory``).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# Rank of each package: a package may import from packages of a strictly lower rank only.
RANKS = {"core": 0, "geodata": 1, "directory": 2, "matching": 3, "coverage": 3,
         "accounts": 3, "referrals": 4}
TOP_MODULES = ("app", "wsgi")        # above every package
BASE_MODULES = ("extensions",)       # below every package

# Known violations, (importing module, imported module), each with its reason: the work that
# removes them empties this list. An entry that no longer occurs fails the test too.
ALLOWED: set[tuple[str, str]] = set()
# Known cycles (sorted module lists), same rule.
ALLOWED_CYCLES: list[list[str]] = []


def _modules() -> dict[str, Path]:
    found = {}
    for package in RANKS:
        base = ROOT / package
        if not (base / "__init__.py").exists():
            continue
        for path in sorted(base.rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    for name in TOP_MODULES + BASE_MODULES:
        if (ROOT / f"{name}.py").exists():
            found[name] = ROOT / f"{name}.py"
    return found


MODULES = _modules()


def _resolve(name: str) -> str | None:
    """The longest module of ours that ``name`` names or lies in (None if not ours)."""
    parts = name.split(".")
    for end in range(len(parts), 0, -1):
        candidate = ".".join(parts[:end])
        if candidate in MODULES:
            return candidate
    return None


def _imports(module: str, path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    targets: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                anchor = package.split(".")
                anchor = anchor[:len(anchor) - node.level + 1]
                base = ".".join(anchor + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            # "from x import y": y may be a submodule of x, or a name defined in x.
            names = [f"{base}.{alias.name}" for alias in node.names if alias.name != "*"]
            names.append(base)
            if all(_resolve(n) not in (None, _resolve(base)) for n in names[:-1]):
                names.pop()  # only submodules were named: x itself is not an edge
        else:
            continue
        for name in names:
            target = _resolve(name)
            if target is not None and target != module:
                targets.add(target)
    return targets


GRAPH = {module: _imports(module, path) for module, path in MODULES.items()}


def _layer(module: str) -> str:
    return module.split(".")[0]


def _against_the_arrow(importer: str, imported: str) -> str | None:
    """Why the edge breaks the layout, or None."""
    source, target = _layer(importer), _layer(imported)
    if source == target or source in TOP_MODULES:
        return None
    if target in TOP_MODULES:
        return f"{importer} importe {imported}, qui est au sommet"
    if source in BASE_MODULES:
        return f"{importer} est à la base et importe {imported}"
    if target in BASE_MODULES:
        return None
    if RANKS[target] >= RANKS[source]:
        where = "à côté" if RANKS[target] == RANKS[source] else "au-dessus"
        return f"{importer} importe {imported} ({target} est {where} de {source})"
    return None


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components = []
    counter = 0
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        components.append(sorted(component))
    return components


def _violations(graph: dict[str, set[str]]) -> set[tuple[str, str]]:
    return {(a, b) for a, targets in graph.items() for b in targets
            if _against_the_arrow(a, b)}


def test_the_packages_are_all_read():
    layers = {_layer(m) for m in MODULES}
    assert {"core", "geodata", "directory", "matching", "coverage", "app",
            "extensions"} <= layers
    assert "matching.cohort" in MODULES or any(m.startswith("matching.cohort.") for m in MODULES)


def test_no_import_cycle():
    cycles = _cycles(GRAPH)
    unexpected = [c for c in cycles if c not in ALLOWED_CYCLES]
    assert not unexpected, "cycles d'imports : " + " | ".join(" ↔ ".join(c) for c in unexpected)
    stale = [c for c in ALLOWED_CYCLES if c not in cycles]
    assert not stale, f"cycles disparus, à retirer de ALLOWED_CYCLES : {stale}"


def test_imports_follow_the_arrow():
    found = _violations(GRAPH)
    unexpected = sorted(found - ALLOWED)
    assert not unexpected, "\n".join(_against_the_arrow(a, b) for a, b in unexpected)
    stale = sorted(ALLOWED - found)
    assert not stale, f"exceptions devenues inutiles, à retirer de ALLOWED : {stale}"


# The checker itself, on small graphs (so that the tests above cannot pass by reading nothing).

def test_a_cycle_through_three_modules_is_found():
    graph = {"a.x": {"a.y"}, "a.y": {"a.z"}, "a.z": {"a.x"}, "a.w": {"a.x"}}
    assert _cycles(graph) == [["a.x", "a.y", "a.z"]]
    assert _cycles({"a.x": {"a.y"}, "a.y": set()}) == []


@pytest.mark.parametrize("importer, imported, allowed", [
    ("directory.services", "geodata.models", True),
    ("matching.services", "directory.rules", True),
    ("coverage.inputs", "directory.models", True),
    ("geodata.services", "directory.models", False),      # above
    ("matching.services", "coverage.models", False),      # beside
    ("core.errors", "geodata.text", False),
    ("directory.views", "app", False),                     # the top
    ("extensions", "core.config", False),                  # the base
    ("geodata.models", "extensions", True),
    ("app", "coverage", True),
    ("wsgi", "app", True),
])
def test_the_arrow(importer, imported, allowed):
    assert (_against_the_arrow(importer, imported) is None) is allowed


def test_imports_inside_functions_and_relative_imports_are_read(tmp_path):
    assert "core.errors" in GRAPH["core.config"]           # from .errors import …
    source = "def f():\n    from directory.hours import parse\n    import coverage.models\n"
    path = tmp_path / "mod.py"
    path.write_text(source)
    assert _imports("geodata.mod", path) >= {"directory.hours", "coverage.models"}


# Documents the code cites must be in the repository (docs/), not on someone's machine.
# Known stale references, in files being reorganised (issue 8): the integrator empties this.
STALE_REFERENCES: set[tuple[str, str]] = set()


def test_cited_documents_exist():
    import re

    cited = re.compile(r"(?<![\w/])(/work/\S+?\.md|docs/[\w./-]+?\.md)")
    missing = set()
    for path in sorted(ROOT.glob("*.py")) + sorted(
            p for top in ("core", "geodata", "directory", "matching", "coverage", "bench",
                          "tests", "accounts", "referrals")
            for p in (ROOT / top).rglob("*.py") if p != Path(__file__).resolve()):
        for target in cited.findall(path.read_text(encoding="utf-8")):
            if target.startswith("/") or not (ROOT / target).is_file():
                missing.add((str(path.relative_to(ROOT)), target))
    assert not missing - STALE_REFERENCES, sorted(missing - STALE_REFERENCES)
    assert not STALE_REFERENCES - missing, "références corrigées, à retirer de la liste"
