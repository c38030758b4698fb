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
