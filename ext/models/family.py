"""Which family (HSD, GJADet, or the plain Detector for Ultralytics YAMLs) a model YAML or checkpoint belongs to."""

from __future__ import annotations

from pathlib import Path


def family_of(model: str):
    """Return the `Model` class (HSD, GJADet or Detector) for a model YAML or checkpoint path."""
    from . import GJADet, HSD, Detector

    families = {"hsd": HSD, "gjadet": GJADet}
    p = str(model)
    if p.endswith((".yaml", ".yml")):
        from ..nn.tasks import load_model_yaml

        return families.get(str(load_model_yaml(p).get("family", "")).lower(), Detector)
    if p.endswith(".pt") and Path(p).is_file():
        from ultralytics.nn.tasks import load_checkpoint

        from ..nn.tasks import GJADetModel, HSDModel

        m = load_checkpoint(p)[0]
        m = getattr(m, "student_model", m)
        return HSD if isinstance(m, HSDModel) else GJADet if isinstance(m, GJADetModel) else Detector
    return Detector
