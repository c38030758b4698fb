"""What both tools need: a model from a path (family picked as `fdet` does) and a new run folder."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace


def load_model(model_or_path):
    """Return an Ultralytics `Model` for a checkpoint / YAML path (family picked like `fdet`) or a `Model` as is."""
    from ultralytics.engine.model import Model

    if isinstance(model_or_path, Model):
        return model_or_path
    if isinstance(model_or_path, (str, Path)):
        from ..models.family import family_of

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
