"""What the tools share: a model from a path (family picked as `fdet` does), a frame count, a run folder."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import cv2
from ultralytics.cfg import get_save_dir
from ultralytics.data.utils import IMG_FORMATS, VID_FORMATS
from ultralytics.engine.model import Model

from ..models.family import family_of


def load_model(model_or_path):
    """Return an Ultralytics `Model` for a checkpoint / YAML path (family picked like `fdet`) or a `Model` as is."""
    if isinstance(model_or_path, Model):
        return model_or_path
    if isinstance(model_or_path, (str, Path)):
        p = str(model_or_path)
        if p.endswith(".pt") and not Path(p).is_file():
            raise FileNotFoundError(f"model '{p}' not found (tools never download weights)")
        return family_of(p)(p)
    raise TypeError(f"expected a checkpoint path or an Ultralytics Model, got {type(model_or_path).__name__}")


def count_frames(source) -> int | None:
    """Images in a folder (recursively), frames of a video file, 1 for an image; None when unknown (a glob, a
    stream). For progress bars."""
    p = Path(str(source))
    if p.is_dir():
        return sum(f.suffix.lower()[1:] in IMG_FORMATS for f in p.rglob("*"))
    if p.is_file() and p.suffix.lower()[1:] in VID_FORMATS:
        cap = cv2.VideoCapture(str(p))
        n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
        cap.release()
        return n or None
    return 1 if p.is_file() else None


def run_dir(mode: str, out=None, project=None, name=None, exist_ok: bool = False) -> Path:
    """The run folder of a tool, created: `out` when given, else Ultralytics' `get_save_dir` with the run-folder keys
    of `yolo` (`project`/`name`, default runs/detect/<mode>; a taken name gets a number, `<mode>2`, unless
    `exist_ok`).

    Raises:
        ValueError: `out` together with `project` or `name` (two answers to one question).
    """
    if out and (project or name):
        raise ValueError(f"give out= or project=/name=, not both (out={out}, project={project}, name={name})")
    if out:
        save_dir = Path(out)
    else:
        args = SimpleNamespace(project=project, name=name, task="detect", mode=mode, exist_ok=bool(exist_ok))
        save_dir = get_save_dir(args)
    save_dir.mkdir(parents=True, exist_ok=True)
    return save_dir
