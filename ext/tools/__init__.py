"""Analyst tools on trained models: Grad-CAM heat maps (`grad_cam`) and crash-marker tracking (`track_markers`).

Both take a checkpoint path (the family, HSD / GJADet / Detector, is picked as `fdet` does), an Ultralytics `Model`,
and read sources through Ultralytics' own loaders (an image, a folder of images or frames, a glob or a video).
Command line: `fdet cam ...` and `fdet track ...` (see `fdet help`).
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace


def load_model(model_or_path):
    """Return an Ultralytics `Model` for a checkpoint / YAML path (family picked like `fdet`) or a `Model` as is."""
    from ultralytics.engine.model import Model

    if isinstance(model_or_path, Model):
        return model_or_path
    if isinstance(model_or_path, (str, Path)):
        from ..cli import family_of

        p = str(model_or_path)
        if p.endswith(".pt") and not Path(p).is_file():
            raise FileNotFoundError(f"model '{p}' not found (tools never download weights)")
        return family_of(p)(p)
    raise TypeError(f"expected a checkpoint path or an Ultralytics Model, got {type(model_or_path).__name__}")


def default_save_dir(mode: str) -> Path:
    """Return a new run folder `runs/detect/<mode>`, `<mode>2`, ... (Ultralytics' `get_save_dir`), created."""
    from ultralytics.cfg import get_save_dir

    save_dir = get_save_dir(SimpleNamespace(project=None, name=None, task="detect", mode=mode, exist_ok=False))
    save_dir.mkdir(parents=True, exist_ok=True)
    return save_dir


# imported last: the submodules use the two helpers above
from .cam import grad_cam  # noqa: E402
from .track import track_markers  # noqa: E402

__all__ = ("grad_cam", "track_markers", "load_model", "default_save_dir")
