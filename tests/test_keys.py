"""`import ext` registers our run keys with Ultralytics' configuration and its type checks; our tool keys stay out of
it, and a key Ultralytics gains under one of our names breaks neither `import ext` nor our commands. The keys, defaults
and types expected here are read from the YAML files themselves (ours and Ultralytics'), not typed into the test."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from ultralytics.cfg import DEFAULT_CFG_PATH, get_cfg
from ultralytics.utils import DEFAULT_CFG, DEFAULT_CFG_DICT

import ext  # noqa: F401
from ext.keys import TOOL_KEYS, modes_of, take_tool_keys
from ext.tools.measure import KEYS as MEASURE_KEYS

REPO = Path(__file__).resolve().parents[1]
OURS = yaml.safe_load((REPO / "cfg" / "default.yaml").read_text())
THEIRS = yaml.safe_load(Path(DEFAULT_CFG_PATH).read_text())  # the file: the live dict now holds ours too
TOOLS = {k for keys in TOOL_KEYS.values() for k in keys}
RUN = {k: v for k, v in OURS.items() if k not in TOOLS}

# a value of the wrong type and another value of the right one, by the type of the default (None: untyped)
WRONG = {bool: "maybe", int: 1.5, float: "high", str: 1}
OTHER = {bool: lambda v: not v, int: lambda v: v + 1, float: lambda v: v + 1.5, str: lambda v: v + "x",
         type(None): lambda v: "x"}


def test_yaml_read():
    assert len(OURS) > 10 and len(THEIRS) > 50


@pytest.mark.parametrize("key", RUN)
def test_key_registered_with_its_default(key):
    assert DEFAULT_CFG_DICT[key] == OURS[key] and getattr(DEFAULT_CFG, key) == OURS[key]


@pytest.mark.parametrize("key", RUN)
def test_key_overridden_like_ultralytics(key):
    value = OTHER[type(OURS[key])](OURS[key])
    assert getattr(get_cfg(overrides={key: value}), key) == value


@pytest.mark.parametrize("key", [k for k, v in RUN.items() if v is not None])
def test_key_type_checked_like_ultralytics(key):
    with pytest.raises(TypeError, match=re.escape(key)):
        get_cfg(overrides={key: WRONG[type(OURS[key])]})


@pytest.mark.parametrize("key", RUN)
def test_misspelled_key_refused_naming_ours(key):
    with pytest.raises(SyntaxError, match=f"'{re.escape(key)}['=]"):  # the suggestion: 'fps=0.0' or 'pairs'
        get_cfg(overrides={key + "x": OURS[key]})


def test_no_clash_with_ultralytics_keys():
    """Ultralytics' own keys (distill_model, dis, cls_pw, freeze, ...) are not redeclared by us."""
    assert set(OURS) & set(THEIRS) == set()


def test_tool_keys_are_keys_of_ours_that_ultralytics_never_sees():
    """Tool keys are declared in cfg/default.yaml, read by their tool only (`fdet track` takes exactly the
    measurement keys of ext/tools/measure.py, `subpixel` and `relink`), and absent from Ultralytics' configuration."""
    assert TOOLS <= set(OURS) and set(TOOL_KEYS["track"]) == {"subpixel", "relink", *MEASURE_KEYS}
    assert [k for k in TOOLS if k in DEFAULT_CFG_DICT or hasattr(DEFAULT_CFG, k)] == []
    with pytest.raises(SyntaxError, match="'fps' is not a valid YOLO argument"):
        get_cfg(overrides={"fps": 30.0})


@pytest.mark.parametrize("key", sorted(TOOLS))
def test_tool_key_parsed_and_type_checked_by_its_mode(key):
    (mode,) = modes_of(key)
    value = OTHER[type(OURS[key])](OURS[key])
    ours, rest = take_tool_keys(mode, [f"{key}={value}", "imgsz=64"])
    assert ours == {key: value} and rest == ["imgsz=64"]
    if OURS[key] is not None:
        with pytest.raises(TypeError, match=re.escape(key)):
            take_tool_keys(mode, [f"{key}={WRONG[type(OURS[key])]}"])
    other = "predict" if mode != "predict" else "track"
    with pytest.raises(SyntaxError, match=f"'{key}' is not a valid 'fdet {other}' key: it is a key of 'fdet {mode}'"):
        take_tool_keys(other, [f"{key}={value}"])


# Ultralytics gains three of our names before `import ext`: `slice` (a run key of ours: the predictor reads it), and
# `labels`, `subpixel` (tool keys of `fdet inspect`, `fdet track`), each as a bool key of its own.
ULTRALYTICS_GAINS_OUR_NAMES = """
import sys
import ultralytics.cfg as ucfg
from ultralytics.utils import DEFAULT_CFG, DEFAULT_CFG_DICT
gained = {"slice": 0, "labels": False, "subpixel": False}
DEFAULT_CFG_DICT.update(gained)
for k, v in gained.items():
    setattr(DEFAULT_CFG, k, v)
ucfg.CFG_INT_KEYS = frozenset(ucfg.CFG_INT_KEYS) | {"slice"}
ucfg.CFG_BOOL_KEYS = frozenset(ucfg.CFG_BOOL_KEYS) | {"labels", "subpixel"}

import ext
from ext.cli import main

model, frames, out = sys.argv[1:4]
assert DEFAULT_CFG_DICT["labels"] is False and "slice_overlap" in DEFAULT_CFG_DICT  # theirs stays; ours added
common = [f"model={model}", f"source={frames}", "imgsz=64"]
assert main(["inspect", *common, f"labels={frames}", f"out={out}/inspect"]) == 0  # ours: a folder, not a bool
assert main(["track", *common, "subpixel=False", f"out={out}/track"]) == 0
assert main(["predict", *common, "slice=32", "labels=True", f"project={out}", "name=predict"]) == 0
assert main(["predict", *common, "subpixel=True", f"project={out}", "name=theirs"]) == 0  # Ultralytics' key now
assert main(["predict", *common, "fps=3"]) == 2  # still ours alone: refused by name
print("commands ran")
"""


def test_ultralytics_gaining_one_of_our_key_names_breaks_nothing(tmp_path, hsd_tiny_run):
    """A later Ultralytics with keys named like ours: `import ext` warns about the run key it shares (and keeps
    Ultralytics' default), the tool keys never meet Ultralytics' parsing, and fdet inspect / track / predict run."""
    import cv2
    import numpy as np

    frames = tmp_path / "frames"
    frames.mkdir()
    for t in range(2):
        cv2.imwrite(str(frames / f"{t:03d}.png"), np.full((64, 64, 3), 60 * t, np.uint8))
    r = subprocess.run([sys.executable, "-c", ULTRALYTICS_GAINS_OUR_NAMES, str(hsd_tiny_run / "weights" / "best.pt"),
                        str(frames), str(tmp_path / "out")], capture_output=True, text=True, timeout=600,
                       cwd=tmp_path)
    assert r.returncode == 0 and "commands ran" in r.stdout, r.stdout[-3000:] + r.stderr[-3000:]
    log = r.stdout + r.stderr
    assert "Ultralytics declares 'slice'" in log
    assert "declares 'labels'" not in log and "declares 'subpixel'" not in log  # tool keys: nothing to warn about
    assert (tmp_path / "out" / "inspect" / "report.html").is_file()
    assert (tmp_path / "out" / "track" / "trajectories.csv").is_file()
