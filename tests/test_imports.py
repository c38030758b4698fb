"""Imports of `ext`, found from the code: at the top of their modules (but the few in LAZY, with their reasons), no
cycle at import time, no layer below the command line imports it, and every module imports on its own, first, in a
fresh interpreter."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

# The imports that stay inside a function, {(file, statement): why}; every other import is at the top of its module.
INT8 = "about 1 s to import, needed only by an INT8 ONNX export"
QUANTIZE = "from onnxruntime.quantization import QuantFormat, QuantType, quantize_static"
LAZY = {
    ("ext/nn/pretrained.py", "import torchvision"): "about 1 s to import, needed only by TorchVision backbones",
    ("ext/deploy/export.py", "import onnx"): INT8,
    ("ext/deploy/export.py", QUANTIZE): INT8,
}


def modules() -> dict[str, Path]:
    """Every module of ext by dotted name ('ext.data' for ext/data/__init__.py)."""
    out = {}
    for f in (REPO / "ext").rglob("*.py"):
        parts = list(f.relative_to(REPO).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = f
    return out


def _resolve(name: str, mods: dict) -> list[str]:
    """The ext module that an import of `name` reads from: the longest prefix of `name` that is a module of ours
    (its parent packages are imported first but are the importer's own path, not what it needs)."""
    parts = name.split(".")
    found = [".".join(parts[:i]) for i in range(len(parts), 0, -1) if ".".join(parts[:i]) in mods]
    return found[:1]


def import_graph(lazy: bool = False) -> dict[str, set[str]]:
    """module -> the ext modules its import-time statements (module level; with `lazy`, also inside functions) import."""
    mods = modules()
    graph = {}
    for name, f in mods.items():
        package = name if f.name == "__init__.py" else name.rsplit(".", 1)[0]
        tree = ast.parse(f.read_text())
        nodes = ast.walk(tree) if lazy else tree.body
        targets = set()
        for node in nodes:
            if isinstance(node, ast.Import):
                targets |= {t for a in node.names for t in _resolve(a.name, mods)}
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    up = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join(up + ([base] if base else []))
                for a in node.names:
                    full = f"{base}.{a.name}"
                    targets |= set(_resolve(full if full in mods else base, mods))
        graph[name] = targets - {name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
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

    for v in graph:
        if v not in index:
            visit(v)
    return out


def function_imports(source: str) -> set[str]:
    """The import statements inside the function bodies (methods and nested functions too) of a module's source."""
    out = set()
    for fn in ast.walk(ast.parse(source)):
        if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
            out |= {ast.unparse(n) for n in ast.walk(fn) if isinstance(n, (ast.Import, ast.ImportFrom))}
    return out


def test_function_imports_finds_them():
    source = "import os\nclass A:\n    def f(self):\n        def g():\n            from .b import c\n        import d\n"
    assert function_imports(source) == {"from .b import c", "import d"}


def test_imports_at_the_top():
    """An import inside a function hides a dependency: only those in LAZY, each with its reason, stay there."""
    found = {(f.relative_to(REPO).as_posix(), i) for f in modules().values() for i in function_imports(f.read_text())}
    assert sorted(found - set(LAZY)) == []
    assert sorted(set(LAZY) - found) == []  # an entry no longer needed goes


def test_the_graph_sees_imports():
    g = import_graph()
    assert "ext.keys" in g["ext"] and "ext.nn.tasks" in g["ext.models.detector.train"]


def test_no_import_cycle():
    """A module's import-time imports never lead back to it; a submodule that reads names from its own package's
    `__init__`, which imports that submodule, counts (the bottom-of-file import pattern)."""
    assert cycles(import_graph()) == []


def test_nothing_below_the_command_line_imports_it():
    g = import_graph(lazy=True)
    below = [m for m in g if m.split(".")[1:2] and m.split(".")[1] in {"models", "tools", "reliability", "deploy",
                                                                        "nn", "losses", "metrics", "data"}]
    assert [m for m in below if "ext.cli" in g[m]] == []


def test_reliability_and_deploy_sit_below_the_families():
    """The layers: command line -> families (ext.models) and tools -> the reliability units and deployment (used by
    every family's trainer / `Detector`) -> builder, losses, metrics, data -> modules. So nothing in ext.reliability or
    ext.deploy imports a family, a tool or the command line, and nothing below them imports them."""
    g = import_graph(lazy=True)
    above = ("ext.models", "ext.tools", "ext.cli")
    middle = [m for m in g if m.split(".")[1:2] in (["reliability"], ["deploy"])]
    assert len(middle) >= 9  # both packages: four reliability units, three deploy modules and the two __init__s
    assert {m: sorted(t for t in g[m] if t.startswith(above)) for m in middle if any(
        t.startswith(above) for t in g[m])} == {}
    lower = [m for m in g if m.split(".")[1:2] and m.split(".")[1] in {"nn", "losses", "metrics", "data"}]
    assert [m for m in lower if any(t.startswith(("ext.reliability", "ext.deploy")) for t in g[m])] == []


def test_every_module_imports_first_in_a_fresh_interpreter():
    """One interpreter per module would take minutes; one interpreter that forgets every ext module (and our keys in
    Ultralytics' configuration) before importing the next is the same test at import time."""
    code = """
import importlib, sys
import ultralytics.utils as uu
base = set(uu.DEFAULT_CFG_DICT)
failed = []
for name in sys.argv[1:]:
    for k in [k for k in sys.modules if k == "ext" or k.startswith("ext.")]:
        del sys.modules[k]
    for k in set(uu.DEFAULT_CFG_DICT) - base:
        del uu.DEFAULT_CFG_DICT[k]
    try:
        importlib.import_module(name)
    except Exception as e:
        failed.append(f"{name}: {type(e).__name__}: {e}")
print("\\n".join(failed))
sys.exit(1 if failed else 0)
"""
    r = subprocess.run([sys.executable, "-c", code, *sorted(modules())], capture_output=True, text=True, cwd=REPO,
                       timeout=600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
