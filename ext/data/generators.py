"""The synthetic data sets by name: `GENERATORS` ('fault-synth', 'crash-synth', 'fault-frames', 'crash-sequence')
and `generate`.

The scene modules (`synth_fault`, `synth_crash`, `synth_frames`) build on the shared helpers of `synthetic`; this
module only collects them, so that no module imports one that imports it back.
"""

from __future__ import annotations

from pathlib import Path

from .synth_crash import CRASH_GENERATOR
from .synth_fault import FAULT_GENERATOR
from .synth_frames import FRAMES_GENERATOR
from .synth_sequence import SEQUENCE_GENERATOR
from .synthetic import SceneGenerator

GENERATORS: dict[str, SceneGenerator] = {g.name: g for g in (FAULT_GENERATOR, CRASH_GENERATOR, FRAMES_GENERATOR,
                                                             SEQUENCE_GENERATOR)}


def generate(name: str, out_dir: str | Path, n_train: int, n_val: int, imgsz: int = 640, seed: int = 0,
             train_settings: dict | None = None, **settings) -> dict:
    """Write synthetic data set ``name`` (a key of ``GENERATORS``) to ``out_dir``.

    Args:
        name: key of ``GENERATORS``.
        out_dir: output folder (created; earlier images/labels/annotations in it are removed).
        n_train, n_val: number of images per split.
        imgsz: image side in pixels (square images; fault-frames: the frame width).
        seed: random seed; the same seed gives byte-identical images and labels.
        train_settings: settings for the train split only, over ``settings`` (e.g. rare classes rarer there).
        **settings: generator settings overriding its defaults (see ``GENERATORS[name].defaults``).

    Returns:
        {'yaml': path of data.yaml, 'counts': {'train': {class_name: n}, 'val': {...}}}
    """
    if name not in GENERATORS:
        raise KeyError(f"unknown generator '{name}'; available: {sorted(GENERATORS)}")
    return GENERATORS[name](out_dir, n_train, n_val, imgsz=imgsz, seed=seed, train_settings=train_settings,
                            **settings)
