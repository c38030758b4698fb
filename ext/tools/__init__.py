"""Analyst tools on trained models: Grad-CAM heat maps (`grad_cam`), inspection reports (`inspect_frames`: verdicts
per image and train, CSV and HTML) and crash-marker tracking (`track_markers`), which with `fps` and a scale key
measures in mm and s (`measure.py`: sub-pixel centres, `refine_centres`; kinematics, `kinematics`,
`scale_from_reference`, `distance`); `track_markers_flow` does the same without a network (OpenCV saddle points,
cornerSubPix, Lucas-Kanade; `marker_flow.py`); with `ref_ids` both take a shaking camera's motion out with the fixed
reference markers' tracks (`steady`), and both repair the tracker's identities (`relink.py`).

Each takes a checkpoint path (the family, HSD / GJADet / Detector, is picked as `fdet` does) or an Ultralytics
`Model`; sources are an image, a folder of images or frames, a glob or a video. Command line: `fdet cam ...`,
`fdet track ...`, `fdet inspect ...` (see `fdet help`).
"""

from __future__ import annotations

from .cam import grad_cam
from .common import load_model, run_dir
from .inspection import inspect_frames
from .kinematics import distance, kinematics, scale_from_reference
from .marker_flow import track_markers_flow
from .measure import steady
from .subpixel import refine_centres
from .track import track_markers

__all__ = ("distance", "grad_cam", "inspect_frames", "kinematics", "load_model", "refine_centres", "run_dir",
           "scale_from_reference", "steady", "track_markers", "track_markers_flow")
