"""Our configuration keys (`cfg/default.yaml`) beside Ultralytics': which of them enter its configuration, and how
`key=value` words are parsed and checked. Run by `import ext` (`register()`).

Two kinds of keys, so that a key Ultralytics adds one day under one of our names cannot break `import ext`:

- Run keys, read through Ultralytics' own machinery (the trainer's, validator's, predictor's or exporter's `args`:
  losses, distillation, `slice`, `calib_images`, ...). `register()` adds them to Ultralytics' defaults and type
  checks, so every Ultralytics entry point (`get_cfg`, `check_cfg`, trainers, `Model.train`) accepts and validates
  them like its own. If Ultralytics already declares one of them, `register()` does not overwrite it: it warns,
  naming the key, and Ultralytics' default and type stay (the two then share one value).
- Tool keys (`TOOL_KEYS`), read only by our own commands, `fdet track`, `fdet inspect`, `fdet benchmark`, and the
  functions behind them. They never enter Ultralytics' configuration: the command takes them out of its words
  (`take_tool_keys`), checks their types itself (`check_types`) and gives Ultralytics the rest, so a later
  Ultralytics key of the same name does not meet them.

Our model classes, modules and losses need nothing registered: checkpoints pickle them by their `ext.*` import
paths, so `YOLO("best.pt")` loads them once `ext` is importable.
"""

from __future__ import annotations

import ultralytics.cfg as ucfg
from ultralytics.cfg import check_cfg, check_dict_alignment, merge_equals_args, parse_key_value_pair, smart_value
from ultralytics.utils import DEFAULT_CFG, DEFAULT_CFG_DICT, LOGGER

from .defaults import ext_defaults
from .losses.names import CLS_LOSSES, EQL_EVERY_ANCHOR, IOU_LOSSES, REWEIGHT_REGIONS

CHOICES = {"cls_loss": CLS_LOSSES, "iou_loss": IOU_LOSSES, "gjr_region": REWEIGHT_REGIONS}
VERBATIM = {"name", "project"}  # run folder names: Ultralytics keeps these words as typed
TOOL_KEYS = {  # {fdet mode: our keys that only it reads}; tests/test_keys.py keeps `track`'s equal to measure.KEYS
    "track": ("subpixel", "relink", "fps", "mm_per_px", "marker_mm", "ref_mm", "ref_ids", "sg_window", "sg_order",
              "max_gap", "pairs"),
    "inspect": ("faults", "labels"),
    "benchmark": ("formats",),
}
RUN_KEY_MODES = {  # run keys read by other fdet modes than `train` (every other run key is a training key)
    **{k: ("predict", "inspect") for k in ("slice", "slice_overlap", "slice_full")},
    "calib_images": ("export", "benchmark"),
}
TYPE_SETS = {bool: "CFG_BOOL_KEYS", int: "CFG_INT_KEYS", float: "CFG_FLOAT_KEYS", str: "CFG_STR_KEYS"}
_added: set[str] = set()  # the run keys this process added to Ultralytics' configuration


def modes_of(key: str) -> tuple[str, ...]:
    """The `fdet` modes that read one of our keys: its tool mode, its `RUN_KEY_MODES`, else ('train',)."""
    tool = tuple(m for m, keys in TOOL_KEYS.items() if key in keys)
    return tool or RUN_KEY_MODES.get(key, ("train",))


def tool_defaults() -> dict:
    """{key: default} of the tool keys, in the order of `cfg/default.yaml`."""
    tools = {k for keys in TOOL_KEYS.values() for k in keys}
    return {k: v for k, v in ext_defaults().items() if k in tools}


def run_defaults() -> dict:
    """{key: default} of the run keys (every key of `cfg/default.yaml` but the tool keys)."""
    tools = tool_defaults()
    return {k: v for k, v in ext_defaults().items() if k not in tools}


def bare_list(value):
    """`[a, b]` typed on a command line (bare words, which Ultralytics' parsing keeps as the string '[a, b]') as the
    list ['a', 'b'], each item typed like a value (`[3, bolt]` -> [3, 'bolt']); any other value unchanged."""
    if not (isinstance(value, str) and value.startswith("[") and value.endswith("]")):
        return value
    items = [w.strip().strip("'\"") for w in value[1:-1].split(",")]
    return [smart_value(w) for w in items if w]


