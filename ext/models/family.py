"""Which family (HSD, GJADet, or the plain Detector for Ultralytics YAMLs) a model YAML or checkpoint belongs to."""

from __future__ import annotations

from pathlib import Path

from ultralytics.nn.tasks import load_checkpoint

from ..nn.tasks import GJADetModel, HSDModel, load_model_yaml
from .detector import Detector
from .gjadet import GJADet
from .hsd import HSD


def family_of(model: str):
    """Return the `Model` class (HSD, GJADet or Detector) for a model YAML or checkpoint path."""
    families = {"hsd": HSD, "gjadet": GJADet}
    p = str(model)
    if p.endswith((".yaml", ".yml")):
        return families.get(str(load_model_yaml(p).get("family", "")).lower(), Detector)
    if p.endswith(".pt") and Path(p).is_file():
        m = load_checkpoint(p)[0]
        m = getattr(m, "student_model", m)
        return HSD if isinstance(m, HSDModel) else GJADet if isinstance(m, GJADetModel) else Detector
    return Detector
