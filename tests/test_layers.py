"""Imports inside ``autogradkit`` point one way: no import cycles, and every module imports only
modules in its own layer or a lower one (``LAYERS`` below, lowest first).

The check reads the source with :mod:`ast`; it never imports the package, so it works (and its
messages stay readable) even while the package cannot be imported.

What counts as an import
    Every ``import`` / ``from ... import`` statement in every ``.py`` file under ``autogradkit/``,
    wherever it is written: at module level, inside a function or method (a "lazy" import still
    runs, just later, and still ties the two modules together), and inside ``if TYPE_CHECKING:``
    (type checkers and documentation tools do run those). Relative imports are resolved to full
    names. ``from X import name`` means the submodule ``X.name`` when ``X/name.py`` (or
    ``X/name/__init__.py``) exists, and the module ``X`` otherwise. Imports of anything outside
    the package (numpy, graphviz, ...) are ignored, and so are imports made at run time with
    ``importlib.import_module`` (the names are not in the source) — keep those for optional,
    leaf-level things such as ``viz`` and ``exercises``.

Package ``__init__`` files (rule 1, the cycle check)
    Python runs a package's ``__init__.py`` before any module inside it. So when a module ``m``
    outside sub-package ``P`` imports ``P.x``, ``m`` also depends on ``P/__init__.py`` and on
    everything that ``__init__`` imports; the cycle check adds that edge ``m -> P`` (shown as
    "runs P/__init__.py first"). A cycle such as ``tensor -> autograd.grad_mode -> autograd
    (its __init__ imports engine) -> autograd.engine -> tensor`` is therefore found even though
    no single file imports ``autograd`` itself. Two exceptions, both on purpose:

    * A module inside ``P`` gets no such edge: Python has already started ``P/__init__.py``
      before it can run any module of ``P``, so ``P -> P.x -> P`` (an ``__init__`` re-exporting
      its own submodules) is not a cycle. Adding a plain edge from every child to its parent
      would report that harmless pattern for every sub-package and the check could never pass.
    * The top-level package ``autogradkit`` gets no such edge at all. Its ``__init__`` is the
      public façade: it imports every part, last, after the parts are complete. Everything would
      be "in a cycle" with it otherwise. (A module that writes ``import autogradkit`` itself is
      still an ordinary edge and is checked.)

Package ``__init__`` files (rule 2, the layer check)
    The layer check looks only at imports written in a file; the implied "runs P/__init__.py
    first" edges of rule 1 are ignored. A package's ``__init__`` only re-exports its
    submodules, so it belongs to the layer of its contents (``autogradkit`` itself sits at layer
    9, above everything it re-exports), and its own imports are checked like any other module's.
    A child would always "import" its parent otherwise, and no layering could hold. (An import
    written in the source is still checked, even one of the module's own package, such as
    ``from . import load`` for a name defined in an ``__init__``: it does use that ``__init__``.)

Every module must be assigned to a layer. A module's layer comes from the most specific pattern
matching its name: an exact name beats a wildcard, and a longer pattern beats a shorter one
(so ``autogradkit.autograd.grad_mode`` is in layer 2 although ``autogradkit.autograd.*`` is in
layer 4).
"""
from __future__ import annotations

import ast
import fnmatch
from collections import defaultdict, deque
from dataclasses import dataclass
from pathlib import Path

import pytest

# The layers, lowest first: a module may import modules in its own layer or in lower layers only.
# Patterns are fnmatch-style, matched against full module names. docs/architecture.md states the
# same order; change both together.
LAYERS: list[list[str]] = [
    # 1. no dependencies inside the package: dtypes, the numpy/CuPy switch, CUDA helpers
    ["autogradkit.dtypes", "autogradkit.backend", "autogradkit.cuda", "autogradkit.accelerator"],
    # 2. formatting, and the grad-mode switch
    ["autogradkit.printing", "autogradkit.autograd.grad_mode"],
    # 3. the tensor's data and bookkeeping, without ops
    ["autogradkit.tensor_base"],
    # 4. graph nodes, engine, trace, grad/backward, Function, gradcheck
    ["autogradkit.autograd", "autogradkit.autograd.*"],
    # 5. the primitive ops, and the ops as functions; the functional autodiff API built on them
    #    (autograd.functional: jacobian, hessian, …; func: torch.func's transforms)
    ["autogradkit.ops", "autogradkit.ops.*", "autogradkit.functional",
     "autogradkit.autograd.functional", "autogradkit.func"],
    # 6. Tensor with its operators and methods
    ["autogradkit.tensor"],
    # 7. building tensors; datasets
    ["autogradkit.creation", "autogradkit.data"],
    # 8. modules and optimizers; saving and loading (it restores nn.Parameter)
    ["autogradkit.nn", "autogradkit.nn.*", "autogradkit.optim", "autogradkit.optim.*",
     "autogradkit.serialization", "autogradkit.utils", "autogradkit.utils.*"],
    # 9. the speed shortcuts (installed last), and the package's public façade
    ["autogradkit.fast", "autogradkit"],
    # 10. tools built on the public API
    ["autogradkit.viz*", "autogradkit.exercises*", "autogradkit.examples*", "autogradkit.cli",
     "autogradkit.doctor", "autogradkit.course", "autogradkit.__main__"],
]

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "autogradkit"


