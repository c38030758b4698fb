"""Model classes of `ext`: Ultralytics `DetectionModel`s built by our YAML builder, with our loss.

`DetectorModel` builds a model YAML that names a module of ours with `ext.nn.builder.parse_model` (Ultralytics'
own, extended by ours), any other with Ultralytics' `parse_model` untouched, and uses
`ext.losses.DetectionLoss` (cls_loss / iou_loss choices). The network of each family is named after it:
`DetectorModel` for the plain family `ext.Detector`, `HSDModel` for `ext.HSD`, `GJADetModel` for `ext.GJADet`, so
that a checkpoint says which family it belongs to. (`DetectionModel` is Ultralytics' network class, which all three
extend; `Detector`, `HSD`, `GJADet` are the Ultralytics `Model`s that users call, in ext/models/.)
"""

from __future__ import annotations

import threading
from contextlib import contextmanager
from copy import deepcopy
from pathlib import Path

import ultralytics.nn.tasks as ut
from ultralytics.nn.tasks import DetectionModel, yaml_model_load
from ultralytics.utils import YAML
from ultralytics.utils.torch_utils import unwrap_model

from ..losses.detection import DetectionLoss, EndToEndLoss
from ..paths import models_dir
from .box_prior import prior_of, set_box_prior
from .builder import names_ext_module, parse_model
from .compose import compose, split_name

_BUILD_LOCK = threading.RLock()


@contextmanager
def our_builder():
    """For the duration of the block, Ultralytics' model constructors build a model dict that names a module of ours
    with our `parse_model`, and any other (every Ultralytics YAML) with Ultralytics' own, untouched."""
    with _BUILD_LOCK:
        original = ut.parse_model

        def build(d, ch, verbose=True):
            return (parse_model if names_ext_module(d) else original)(d, ch, verbose)

        ut.parse_model = build
        try:
            yield
        finally:
            ut.parse_model = original


def load_model_yaml(cfg: str | Path) -> dict:
    """Load a model YAML by path or name, set its `scale` from the name and build its neck (`ext.nn.compose`).

    `hsd.yaml`, `hsd-s.yaml`, `hsds.yaml` and `cfg/models/hsd.yaml` all find our `cfg/models/hsd.yaml` (scale from
    the suffix); a neck name before the scale picks that neck for a composable YAML (`gjadet-resnet-fpn-n.yaml`:
    `gjadet-resnet.yaml`, FPN neck, scale n); Ultralytics names such as `yolo11n.yaml` go through Ultralytics' own
    loader.

    Raises:
        FileNotFoundError: the name is neither a file, one of ours, nor one Ultralytics knows; the message lists ours.
    """
    p = Path(cfg)
    if p.suffix not in {".yaml", ".yml"}:
        raise ValueError(f"model config must be a .yaml file, got '{cfg}'")
    ours = {q.stem: q for q in models_dir().glob("*.yaml")}
    found = split_name(p.stem, set(ours))
    scale, neck = "", None
    if p.is_file():
        d = YAML.load(p)
    elif found:
        d, neck, scale = YAML.load(ours[found[0]]), found[1], found[2]
    else:
        try:
            return yaml_model_load(p)
        except FileNotFoundError as e:
            raise FileNotFoundError(f"model '{cfg}' not found. Ours: {', '.join(sorted(ours))}") from e
    d = compose(d, neck)
    d["scale"] = scale or d.get("scale") or ""
    d["yaml_file"] = str(p)
    return d


class DetectorModel(DetectionModel):
    """An Ultralytics `DetectionModel` built by our builder (our modules + Ultralytics') and trained with our loss.

    Args:
        cfg: model YAML path/name (see `load_model_yaml`) or an already loaded model dict.
        ch: input channels. nc: number of classes (overrides the YAML). verbose: print the layer table.
    """

    def __init__(self, cfg="hsd.yaml", ch=3, nc=None, verbose=True):
        d = deepcopy(cfg) if isinstance(cfg, dict) else load_model_yaml(cfg)
        with our_builder():
            super().__init__(d, ch=ch, nc=nc, verbose=verbose)
        self.init_box_prior()

    def init_box_prior(self) -> None:
        """Start the box distributions where the YAML's `dfl_prior` says (`ext.nn.box_prior`); absent or 0 keeps
        Ultralytics' uniform start. Only at build: loaded weights replace it."""
        head, cells = self.model[-1], prior_of(self.yaml.get("dfl_prior"))
        if cells is not None and getattr(head, "reg_max", 1) > 1:
            set_box_prior(head, cells)

    def init_criterion(self):
        """Return our detection loss (Ultralytics' v8DetectionLoss with selectable cls/IoU losses), for NMS-free
        heads (one-to-one branch, e.g. YOLO26 or `end2end: True`) on both branches; the statistics a resumed run
        handed over (`loss_state`) are restored into it."""
        e2e = getattr(self.model[-1], "one2one_cv2", None) is not None
        criterion = EndToEndLoss(self) if e2e else DetectionLoss(self)
        state = self.__dict__.pop("loss_state", None)
        if state:
            criterion.load_state(state)
        return criterion


class HSDModel(DetectorModel):
    """HSD family model (student `hsd.yaml`, teacher `hsd-teacher.yaml`, or any detection YAML)."""


class GJADetModel(DetectorModel):
    """GJADet family model (`gjadet.yaml`, or any detection YAML)."""


# `DetectorModel`'s name until 2026-12. A checkpoint pickles its model's class by module and name, so plain-family
# checkpoints saved before the rename name `ext.nn.tasks.ExtDetectionModel`: this alias loads them (tests/nn).
ExtDetectionModel = DetectorModel


def student(model):
    """The trained network inside DDP and distillation wrappers (Ultralytics' `DistillationModel.student_model`)."""
    model = unwrap_model(model)
    return getattr(model, "student_model", model)