def arg(args, name: str):
    """The value of `name` in a run's arguments (a dict, or a namespace such as `model.args`), or its default
    (Ultralytics' or ours, from `cfg/default.yaml`) when they lack it, e.g. a checkpoint from an older version."""
    if isinstance(args, dict):
        return args[name] if name in args else DEFAULT_CFG_DICT.get(name)
    return getattr(args, name, DEFAULT_CFG_DICT.get(name))


def check_choices(args) -> None:
    """Raise ValueError when a choice-valued argument (cls_loss, iou_loss, gjr_region) has a value outside its
    choices, or for `cls_loss=eql` with `gjr_region=all`."""
    get = (lambda k: args.get(k)) if isinstance(args, dict) else (lambda k: getattr(args, k, None))
    for k, valid in CHOICES.items():
        v = get(k)  # absent: not given, nothing to check
        if v is not None and str(v).lower() not in valid:
            raise ValueError(f"'{k}={v}' is invalid. Valid '{k}' values are {', '.join(valid)}.")
    if str(get("cls_loss")).lower() == "eql" and str(get("gjr_region")).lower() == "all":
        raise ValueError(EQL_EVERY_ANCHOR)


def check_types(values: dict, defaults: dict) -> dict:
    """`values` checked against the types of their `defaults` as Ultralytics checks its own keys (an int for a float
    key becomes a float; a None default is untyped). Returns the checked values.

    Raises:
        TypeError: a value of another type, naming the key and its type.
    """
    out = dict(values)
    for k, v in values.items():
        kind = type(defaults.get(k))
        if kind is float and isinstance(v, int) and not isinstance(v, bool):
            out[k] = float(v)
        elif defaults.get(k) is not None and (type(v) is not kind):
            raise TypeError(f"'{k}={v}' is of invalid type {type(v).__name__}. '{k}' must be a {kind.__name__} "
                            f"(i.e. '{k}={defaults[k]}')")
    return out


def register() -> None:
    """Add our run keys to Ultralytics' defaults and type checks (tool keys stay ours). Idempotent. A run key that
    Ultralytics declares itself is left to Ultralytics, with a warning naming it."""
    defaults = run_defaults()
    theirs = [k for k in defaults if k in DEFAULT_CFG_DICT and k not in _added]
    for k in theirs:
        LOGGER.warning(f"ext: Ultralytics declares '{k}' (default {DEFAULT_CFG_DICT[k]!r}), a key of ext too "
                       f"(cfg/default.yaml, default {defaults[k]!r}); ext reads Ultralytics' '{k}' instead of adding "
                       "its own: check that the two mean the same, or rename ext's key")
    new = {k: v for k, v in defaults.items() if k not in theirs}
    DEFAULT_CFG_DICT.update(new)  # DEFAULT_CFG_KEYS is a live view of this dict
    for k, v in new.items():
        setattr(DEFAULT_CFG, k, v)
    for kind, name in TYPE_SETS.items():  # check_cfg reads these module globals; None defaults stay untyped
        setattr(ucfg, name, frozenset(getattr(ucfg, name)) | {k for k, v in new.items() if type(v) is kind})
    if "freeze_epochs" in new:
        ucfg.CFG_INT_MIN.update({"freeze_epochs": 0})
    _added.update(new)


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


def take_tool_keys(mode: str, words: list[str]) -> tuple[dict, list[str]]:
    """Take the tool keys of `fdet MODE` out of its words before Ultralytics sees them: (their checked values, the
    other words). A tool key of another mode that Ultralytics does not declare is refused by name.

    Raises:
        SyntaxError: e.g. `fdet predict fps=1000` ('fps' is a key of fdet track). TypeError: a value of a wrong type.
    """
    tools, ours, rest = tool_defaults(), {}, []
    for a in merge_equals_args(words):
        k = a.split("=", 1)[0]
        if "=" in a and k in TOOL_KEYS.get(mode, ()):
            ours.update(key_values([a]))
        elif "=" in a and k in tools and k not in DEFAULT_CFG_DICT:
            users = " / ".join(modes_of(k))
            raise SyntaxError(f"'{k}' is not a valid 'fdet {mode}' key: it is a key of 'fdet {users}'")
        else:
            rest.append(a)
    return check_types(ours, tools), rest


def parse_args(argv: list[str]) -> dict:
    """Parse `key=value` words into a dict, validated like Ultralytics' own (unknown keys and wrong types raise)."""
    overrides = key_values(argv)
    check_dict_alignment(DEFAULT_CFG_DICT, overrides)
    check_cfg(overrides)
    check_choices(overrides)
    return overrides
