"""Size limits that keep the package readable: no file in ext over 300 lines, family trainers under 80 lines."""

from __future__ import annotations

import ast
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_no_file_over_300_lines():
    long = {f.relative_to(REPO).as_posix(): n for f in (REPO / "ext").rglob("*.py")
            if (n := len(f.read_text().splitlines())) > 300}
    assert long == {}


def test_family_trainers_are_short():
    """Each family's trainer class (defaults, model, validator, a few overrides) is under 80 lines."""
    sizes = {}
    for f in (REPO / "ext" / "models").glob("*/train.py"):
        for node in ast.parse(f.read_text()).body:
            if isinstance(node, ast.ClassDef) and node.name.endswith("Trainer"):
                sizes[node.name] = node.end_lineno - node.lineno + 1
    assert {"ExtTrainer", "HSDTrainer", "GJADetTrainer"} <= set(sizes)
    assert {k: v for k, v in sizes.items() if k != "ExtTrainer" and v >= 80} == {}


# What a measured result looks like in prose: a metric and its value, a speed ratio, a share of time.
MEASURED = re.compile(r"(mAP[\w-]*|\bAP\b[\w ]{0,12}?) \d\.\d{3}|\d(\.\d+)?x (fp32|faster|slower|YOLO)|\d+ % of the time"
                      r"|\d+ % (?:faster|slower)")


def measured_figures(source: str) -> list[str]:
    """The measured results quoted in a module's docstrings and comments (figures go to docs/, with their command)."""
    tree = ast.parse(source)
    texts = [ast.get_docstring(n, clean=False) or "" for n in ast.walk(tree)
             if isinstance(n, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))]
    texts += [line.split("#", 1)[1] for line in source.splitlines() if "#" in line]
    return [m.group(0) for t in texts for m in MEASURED.finditer(t)]


def test_measured_figures_finds_them():
    source = '"""INT8 ran at 1.8x fp32; the teacher scored mAP50-95 0.303."""\nx = 1  # Clips AP 0.000 here\n'
    assert measured_figures(source) == ["1.8x fp32", "mAP50-95 0.303", "AP 0.000"]
    assert measured_figures('"""conf 0.001 by default; rare: share < 5 %."""\n') == []


def test_no_measured_figures_in_docstrings():
    """Measured results go stale in docstrings: they belong in docs/ pages that carry their command."""
    found = {f.relative_to(REPO).as_posix(): hits for f in (REPO / "ext").rglob("*.py")
             if (hits := measured_figures(f.read_text()))}
    assert found == {}
