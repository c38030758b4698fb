"""Size limits that keep the package readable: no file in ext over 300 lines, family trainers under 80 lines."""

from __future__ import annotations

import ast
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
