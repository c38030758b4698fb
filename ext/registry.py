"""The one registration point between `ext` and Ultralytics.

`register()` (run by `import ext`) adds the keys of `cfg/default.yaml` to Ultralytics' configuration, with
their types, so that every Ultralytics entry point (`get_cfg`, `check_cfg`, trainers, `Model.train`) accepts
and validates them like its own keys. Our model classes, modules and losses need nothing else: checkpoints
pickle them by their `ext.*` import paths, so `YOLO("best.pt")` loads them once `ext` is importable.
"""

from __future__ import annotations

import ultralytics.cfg as ucfg
from ultralytics.cfg import check_cfg, check_dict_alignment, merge_equals_args, parse_key_value_pair
from ultralytics.utils import DEFAULT_CFG, DEFAULT_CFG_DICT, YAML

from .paths import cfg_dir

CHOICES = {
    "cls_loss": ("bce", "focal", "qfl", "eqlv2", "gjr"),
    "iou_loss": ("iou", "giou", "diou", "ciou"),
}


def ext_defaults() -> dict:
    """Return our extra arguments and their defaults, read from `cfg/default.yaml`."""
    return YAML.load(cfg_dir() / "default.yaml")


def _type_sets(defaults: dict) -> dict[str, set]:
    """Sort our keys into Ultralytics' type-check sets by the type of their default value."""
    sets = {"CFG_FLOAT_KEYS": set(), "CFG_INT_KEYS": set(), "CFG_BOOL_KEYS": set(), "CFG_STR_KEYS": set()}
    for k, v in defaults.items():
        kind = {bool: "CFG_BOOL_KEYS", int: "CFG_INT_KEYS", float: "CFG_FLOAT_KEYS", str: "CFG_STR_KEYS"}[type(v)]
        sets[kind].add(k)
    return sets


def check_choices(args) -> None:
    """Raise ValueError when a choice-valued argument (cls_loss, iou_loss) has a value outside its choices."""
    get = args.get if isinstance(args, dict) else lambda k, d=None: getattr(args, k, d)
    for k, valid in CHOICES.items():
        v = get(k)
        if v is not None and str(v).lower() not in valid:
            raise ValueError(f"'{k}={v}' is invalid. Valid '{k}' values are {', '.join(valid)}.")


def register() -> None:
    """Add our keys to Ultralytics' defaults and type checks. Idempotent; clashes with Ultralytics keys raise."""
    defaults = ext_defaults()
    clash = [k for k in defaults if k in DEFAULT_CFG_DICT and not getattr(register, "done", False)]
    if clash:
        raise KeyError(f"ext keys {clash} clash with Ultralytics' own configuration keys")
    DEFAULT_CFG_DICT.update(defaults)  # DEFAULT_CFG_KEYS is a live view of this dict
    for k, v in defaults.items():
        setattr(DEFAULT_CFG, k, v)
    for name, keys in _type_sets(defaults).items():
        setattr(ucfg, name, frozenset(getattr(ucfg, name)) | keys)  # check_cfg reads these module globals
    ucfg.CFG_INT_MIN.update({"freeze_epochs": 0})
    register.done = True


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
