"""`fdet MODE key=value ...`: the `yolo` command line for our families.

Modes: train, val, predict, export (as `yolo`, same keys plus ours from `cfg/default.yaml`), benchmark (formats
side by side, ext/deploy/benchmark.py), data (catalog and
converters), the tools cam (Grad-CAM overlays), track (marker trajectories) and inspect (verdicts per image and
train, HTML report), all in `ext.tools`, and help. The family (HSD, GJADet, or the plain Detector for Ultralytics
YAMLs) is picked from the model YAML's `family:` key or from the checkpoint's model class.
"""

from __future__ import annotations

import re
import sys
from difflib import get_close_matches
from pathlib import Path

from ultralytics.cfg import DEFAULT_CFG_PATH, merge_equals_args
from ultralytics.utils import DEFAULT_CFG_DICT, LOGGER

from .data.cli import data_main
from .models import GJADet, HSD
from .models.family import family_of
from .defaults import ext_defaults
from .keys import key_values, modes_of, parse_args, run_defaults, take_tool_keys, tool_defaults
from .tools import grad_cam, inspect_frames, track_markers

MODES = ("train", "val", "predict", "export", "benchmark")
RUN_DIR = ("project", "name", "exist_ok")  # Ultralytics' run-folder keys: every mode that writes files takes them
TOOLS = {  # analysis modes: {mode: (keys of their own, keys they take; None = the predict keys, passed to predict)}
    "cam": (("layer", "out"), ("model", "source", "imgsz", "conf", "device", *RUN_DIR)),
    "track": (("out",), None),
    "inspect": (("out",), None),
}
TOOL_EXT_KEYS = {mode: {k for k in ext_defaults() if mode in modes_of(k)} for mode in ("track", "inspect")}
TRAIN_KEYS_PREDICT_USES = {"model", "data", "batch", "imgsz", "device", "verbose", "save", "compile", "channels_last",
                           *RUN_DIR}

USAGE = """Usage: fdet MODE key=value ...

  MODE     train | val | predict | export | benchmark | data | cam | track | inspect | help
  keys     every `yolo` key (see `yolo cfg`) plus ours, with their defaults (`fdet help model=X.yaml`: a family's):
"""
EXAMPLES = """Examples:
  fdet train model=hsd-n.yaml data=fault-synth epochs=10 imgsz=320
  fdet train model=gjadet-n.yaml data=crash-synth cls_loss=gjr
  fdet val model=runs/detect/train/weights/best.pt data=fault-synth
  fdet predict model=best.pt source=path/to/images
  fdet export model=best.pt format=onnx
  fdet benchmark model=best.pt data=fault-synth formats=onnx,openvino quantize=8
  fdet data list
  fdet data prepare name=fault-synth
  fdet data convert format=voc source=Annotations images=JPEGImages out=my-set
  fdet data convert format=coco source=instances.json images=images out=my-set
  fdet cam model=best.pt source=path/to/images layer=13 imgsz=640 out=cam-maps
  fdet track model=best.pt source=path/to/frames tracker=bytetrack.yaml out=tracks classes=0
  fdet inspect model=best.pt source=path/to/frames slice=640 [labels=path/to/labels] [faults=[bolt_missing]]
  fdet inspect ... project=runs/inspect name=train_0412          (cam, track: the same run-folder keys)
  fdet help model=gjadet-n.yaml                                   (the GJADet family's defaults)
"""


def family_defaults() -> dict[str, dict]:
    """{family name: the defaults its trainer declares (`defaults`, the one place)} for HSD and GJADet."""
    return {f.__name__: f.trainer_class.defaults for f in (HSD, GJADet)}


def help_text(model: str | None = None) -> str:
    """`fdet help`: our keys with the package defaults and, beside each, the family defaults that replace them
    (`dis`, an Ultralytics key, too); with `model`, the defaults of that model's family in place."""
    family = family_of(model).__name__ if model else None
    per_key: dict[str, dict] = {}
    for name, defaults in family_defaults().items():
        for k, v in defaults.items():
            per_key.setdefault(k, {})[name] = v
    ours = ext_defaults()
    keys = {**ours, **{k: DEFAULT_CFG_DICT.get(k) for k in per_key if k not in ours}}
    lines = []
    for k, v in keys.items():
        fam = per_key.get(k, {})
        if family:
            note = f"  ({family} default; package: {v})" if family in fam else ""
            v = fam.get(family, v)
        else:
            note = "  (" + ", ".join(f"{n}: {fv}" for n, fv in fam.items()) + ")" if fam else ""
        lines.append(f"             {k}={v}{note}")
    head = f"Defaults of the {family} family (model={model}):\n" if family else ""
    return head + USAGE + "\n".join(lines) + "\n\n" + EXAMPLES


