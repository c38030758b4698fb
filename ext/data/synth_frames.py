"""``fault-frames``: full line-scan frames (``imgsz`` wide, 1400 x 1024 px by default) with small components.

The scene and the components are fault-synth's (``synth_fault``: the same classes, fault states and camera), but
the undercarriage fills a large frame while the components keep their size at 640 px (``part_scale`` 1.0: bolts
and cotter pins about 20-50 px, brake-shoe keys 50-95 px long and 8-15 px wide), as in a TFDS frame where the
parts that fail are a few dozen pixels. Letterboxed to a 640 (or 320) px model input, they shrink 2.2x (4.4x):
the case sliced inference (``slice=``) is for. Frames are ``imgsz`` x ``round(imgsz * aspect)`` (width x height),
deterministic by seed like every generated set.
"""

from __future__ import annotations

import numpy as np

from .synth_fault import DEFAULTS as FAULT_DEFAULTS
from .synth_fault import NAMES, draw_components, draw_structure
from .synthetic import Box, SceneGenerator, finish_image, grow_boxes, lighting_gain, odd, smooth_field

DEFAULTS = {
    **FAULT_DEFAULTS,
    "objects": [10, 30],  # components per frame (min, max), before placement failures
    "aspect": 1024 / 1400,  # frame height / width
    "part_scale": 1.0,  # component size relative to fault-synth at 640 px
}


def render_frame(rng: np.random.Generator, imgsz: int, cfg: dict) -> tuple[np.ndarray, list[Box], int]:
    """Draw one frame. Returns (grey uint8 (round(imgsz * aspect), imgsz), pixel boxes, JPEG quality)."""
    w = imgsz
    h = int(round(imgsz * cfg["aspect"]))
    canvas = np.empty((max(w, h), max(w, h)), np.uint8)
    draw_structure(canvas, rng, max(w, h) / 640)  # the undercarriage at the frame's scale
    img = np.ascontiguousarray(canvas[:h, :w])
    u = float(cfg["part_scale"])
    boxes = draw_components(img, rng, cfg, u)  # the parts at their own scale
    blur = odd(rng.uniform(*cfg["blur"]) * u)
    side = max(w, h)
    gain = (lighting_gain(rng, side, cfg["lighting"]) * (1.0 + smooth_field(rng, side, 12, 0.12)))[:h, :w]
    img = finish_image(img, rng, blur, rng.uniform(*cfg["noise"]), gain, row_sigma=0.015)
    quality = int(rng.integers(cfg["jpeg_quality"][0], cfg["jpeg_quality"][1] + 1))
    return img, grow_boxes(boxes, (blur - 1) / 2), quality


FRAMES_GENERATOR = SceneGenerator("fault-frames", NAMES, DEFAULTS, render_frame)