# ---------------------------------------------------------------------------------------------
# The analyser
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Import:
    """One edge ``importer -> imported``, with where it comes from."""
    importer: str
    imported: str
    path: str          # the importing file, relative to the root the analyser was given
    lineno: int
    where: str         # "module level", "in def Tensor.__setitem__", "under TYPE_CHECKING", ...
    via: str | None = None   # for a package-__init__ edge: the module whose import runs it

    def location(self) -> str:
        return f"{self.path}:{self.lineno}"

    def describe(self) -> str:
        if self.via is None:
            return f"{self.location()} ({self.where})"
        init = self.imported.replace(".", "/") + "/__init__.py"
        return (f"{self.location()} ({self.where}) imports {self.via}, "
                f"which runs {init} first")


def find_modules(root: Path, package: str) -> dict[str, Path]:
    """Every module of ``package`` (a directory under ``root``): full name -> file."""
    modules = {}
    for path in sorted((root / package).rglob("*.py")):
        rel = path.relative_to(root)
        if any(part.startswith(".") or part == "__pycache__" for part in rel.parts):
            continue
        parts = list(rel.with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _in_package(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


class _ImportCollector(ast.NodeVisitor):
    """Collects the package-internal imports of one module, at any depth."""

    def __init__(self, module: str, is_package: bool, path: str, modules, package: str):
        self.module = module
        # the package that relative imports start from
        self.base = module if is_package else module.rpartition(".")[0]
        self.path = path
        self.modules = modules
        self.package = package
        self.scope: list[str] = []        # enclosing classes and functions
        self.in_function = 0
        self.type_checking = 0
        self.found: dict[tuple[str, int], Import] = {}   # one per (target, statement)

    def _where(self) -> str:
        bits = []
        if self.scope:
            bits.append(("in def " if self.in_function else "in class ") + ".".join(self.scope))
        if self.type_checking:
            bits.append("under TYPE_CHECKING")
        return ", ".join(bits) or "module level"

    def _add(self, target: str, node: ast.stmt) -> None:
        if _in_package(target, self.package) and target != self.module:
            found = Import(self.module, target, self.path, node.lineno, self._where())
            self.found.setdefault((target, node.lineno), found)

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        self.scope.append(node.name)
        self.generic_visit(node)
        self.scope.pop()

    def visit_FunctionDef(self, node) -> None:
        self.in_function += 1
        self.visit_ClassDef(node)
        self.in_function -= 1

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_If(self, node: ast.If) -> None:
        if _is_type_checking(node.test):
            self.visit(node.test)
            self.type_checking += 1
            for stmt in node.body:
                self.visit(stmt)
            self.type_checking -= 1
            for stmt in node.orelse:
                self.visit(stmt)
        else:
            self.generic_visit(node)

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self._add(alias.name, node)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.level:
            base = self.base.split(".") if self.base else []
            if node.level - 1 > len(base) - 1:      # "beyond top-level package": Python fails
                raise AssertionError(f"{self.path}:{node.lineno}: relative import goes above "
                                     f"the top-level package")
            base = base[:len(base) - (node.level - 1)]
            source = ".".join(base + ([node.module] if node.module else []))
        else:
            source = node.module or ""
        if not _in_package(source, self.package):
            return
        for alias in node.names:
            sub = f"{source}.{alias.name}"
            self._add(sub if alias.name != "*" and sub in self.modules else source, node)


def collect_imports(root: Path, package: str) -> tuple[dict[str, Path], list[Import]]:
    """The modules of ``package`` and every import between them written in their source."""
    modules = find_modules(root, package)
    imports = []
    for name, path in modules.items():
        tree = ast.parse(path.read_bytes(), filename=str(path))
        collector = _ImportCollector(name, path.name == "__init__.py",
                                     path.relative_to(root).as_posix(), modules, package)
        collector.visit(tree)
        imports.extend(collector.found.values())
    return modules, imports


def _ancestors(name: str) -> list[str]:
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(len(parts) - 1, 0, -1)]


def package_init_edges(imports: list[Import], modules, package: str) -> list[Import]:
    """Rule 1: ``m`` importing ``P.x`` from outside sub-package ``P`` runs ``P/__init__.py``."""
    edges = []
    for imp in imports:
        for parent in _ancestors(imp.imported):
            if parent == package or parent not in modules:    # façade, or a namespace package
                continue
            if _in_package(imp.importer, parent):               # P has already started
                continue
            edges.append(Import(imp.importer, parent, imp.path, imp.lineno, imp.where,
                                via=imp.imported))
    return edges


def cycle_graph(root: Path, package: str):
    """``{importer: {imported: [Import, ...]}}`` for the cycle check (written imports + rule 1)."""
    modules, imports = collect_imports(root, package)
    graph: dict[str, dict[str, list[Import]]] = defaultdict(lambda: defaultdict(list))
    for imp in imports + package_init_edges(imports, modules, package):
        graph[imp.importer][imp.imported].append(imp)
    return graph


def _strongly_connected(graph) -> list[list[str]]:
    """Tarjan's algorithm, iterative."""
    nodes = sorted(set(graph) | {v for targets in graph.values() for v in targets})
    index, low, on_stack, stack, groups = {}, {}, set(), [], []
    counter = 0
    for start in nodes:
        if start in index:
            continue
        work = [(start, iter(sorted(graph.get(start, ()))))]
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
                    group = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        group.append(member)
                        if member == node:
                            break
                    groups.append(sorted(group))
    return groups


def find_cycles(graph) -> list[list[str]]:
    """Cycles, each as ``[a, b, ..., a]``: for every import edge that lies on some cycle, the
    shortest cycle through it (deduplicated). Fixing every edge listed breaks every cycle."""
    cycles, seen = [], set()
    for group in _strongly_connected(graph):
        members = set(group)
        if len(group) == 1:
            continue                     # self-imports are dropped when collecting
        covered = set()
        edges = sorted((u, v) for u in group for v in graph.get(u, ()) if v in members)
        for u, v in edges:
            if (u, v) in covered:
                continue
            # shortest path v -> u inside the group, then close it with u -> v
            previous, queue = {v: None}, deque([v])
            while queue and u not in previous:
                node = queue.popleft()
                for nxt in sorted(graph.get(node, ())):
                    if nxt in members and nxt not in previous:
                        previous[nxt] = node
                        queue.append(nxt)
            path, node = [], u
            while node is not None:
                path.append(node)
                node = previous[node]
            cycle = [u] + path[::-1]                     # u -> v -> ... -> u
            ring = cycle[:-1]
            first = ring.index(min(ring))
            ring = ring[first:] + ring[:first]           # start at the smallest name: stable
            key = tuple(ring)
            covered.update(zip(cycle, cycle[1:]))
            if key not in seen:
                seen.add(key)
                cycles.append(ring + [ring[0]])
    return sorted(cycles, key=lambda c: (len(c), c))


def format_cycle(number: int, cycle: list[str], graph) -> str:
    lines = [f"cycle {number}: " + " -> ".join(cycle)]
    for a, b in zip(cycle, cycle[1:]):
        found = graph[a][b]
        lines.append(f"    {a} -> {b}")
        lines.append(f"        {found[0].describe()}")
        if len(found) > 1:     # all in the importer's file
            more = ", ".join(str(imp.lineno) for imp in found[1:])
            lines.append(f"        (also line{'s' if len(found) > 2 else ''} {more})")
    return "\n".join(lines)


def layer_of(module: str, layers) -> int | None:
    """1-based layer of ``module``: its most specific matching pattern (exact, then longest)."""
    best = None
    for number, patterns in enumerate(layers, start=1):
        for pattern in patterns:
            if fnmatch.fnmatchcase(module, pattern):
                exact = not any(c in pattern for c in "*?[")
                rank = (exact, len(pattern))
                if best is None or rank > best[0]:
                    best = (rank, number)
    return None if best is None else best[1]


def _show_layer(number: int | None) -> str:
    return "no layer" if number is None else f"layer {number}"


def layer_violations(imports: list[Import], layers) -> list[str]:
    """Each written import that goes to a higher layer (or to/from a module with no layer)."""
    out = []
    for imp in sorted(imports, key=lambda i: (i.path, i.lineno, i.imported)):
        low, high = layer_of(imp.importer, layers), layer_of(imp.imported, layers)
        if low is None or high is None or high > low:
            out.append(f"{imp.location()}: {imp.importer} ({_show_layer(low)}) imports "
                       f"{imp.imported} ({_show_layer(high)})  [{imp.where}]")
    return out


# ---------------------------------------------------------------------------------------------
# The checks on autogradkit
# ---------------------------------------------------------------------------------------------

def test_every_module_has_a_layer():
    modules = find_modules(ROOT, PACKAGE)
    assert modules, f"no modules found under {ROOT / PACKAGE}"
    unassigned = [name for name in modules if layer_of(name, LAYERS) is None]
    if unassigned:
        pytest.fail(
            "these modules match no pattern in LAYERS (tests/test_layers.py); add each to the "
            "layer it belongs to (and to docs/architecture.md):\n  " + "\n  ".join(unassigned),
            pytrace=False)


def test_no_import_cycles():
    graph = cycle_graph(ROOT, PACKAGE)
    cycles = find_cycles(graph)
    groups = [g for g in _strongly_connected(graph) if len(g) > 1]
    if cycles:
        header = (f"{len(cycles)} import cycle(s) in {PACKAGE}, among "
                  + "; ".join(f"{{{', '.join(g)}}}" for g in groups)
                  + ".\nEach cycle below is the shortest one through some import; removing or "
                    "moving one import of each cycle (to a lower layer, see LAYERS) breaks it.\n")
        pytest.fail(header + "\n" + "\n\n".join(
            format_cycle(n, c, graph) for n, c in enumerate(cycles, start=1)), pytrace=False)


def test_imports_respect_layers():
    _, imports = collect_imports(ROOT, PACKAGE)
    bad = layer_violations(imports, LAYERS)
    if bad:
        pytest.fail(
            f"{len(bad)} import(s) go up the layers (a module may import only its own layer or "
            "lower; LAYERS in tests/test_layers.py, lowest first):\n  " + "\n  ".join(bad),
            pytrace=False)


# ---------------------------------------------------------------------------------------------
# Self-tests of the analyser: it can fail, and it resolves imports as Python does
# ---------------------------------------------------------------------------------------------

def _write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def test_analyser_finds_function_level_and_package_init_cycles(tmp_path):
    _write(tmp_path, {
        "fake/__init__.py": "from .core import Thing\nfrom . import sub\n",
        # cycle 1, through an import inside a function: core -> helpers -> core
        "fake/core.py": "import numpy\nfrom .helpers import helper\nclass Thing: pass\n",
        "fake/helpers.py": "def helper():\n    from .core import Thing\n    return Thing\n",
        # cycle 2, through a parent __init__: low -> sub.leaf runs sub/__init__ -> sub.high -> low
        "fake/low.py": "from fake.sub.leaf import VALUE\n",
        "fake/sub/__init__.py": "from .high import HIGH\n",
        "fake/sub/leaf.py": "VALUE = 1\n",
        "fake/sub/high.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                            "    from .. import low\nHIGH = 2\n",
    })
    graph = cycle_graph(tmp_path, "fake")
    cycles = find_cycles(graph)
    assert ["fake.core", "fake.helpers", "fake.core"] in cycles
    assert ["fake.low", "fake.sub", "fake.sub.high", "fake.low"] in cycles
    assert len(cycles) == 2, cycles          # not "fake.sub -> fake.sub.high -> fake.sub"

    text = "\n".join(format_cycle(n, c, graph) for n, c in enumerate(cycles, 1))
    assert "fake/helpers.py:2 (in def helper)" in text
    assert ("fake/low.py:1 (module level) imports fake.sub.leaf, which runs "
            "fake/sub/__init__.py first") in text
    assert "fake/sub/high.py:3 (under TYPE_CHECKING)" in text


def test_analyser_resolves_imports_and_layers(tmp_path):
    _write(tmp_path, {
        "fake/__init__.py": "",
        "fake/a.py": ("import os\nimport fake.pkg.mod as m\nfrom . import b, NAME\n"
                      "from .pkg import mod, attr\nfrom .pkg.mod import *\n"),
        "fake/b.py": "from .pkg.mod import x\n",
        "fake/pkg/__init__.py": "from . import mod\nfrom .. import b\nattr = 1\n",
        "fake/pkg/mod.py": "from . import attr\nx = 1\n",
    })
    _, imports = collect_imports(tmp_path, "fake")
    edges = sorted({(i.importer, i.imported) for i in imports})
    assert edges == [
        ("fake.a", "fake"), ("fake.a", "fake.b"), ("fake.a", "fake.pkg"),
        ("fake.a", "fake.pkg.mod"),
        ("fake.b", "fake.pkg.mod"), ("fake.pkg", "fake.b"), ("fake.pkg", "fake.pkg.mod"),
        ("fake.pkg.mod", "fake.pkg")]

    layers = [["fake.b"], ["fake.pkg*"], ["fake", "fake.a"]]
    assert layer_of("fake.pkg.mod", layers) == 2 and layer_of("fake", layers) == 3
    assert layer_of("fake.pkg.mod", [["fake.*"], ["fake.pkg.mod"]]) == 2     # exact wins
    bad = layer_violations(imports, layers)
    assert bad == ["fake/b.py:1: fake.b (layer 1) imports fake.pkg.mod (layer 2)  [module level]"]