def ultralytics_keys(*sections: str) -> set[str]:
    """The keys under the given section headings of Ultralytics' cfg/default.yaml (`# Train settings ---...`)."""
    keys, section = set(), None
    for line in Path(DEFAULT_CFG_PATH).read_text(encoding="utf-8").splitlines():
        if line.startswith("# "):
            section = line[2:].split(" --", 1)[0].strip()
        elif (m := re.match(r"(\w+):", line)) and section in sections:
            keys.add(m.group(1))
    return keys


def keys_not_for(mode: str) -> set[str]:
    """Keys `fdet track|inspect` refuse: Ultralytics' training, hyperparameter and export keys except those that
    prediction also reads, and our keys that belong to other modes."""
    theirs = ultralytics_keys("Train settings", "Segmentation", "Classification", "Export settings", "Hyperparameters")
    return (theirs - TRAIN_KEYS_PREDICT_USES) | (set(ext_defaults()) - TOOL_EXT_KEYS[mode])


def parse_args_or_exit(argv: list[str], prog: str, defaults: dict | None = None) -> dict:
    """`parse_args` for scripts: a bad argument prints one line and exits with status 2 (no traceback); `help` prints
    the script's `defaults` and its family's, then exits with status 0."""
    if argv and argv[0] in {"help", "-h", "--help"} and defaults is not None:
        family = family_of(defaults["model"])
        print(f"{prog} defaults: " + " ".join(f"{k}={v}" for k, v in defaults.items()))
        print(f"{family.__name__} family defaults: "
              + " ".join(f"{k}={v}" for k, v in family.trainer_class.defaults.items()))
        print("Every other key: as `fdet train` (`fdet help model=...`).")
        sys.exit(0)
    try:
        return parse_args(argv)
    except (SyntaxError, TypeError, ValueError) as e:
        print(f"{prog}: {e}", file=sys.stderr)
        sys.exit(2)


def parse_tool_args(mode: str, argv: list[str]) -> tuple[dict, dict]:
    """Split `fdet cam|track|inspect` words into (validated overrides, the tool's own keys: layer, out). A key the
    mode cannot use (a training key for `track`, `faults` for `track`, `epochs` for `inspect`) is refused by name.

    Raises:
        SyntaxError: unknown key (the message names the mode's valid keys). ValueError: bad value or missing key.
    """
    own_keys, allowed = TOOLS[mode]
    own, rest = {}, []
    for a in merge_equals_args(argv):
        k = a.split("=", 1)[0]
        if k in own_keys and "=" in a:
            own[k] = a.split("=", 1)[1]
        else:
            rest.append(a)
    ours, rest = take_tool_keys(mode, rest)  # tool keys never reach Ultralytics' parsing (ext/keys.py)
    takes = allowed or ("tracker", "conf", "classes", "imgsz", "device", *RUN_DIR, *sorted(TOOL_EXT_KEYS[mode]),
                        "... (predict keys)")
    valid = ", ".join((*own_keys, *takes))
    refused = set() if allowed is not None else keys_not_for(mode)
    for a in rest:
        k = a.split("=", 1)[0]
        if "=" in a and (k in refused or (allowed is not None and k not in allowed)):
            close = get_close_matches(k, [*own_keys, *(allowed or TOOL_EXT_KEYS[mode])])
            hint = f" Similar: {', '.join(close)}." if close else ""
            raise SyntaxError(f"'{k}' is not a valid 'fdet {mode}' key (it does not use it).{hint} Valid keys: {valid}")
    try:
        overrides = parse_args(rest)
    except SyntaxError as e:
        close = {c for a in rest for c in get_close_matches(a.split("=", 1)[0], own_keys)}
        hint = f" (did you mean {', '.join(sorted(close))}?)" if close else ""
        raise SyntaxError(f"{e}\n'fdet {mode}' keys{hint}: {valid}") from e
    overrides.update(ours)
    if "layer" in own:
        try:
            own["layer"] = int(own["layer"])
        except ValueError:
            raise ValueError(f"layer={own['layer']} must be an integer layer index (see 'fdet help')") from None
    for k in ("model", "source"):
        if overrides.get(k) is None:
            raise ValueError(f"'fdet {mode}' needs {k}=... ({valid})")
    return overrides, own


