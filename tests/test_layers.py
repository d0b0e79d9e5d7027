"""The layers, as the source says them: every import of every module, read with ``ast``.

``espace/`` is shared and imports neither side; ``agent/`` (installed on every
PC) never imports ``controller/`` or ``sim/``; ``controller/`` never imports
``agent/`` or ``sim/``; only ``sim/`` and ``tests/`` see both. Inside each
package no two modules import each other, directly or round a longer loop,
counting the imports inside functions too (a local import hides a cycle, it
does not remove it).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("espace", "agent", "controller", "sim", "dashboard")

# which top-level packages each package may import (besides itself)
ALLOWED: dict[str, set[str]] = {
    "espace": set(),
    "agent": {"espace"},
    "controller": {"espace"},
    "dashboard": set(),
    "sim": {"espace", "agent", "controller"},
}

# (importer, imported top-level package) edges known to break a layer, each with the work that removes it
KNOWN: dict[tuple[str, str], str] = {}  # none left: espace/cupslog.py landed


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path, members: bool = True) -> list[tuple[str, int]]:
    """Every module ``path`` imports (absolute names), with the line: top-level, in functions, under TYPE_CHECKING.

    ``members``: also ``a.b.name`` for ``from a.b import name`` (``name`` may be a module).
    """
    name = module_name(path)
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    out: list[tuple[str, int]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            out += [(a.name, node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            out.append((mod, node.lineno))
            # ``from controller import sessions`` imports the module controller.sessions
            if members:
                out += [(f"{mod}.{a.name}", node.lineno) for a in node.names if a.name != "*"]
    return out


def modules() -> dict[str, Path]:
    return {module_name(f): f for pkg in PACKAGES if (ROOT / pkg).is_dir() for f in sorted((ROOT / pkg).rglob("*.py"))}


def type_checking_only(path: Path) -> set[int]:
    """Lines of imports under ``if TYPE_CHECKING:`` (they never run, so they make no cycle)."""
    lines: set[int] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for inner in node.body:
                for sub in ast.walk(inner):
                    if isinstance(sub, ast.Import | ast.ImportFrom):
                        lines.add(sub.lineno)
    return lines


def layer_breaks(mods: dict[str, Path]) -> list[str]:
    found = []
    for name, path in mods.items():
        pkg = name.split(".")[0]
        for imported, line in imports_of(path, members=False):
            top = imported.split(".")[0]
            if top in PACKAGES and top != pkg and top not in ALLOWED[pkg] and (name, top) not in KNOWN:
                found.append(f"{path.relative_to(ROOT)}:{line} imports {imported}")
    return sorted(set(found))


def graph(mods: dict[str, Path]) -> dict[str, set[str]]:
    """module -> modules of the same package it imports at run time (any depth of function)."""
    edges: dict[str, set[str]] = {}
    for name, path in mods.items():
        pkg = name.split(".")[0]
        skip = type_checking_only(path)
        targets = set()
        for imported, line in imports_of(path):
            if line in skip or imported.split(".")[0] != pkg:
                continue
            # an import of a.b.c loads a.b.c if it is a module, else the package a.b that defines it
            while imported and imported not in mods:
                imported = imported.rpartition(".")[0]
            if imported and imported != name and not name.startswith(imported + "."):
                # a package's __init__ is run by every import below it: not an edge of its own
                targets.add(imported)
        edges[name] = targets
    return edges


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def test_each_package_imports_only_the_layers_below_it():
    assert layer_breaks(modules()) == []


def test_no_import_cycle_inside_a_package():
    assert cycles(graph(modules())) == []


def test_known_exceptions_are_still_real():
    """An exception whose import is gone must be deleted from KNOWN."""
    mods = modules()
    for (importer, top), why in KNOWN.items():
        assert importer in mods, why
        assert any(i.split(".")[0] == top for i, _ in imports_of(mods[importer])), f"{importer} no longer imports {top}: drop it from KNOWN"


# ---------------------------------------------------------------- the checker itself


def _write(root: Path, rel: str, text: str) -> None:
    f = root / rel
    f.parent.mkdir(parents=True, exist_ok=True)
    f.write_text(text, encoding="utf-8")


def test_checker_sees_local_imports_and_cycles(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """The checker finds a layer break and a cycle hidden in function-level imports."""
    import sys

    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    _write(tmp_path, "agent/__init__.py", "")
    _write(tmp_path, "agent/a.py", "def f():\n    from controller.store import x\n")
    _write(tmp_path, "controller/__init__.py", "")
    _write(tmp_path, "controller/one.py", "from controller import two\n")
    _write(tmp_path, "controller/two.py", "def g():\n    from . import one\n")
    _write(tmp_path, "controller/three.py", "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from controller import one\n")
    mods = modules()
    assert layer_breaks(mods) == ["agent/a.py:2 imports controller.store"]
    assert cycles(graph(mods)) == [["controller.one", "controller.two"]]


def test_the_readme_layout_names_every_package():
    """README's "What runs where" lists each top-level package (and the layers test it describes)."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = readme.split("## What runs where", 1)[1].split("```", 2)[1]
    packages = sorted(d.name for d in ROOT.iterdir() if (d / "__init__.py").is_file())
    assert [p for p in packages if f"\n{p}/" not in block] == []
    assert "tests/test_layers.py" in readme
