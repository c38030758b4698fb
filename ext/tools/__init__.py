"""Analyst tools on trained models: Grad-CAM heat maps (`grad_cam`) and crash-marker tracking (`track_markers`), which
with `fps` and a scale key measures in mm and s (`measure.py`: sub-pixel centres, `refine_centres`; kinematics,
`kinematics`, `scale_from_reference`, `distance`).

Both take a checkpoint path (the family, HSD / GJADet / Detector, is picked as `fdet` does), an Ultralytics `Model`,
and read sources through Ultralytics' own loaders (an image, a folder of images or frames, a glob or a video).
Command line: `fdet cam ...` and `fdet track ...` (see `fdet help`).
"""

from __future__ import annotations

from .cam import grad_cam
from .common import default_save_dir, load_model
from .kinematics import distance, kinematics, scale_from_reference
from .subpixel import refine_centres
from .track import track_markers

__all__ = ("default_save_dir", "distance", "grad_cam", "kinematics", "load_model", "refine_centres",
           "scale_from_reference", "track_markers")