def run_tool(mode: str, overrides: dict, own: dict):
    """Run `fdet cam` (ext.tools.grad_cam), `fdet track` (ext.tools.track_markers) or `fdet inspect`
    (ext.tools.inspect_frames); print what was written."""
    model, source = overrides.pop("model"), overrides.pop("source")
    if mode == "inspect":
        keys = {k: overrides.pop(k, None) for k in ("labels", "faults")}
        res = inspect_frames(model, source, **keys, out=own.get("out"), conf=overrides.pop("conf", None) or 0.5,
                             **overrides)
        LOGGER.info(f"fdet inspect: {res['flagged']} of {res['images']} image(s) flagged, "
                    f"{len(res['unreadable'])} unreadable; {res['report']}; {res['csv']}")
        return res
    if mode == "cam":
        files = grad_cam(model, source, layer=own.get("layer"), out=own.get("out"), **overrides)
        LOGGER.info(f"fdet cam: {len(files)} overlay(s) in {files[0].parent if files else own.get('out')}")
        return files
    res = track_markers(model, source, out=own.get("out"), **overrides)
    LOGGER.info(f"fdet track: {res['tracks']} track(s); {res['csv']}; {res['plot']}")
    return res


def check_mode_keys(mode: str, overrides: dict) -> None:
    """Refuse, by name, a key of ours that `fdet MODE` (train, val, predict, export, benchmark) does not use.

    Raises:
        SyntaxError: e.g. `fdet predict fps=1000` ('fps' is a key of fdet track).
    """
    # a tool key that Ultralytics declares too is, outside its tool, Ultralytics' key (ext/keys.py)
    ours = set(run_defaults()) | (set(tool_defaults()) - set(DEFAULT_CFG_DICT))
    for k in overrides:
        modes = modes_of(k) if k in ours else (mode,)
        if mode not in modes:
            raise SyntaxError(f"'{k}' is not a valid 'fdet {mode}' key: it is a key of 'fdet {' / '.join(modes)}'")


def run(mode: str, overrides: dict):
    """Run one mode with validated overrides; return what the Model method returns."""
    model = overrides.pop("model", None) or (HSD.default_model if mode == "train" else None)
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
        try:
            model = key_values(argv[1:]).get("model")
            print(help_text(model))
        except (SyntaxError, FileNotFoundError, ValueError) as e:
            print(f"fdet help: {e}", file=sys.stderr)
            return 2
        return 0
    mode, rest = argv[0], argv[1:]
    try:
        if mode == "data":
            return data_main(rest)
        if mode in TOOLS:
            overrides, own = parse_tool_args(mode, rest)
        elif mode not in MODES:
            valid = ", ".join((*MODES, "data", *TOOLS, "help"))
            raise SyntaxError(f"unknown mode '{mode}'. Valid modes: {valid}")
        else:
            ours, rest = take_tool_keys(mode, rest)  # tool keys never reach Ultralytics' parsing (ext/keys.py)
            overrides = parse_args(rest)
            check_mode_keys(mode, overrides)
            overrides.update(ours)
    except (SyntaxError, TypeError, ValueError, FileNotFoundError) as e:
        print(f"fdet: {e}", file=sys.stderr)
        return 2
    if mode in TOOLS:
        try:
            run_tool(mode, overrides, own)
        except (ValueError, FileNotFoundError) as e:  # e.g. an invalid layer (the message lists the valid ones)
            print(f"fdet {mode}: {e}", file=sys.stderr)
            return 2
        return 0
    user_errors = (FileNotFoundError, ValueError) if mode in ("export", "benchmark") else FileNotFoundError
    try:
        run(mode, overrides)
    except user_errors as e:  # a missing model / source / data set, or (export, benchmark) a bad argument
        print(f"fdet: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
