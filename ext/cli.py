"""`fdet MODE key=value ...`: the `yolo` command line for our families.

Modes: train, val, predict, export (as `yolo`, same keys plus ours from `cfg/default.yaml`), data (catalog and
converters) and help. The family (HSD, GJADet, or the plain Detector for Ultralytics YAMLs) is picked from the
model YAML's `family:` key or from the checkpoint's model class.
"""

from __future__ import annotations

import sys
from pathlib import Path

from ultralytics.cfg import check_cfg, check_dict_alignment, merge_equals_args, parse_key_value_pair
from ultralytics.utils import DEFAULT_CFG_DICT, LOGGER

from .registry import check_choices, ext_defaults

MODES = ("train", "val", "predict", "export")
DEFAULT_MODEL = {"train": "hsd-n.yaml"}

HELP = f"""Usage: fdet MODE key=value ...

  MODE     train | val | predict | export | data | help
  keys     every `yolo` key (see `yolo cfg`) plus ours:
{chr(10).join(f'             {k}={v}' for k, v in ext_defaults().items())}

Examples:
  fdet train model=hsd-n.yaml data=fault-synth epochs=10 imgsz=320
  fdet train model=gjadet-n.yaml data=crash-synth cls_loss=gjr
  fdet val model=runs/detect/train/weights/best.pt data=fault-synth
  fdet predict model=best.pt source=path/to/images
  fdet export model=best.pt format=onnx
  fdet data list
  fdet data prepare name=fault-synth
  fdet data convert format=voc source=Annotations images=JPEGImages out=my-set
  fdet data convert format=coco source=instances.json images=images out=my-set
"""


def family_of(model: str):
    """Return the `Model` class (HSD, GJADet or Detector) for a model YAML or checkpoint path."""
    from .models import GJADet, HSD, Detector

    families = {"hsd": HSD, "gjadet": GJADet}
    p = str(model)
    if p.endswith((".yaml", ".yml")):
        from .nn.tasks import load_model_yaml

        return families.get(str(load_model_yaml(p).get("family", "")).lower(), Detector)
    if p.endswith(".pt") and Path(p).is_file():
        from ultralytics.nn.tasks import load_checkpoint

        from .nn.tasks import GJADetModel, HSDModel

        m = load_checkpoint(p)[0]
        m = getattr(m, "student_model", m)
        return HSD if isinstance(m, HSDModel) else GJADet if isinstance(m, GJADetModel) else Detector
    return Detector


def parse_args(argv: list[str]) -> dict:
    """Parse `key=value` words into a dict, validated like Ultralytics' own (unknown keys and wrong types raise)."""
    overrides = {}
    for a in merge_equals_args(argv):
        if "=" not in a:
            raise SyntaxError(f"'{a}' is not a key=value argument. See 'fdet help'.")
        k, v = parse_key_value_pair(a)
        overrides[k] = v
    check_dict_alignment(DEFAULT_CFG_DICT, overrides)
    check_cfg(overrides)
    check_choices(overrides)
    return overrides


def parse_args_or_exit(argv: list[str], prog: str) -> dict:
    """`parse_args` for scripts: a bad argument prints one line and exits with status 2 (no traceback)."""
    try:
        return parse_args(argv)
    except (SyntaxError, TypeError, ValueError) as e:
        print(f"{prog}: {e}", file=sys.stderr)
        sys.exit(2)


def run(mode: str, overrides: dict):
    """Run one mode with validated overrides; return what the Model method returns."""
    model = overrides.pop("model", None) or DEFAULT_MODEL.get(mode)
    if model is None:
        raise ValueError(f"'fdet {mode}' needs model=path/to/best.pt (or a model YAML)")
    family = family_of(model)
    LOGGER.info(f"fdet: {family.__name__} family for model={model}")
    m = family(model)
    if mode == "predict" and overrides.get("source") is None:
        raise ValueError("'fdet predict' needs source=path/to/images (a file, folder, glob or video)")
    return getattr(m, mode)(**overrides)


def main(argv: list[str] | None = None) -> int:
    """Console entry point; returns the process exit status (0 ok, 2 bad arguments)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0] in {"help", "-h", "--help"}:
        print(HELP)
        return 0
    mode, rest = argv[0], argv[1:]
    try:
        if mode == "data":
            from .data.cli import data_main

            return data_main(rest)
        if mode not in MODES:
            raise SyntaxError(f"unknown mode '{mode}'. Valid modes: {', '.join((*MODES, 'data', 'help'))}")
        overrides = parse_args(rest)
    except (SyntaxError, TypeError, ValueError, FileNotFoundError) as e:
        print(f"fdet: {e}", file=sys.stderr)
        return 2
    run(mode, overrides)
    return 0


if __name__ == "__main__":
    sys.exit(main())
