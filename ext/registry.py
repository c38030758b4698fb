"""The one registration point between `ext` and Ultralytics.

`register()` (run by `import ext`) adds the keys of `cfg/default.yaml` to Ultralytics' configuration, with
their types, so that every Ultralytics entry point (`get_cfg`, `check_cfg`, trainers, `Model.train`) accepts
and validates them like its own keys. Our model classes, modules and losses need nothing else: checkpoints
pickle them by their `ext.*` import paths, so `YOLO("best.pt")` loads them once `ext` is importable.
"""

from __future__ import annotations

import ultralytics.cfg as ucfg
from ultralytics.cfg import check_cfg, check_dict_alignment, merge_equals_args, parse_key_value_pair, smart_value
from ultralytics.utils import DEFAULT_CFG, DEFAULT_CFG_DICT

from .defaults import ext_defaults
from .losses.names import CLS_LOSSES, IOU_LOSSES

CHOICES = {"cls_loss": CLS_LOSSES, "iou_loss": IOU_LOSSES}
VERBATIM = {"name", "project"}  # run folder names: Ultralytics keeps these words as typed


def bare_list(value):
    """`[a, b]` typed on a command line (bare words, which Ultralytics' parsing keeps as the string '[a, b]') as the
    list ['a', 'b'], each item typed like a value (`[3, bolt]` -> [3, 'bolt']); any other value unchanged."""
    if not (isinstance(value, str) and value.startswith("[") and value.endswith("]")):
        return value
    items = [w.strip().strip("'\"") for w in value[1:-1].split(",")]
    return [smart_value(w) for w in items if w]


def _type_sets(defaults: dict) -> dict[str, set]:
    """Sort our keys into Ultralytics' type-check sets by the type of their default value."""
    sets = {"CFG_FLOAT_KEYS": set(), "CFG_INT_KEYS": set(), "CFG_BOOL_KEYS": set(), "CFG_STR_KEYS": set()}
    for k, v in defaults.items():
        if v is None:  # untyped, like Ultralytics' own `classes`: checked where it is used
            continue
        kind = {bool: "CFG_BOOL_KEYS", int: "CFG_INT_KEYS", float: "CFG_FLOAT_KEYS", str: "CFG_STR_KEYS"}[type(v)]
        sets[kind].add(k)
    return sets


def arg(args, name: str):
    """The value of `name` in a run's arguments (a dict, or a namespace such as `model.args`), or its default
    (Ultralytics' or ours, from `cfg/default.yaml`) when they lack it, e.g. a checkpoint from an older version."""
    if isinstance(args, dict):
        return args[name] if name in args else DEFAULT_CFG_DICT.get(name)
    return getattr(args, name, DEFAULT_CFG_DICT.get(name))


def check_choices(args) -> None:
    """Raise ValueError when a choice-valued argument (cls_loss, iou_loss) has a value outside its choices."""
    for k, valid in CHOICES.items():
        v = args.get(k) if isinstance(args, dict) else getattr(args, k, None)  # absent: not given, nothing to check
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


def key_values(words: list[str], hint: str = "See 'fdet help'.") -> dict:
    """`key=value` words into a dict of typed values (Ultralytics' own parsing: `a=1` -> 1, `b=[1,2]` -> [1, 2]);
    a list of bare words, `faults=[bolt_missing, key_broken]`, becomes a list of strings (`bare_list`).

    Raises:
        SyntaxError: a word that is not key=value (the message ends with `hint`).
    """
    out = {}
    for a in merge_equals_args(words):
        if "=" not in a:
            raise SyntaxError(f"'{a}' is not a key=value argument. {hint}")
        k, v = parse_key_value_pair(a)
        out[k] = v if k in VERBATIM else bare_list(v)
    return out


def parse_args(argv: list[str]) -> dict:
    """Parse `key=value` words into a dict, validated like Ultralytics' own (unknown keys and wrong types raise)."""
    overrides = key_values(argv)
    check_dict_alignment(DEFAULT_CFG_DICT, overrides)
    check_cfg(overrides)
    check_choices(overrides)
    return overrides
