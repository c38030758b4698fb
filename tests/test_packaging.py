"""setup.cfg ships every subpackage of ext and our YAMLs (cfg/ is mapped into the package as ext.cfg)."""

from __future__ import annotations

import configparser
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_every_subpackage_listed():
    cfg = configparser.ConfigParser()
    cfg.read(REPO / "setup.cfg")
    listed = set(cfg["options"]["packages"].split())
    found = {".".join(p.parent.relative_to(REPO).parts) for p in (REPO / "ext").rglob("__init__.py")}
    assert found | {"ext.cfg"} == listed
    assert "ext.cfg = cfg" in cfg["options"]["package_dir"]
    data = cfg["options.package_data"]["ext.cfg"]
    assert "*.yaml" in data and "models/*.yaml" in data and "models/necks/*.yaml" in data
    assert (REPO / "cfg" / "datasets.yaml").resolve() == (REPO / "datasets.yaml").resolve()


def test_every_third_party_import_of_ext_is_an_install_requirement():
    """A module that `ext` imports (at the top or inside a function) is in install_requires, not only in a test
    extra: found from the code with `ast`, mapped to its distribution by importlib.metadata."""
    import ast
    import re
    import sys
    from importlib.metadata import packages_distributions

    cfg = configparser.ConfigParser()
    cfg.read(REPO / "setup.cfg")
    required = {re.split(r"[<>=!\[ ;]", r.strip())[0].lower().replace("_", "-")
                for r in cfg["options"]["install_requires"].strip().splitlines()}
    dists = packages_distributions()
    missing = {}
    for f in (REPO / "ext").rglob("*.py"):
        for node in ast.walk(ast.parse(f.read_text())):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level:
                names = [node.module]
            else:
                continue
            for top in {n.split(".")[0] for n in names}:
                if top in sys.stdlib_module_names or top in {"ext", "__future__"}:
                    continue
                owners = {d.lower().replace("_", "-") for d in dists.get(top, [top])}
                if not owners & required:
                    missing.setdefault(top, f.relative_to(REPO).as_posix())
    assert not missing, f"imported by ext but not in install_requires: {missing}"
