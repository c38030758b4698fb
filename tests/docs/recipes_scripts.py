"""The recipes of `python train_*.py` (the script itself, run as `__main__`) and of the README's Python block (`exec`),
at the tiny scale, with what each checks."""

from __future__ import annotations

import importlib
import re
import runpy
import shlex
import sys
from pathlib import Path

import pytest
from readme_commands import README, REPO
from tiny_env import SCALE, TRAIN, assert_distilled, inside, redirect_default_runs, spy_on, tiny_data, with_defaults

TINY_SCRIPT = {  # keys added to `python train_*.py` (unless the command gives them), after scaling its own
    "train_hsd.py": dict(data="fault-synth-tiny", **TRAIN),
    "train_gjadet.py": dict(data="crash-synth-tiny", **TRAIN),
}
PIPELINE = {"train_hsd.py": "ext.models.hsd.pipeline", "train_gjadet.py": "ext.models.gjadet.pipeline"}


def run_script(command: str, folder: Path, mp: pytest.MonkeyPatch) -> dict:
    """Run `python SCRIPT key=value ...` as `__main__` in `folder` (its default `runs/...` land there), at the tiny
    scale; return what the script's pipeline `main` returned."""
    words = shlex.split(command)[1:]
    script = words[0]
    if script not in TINY_SCRIPT:
        pytest.fail(f"no tiny recipe for '{command}': add it to TINY_SCRIPT in {Path(__file__).name}")
    args = []
    for w in words[1:]:
        if "=" not in w:
            pytest.fail(f"no tiny recipe for '{command}' (only key=value words): add one to {Path(__file__).name}")
        k, v = w.split("=", 1)
        args.append(f"{k}={SCALE.get(k) or (tiny_data(v) if k == 'data' else v)}")
    args = with_defaults(args, **TINY_SCRIPT[script])
    returned = spy_on(mp, importlib.import_module(PIPELINE[script]), "main")
    mp.chdir(folder)
    redirect_default_runs(mp, folder)
    mp.setattr(sys, "argv", [str(REPO / script), *args])
    runpy.run_path(str(REPO / script), run_name="__main__")
    assert len(returned) == 1, f"{script} did not call its pipeline's main"
    return returned[0]


def python_script(command, env):
    folder, res = env.request.getfixturevalue("script_runs")(command)
    script = shlex.split(command)[1]
    weights = [res["teacher"], res["student"]] if script == "train_hsd.py" else [res["weights"]]
    for w in weights:
        assert Path(w).is_file() and inside(w, folder / "runs"), f"{w} not a file under {folder / 'runs'}"
    assert len(res["rows"]) == len(weights)
    for row in res["rows"]:
        assert 0 <= row["mAP50-95"] <= 1 and row["params"] > 0
    if script == "train_gjadet.py":  # README: mAP50-95, AP of the rare and frequent groups, COCO AP_small
        assert {"AP_rare", "AP_frequent", "AP_small"} <= set(res["rows"][0]), res["rows"][0]
    if script == "train_hsd.py":  # the student is distilled from the teacher (README: teacher, then student)
        assert_distilled(Path(res["student"]).parents[1] / "results.csv")


def python_block(code: str, env):
    """exec the README's Python block in the test folder: tiny data and epochs, 64 px, the tiny checkpoint as
    "teacher.pt", its images/ folder made, its training run written to runs/detect/train as the block expects."""
    code = re.sub(r"""data=(["'])([^"']+)\1""", lambda m: f'data="{env.data(m.group(2), "train")}"', code)
    code = re.sub(r"\bepochs=\d+", "epochs=1", code)
    code = re.sub(r"\bimgsz=\d+", "imgsz=64", code)
    for path in re.findall(r"""["']([^"'\s]+\.pt)["']""", code):
        if not re.search(rf"YOLO\(\s*[\"']{re.escape(path)}", code):  # weights the block reads, not the one it trains
            env.weights(path)
    for folder in re.findall(r"""predict\(\s*["']([^"']+/)["']""", code):
        env.frames(folder)
    call = re.search(r"\.train\(([^\n]*)\)", code)
    assert call, "the README's Python block no longer trains: update this recipe"
    project = env.tmp / "runs" / "detect"
    extra = dict(TRAIN, device="cpu", project=str(project), name="train", exist_ok=True)
    extra = ", ".join(f"{k}={v!r}" for k, v in extra.items() if not re.search(rf"\b{k}=", call.group(1)))
    code = code[:call.start(1)] + extra + ", " + code[call.start(1):]
    namespace = {"__name__": "__readme__"}
    exec(compile(code, str(README) + ":python", "exec"), namespace)
    loads = re.findall(r"""YOLO\(\s*["']([^"']+)["']\)""", code)
    for path in loads:  # the checkpoint the block loads in plain Ultralytics is the one it trained
        assert (env.tmp / path).is_file(), f"{path} not written by the block's training"
        assert (env.tmp / path).with_suffix(".onnx").is_file(), "model.export(format='onnx') wrote no .onnx"
    assert loads, "the README's Python block no longer loads a checkpoint in plain Ultralytics"
