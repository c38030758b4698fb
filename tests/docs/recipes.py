"""The recipes of `fdet`'s model modes (train, val, predict, export, benchmark, help, cam, track, inspect): each runs
the command at the tiny scale in the test's folder and checks what the mode promises to leave on disk; and `recipe`,
which picks the recipe of a documented command (data modes: recipes_data.py; scripts, Python block: recipes_scripts.py).
"""

from __future__ import annotations

import csv
import importlib.util
import re
import shlex
from pathlib import Path

import cv2
from readme_commands import Documented
from recipes_data import fdet_data_convert, fdet_data_list, fdet_data_prepare, fdet_data_tile
from recipes_scripts import TINY_SCRIPT, python_block, python_script
from tiny_env import INFER, TRAIN, assert_distilled, csv_rows, data_yaml, inside, keys_of, label_rows


def fdet_train(words, env):
    from ext.models import family_of

    model_yaml = keys_of(words).get("model", "hsd-n.yaml")
    words = env.scaled(words, "train", **TRAIN, device="cpu", project=str(env.tmp / "runs"), name="train",
                       exist_ok=True)
    env.fdet(words)
    run = env.tmp / "runs" / "train"
    best, last = run / "weights" / "best.pt", run / "weights" / "last.pt"
    assert best.is_file() and last.is_file(), f"no weights in {run}: {sorted(p.name for p in run.rglob('*'))}"
    rows = csv_rows(run / "results.csv")
    assert len(rows) == 1 and int(float(rows[0]["epoch"])) == 1  # epochs=1: one row
    if "distill_model" in keys_of(words):
        assert_distilled(run / "results.csv")
    assert family_of(str(best)) is family_of(model_yaml)  # the checkpoint loads back as the YAML's family


def fdet_val(words, env):
    words = env.scaled(words, "val", imgsz=64, batch=4, workers=0, device="cpu", plots=False,
                       project=str(env.tmp / "runs"), name="val", exist_ok=True)
    metrics, _ = env.fdet(words)
    assert 0 <= float(metrics.box.map) <= 1 and "metrics/mAP50-95(B)" in metrics.results_dict
    assert (env.tmp / "runs" / "val").is_dir() and inside(metrics.save_dir, env.tmp)


def fdet_predict(words, env):
    words = env.scaled(words, "predict", **INFER)
    source = env.frames(keys_of(words)["source"])
    results, _ = env.fdet(words)
    images = sorted(source.glob("*.jpg"))
    assert sorted(Path(r.path).name for r in results) == [p.name for p in images]  # one Results per image
    for r in results:
        assert r.orig_shape == cv2.imread(r.path).shape[:2] and r.boxes is not None


def fdet_export(words, env):
    words = env.scaled(words, "export", **INFER)
    keys = keys_of(words)
    file, _ = env.fdet(words)
    expected = Path(keys["model"]).with_suffix(f".{keys['format']}")
    assert Path(file).resolve() == expected.resolve() and expected.is_file() and expected.stat().st_size > 0
    if keys["format"] == "onnx" and importlib.util.find_spec("onnxruntime") is not None:
        import numpy as np
        import onnxruntime as ort

        session = ort.InferenceSession(str(expected), providers=["CPUExecutionProvider"])
        shape = session.get_inputs()[0].shape
        assert shape[2:] == [64, 64]
        y = session.run(None, {session.get_inputs()[0].name: np.zeros(shape, np.float32)})[0]
        assert np.isfinite(y).all()


def fdet_benchmark(words, env):
    words = env.scaled(words, "benchmark", **INFER)
    keys = keys_of(words)
    rows, _ = env.fdet(words)
    formats = [f for f in keys.get("formats", "onnx").split(",") if f != "pytorch"]
    int8 = str(keys.get("quantize")) == "8"
    assert [(r["format"], r["precision"]) for r in rows] == [("pytorch", "fp32")] + [
        (f, "int8" if int8 else "fp32") for f in formats]
    assert all(r["status"] == "ok" for r in rows), [r["status"] for r in rows]
    table = env.tmp / "runs" / "benchmark" / Path(keys["model"]).stem / "benchmark.csv"  # README: runs/benchmark/<name>
    assert [r["format"] for r in csv_rows(table)] == [r["format"] for r in rows]


def fdet_help(words, env):
    from ext.models import family_of
    from ext.defaults import ext_defaults

    _, out = env.fdet(words)
    assert "Usage: fdet" in out and all(m in out for m in ("train", "val", "predict", "export", "inspect"))
    assert all(f"{k}=" in out for k in ext_defaults())  # every key of ours, with its default
    model = keys_of(words).get("model")
    if model:  # `fdet help model=X.yaml`: the family's defaults, the family named
        assert family_of(model).__name__ in out


def run_folder(keys: dict, produced, env) -> Path:
    """The folder a tool wrote `produced` into, checked against its run-folder keys: `out=DIR`, else
    `project=`/`name=` (a relative project under Ultralytics' runs folder, here redirected into the test folder)."""
    folder = Path(produced).resolve().parent
    assert inside(folder, env.tmp), f"{produced} written outside the test folder"
    if "out" in keys:
        assert folder == (env.tmp / keys["out"]).resolve()
    elif "project" in keys or "name" in keys:
        tail = [keys[k] for k in ("project", "name") if k in keys]
        assert list(folder.parts[-len(tail):]) == [Path(t).name for t in tail], f"{folder} is not {'/'.join(tail)}"
    return folder


def fdet_cam(words, env):
    words = env.scaled(words, "cam", **INFER)
    keys = keys_of(words)
    source = env.frames(keys["source"])
    files, _ = env.fdet(words)
    images = sorted(source.glob("*.jpg"))
    folder = run_folder(keys, files[0], env)
    assert sorted(p.name for p in folder.glob("*_cam.png")) == [f"{p.stem}_cam.png" for p in images]
    for p in images:
        assert cv2.imread(str(folder / f"{p.stem}_cam.png")).shape == cv2.imread(str(p)).shape


def fdet_track(words, env):
    words = env.scaled(words, "track", **INFER)
    keys = keys_of(words)
    env.frames(keys["source"])
    res, _ = env.fdet(words)
    folder = run_folder(keys, res["csv"], env)
    assert Path(res["csv"]).name == "trajectories.csv"
    with open(folder / "trajectories.csv") as f:
        rows = list(csv.reader(f))
    assert rows[0][:5] == ["frame", "track_id", "class", "cx", "cy"]  # README: centres in pixels, then refinement
    if "classes" in keys:
        assert {r[2] for r in rows[1:]} <= {keys["classes"], f"{float(keys['classes'])}"}
    assert (folder / "tracks.csv").is_file() and (folder / "displacement.png").is_file()


def fdet_inspect(words, env):
    from ext.metrics import fault_class_ids

    words = env.scaled(words, "inspect", **INFER)
    keys = keys_of(words)
    source = env.frames(keys["source"])
    labels = env.labels(keys["labels"]) if "labels" in keys else None
    res, _ = env.fdet(words)
    report, table = Path(res["report"]), Path(res["csv"])
    folder = run_folder(keys, report, env)
    assert report.is_file() and report.read_text().lstrip().lower().startswith("<!doctype")
    assert table.name == "inspection.csv" and table.resolve().parent == folder and (folder / "faults.csv").is_file()
    rows = csv_rows(table)
    images = sorted(source.glob("*.jpg"))
    assert sorted(r["image"] for r in rows) == [p.name for p in images]
    assert all(r["verdict"] in ("fault", "normal") for r in rows)
    if labels is None:
        assert all(r["truth"] == "" for r in rows) and res["rates"] is None
        return
    # truth per image: a box of a fault class in its label file; fault classes from faults=[...] (names as written
    # in the command, the bracket form a list of names) or, without faults=, the names that mark a fault state
    names = data_yaml("fault-synth-tiny")["names"]
    faults = keys.get("faults")
    wanted = re.findall(r"[^\[\],\s]+", faults) if faults else None
    fault_ids = {i for i, n in names.items() if n in wanted} if wanted else set(fault_class_ids(names, None))
    assert not wanted or len(fault_ids) == len(wanted), f"faults={faults}: not classes of {list(names.values())}"
    expected = {p.name: "fault" if {int(r[0]) for r in label_rows(labels / f"{p.stem}.txt")} & fault_ids else "normal"
                for p in images}
    assert {r["image"]: r["truth"] for r in rows} == expected
    assert len(set(expected.values())) == 2  # the check means something: the images hold both kinds
    assert res["rates"] is not None and res["rates"]["images"] == len(images)


# ---------------------------------------------------------------------------------------------- dispatch

FDET = {
    "train": fdet_train,
    "val": fdet_val,
    "predict": fdet_predict,
    "export": fdet_export,
    "benchmark": fdet_benchmark,
    "data list": fdet_data_list,
    "data prepare": fdet_data_prepare,
    "data convert": fdet_data_convert,
    "data tile": fdet_data_tile,
    "help": fdet_help,
    "cam": fdet_cam,
    "track": fdet_track,
    "inspect": fdet_inspect,
}


def recipe(item: Documented):
    """(function, argument) that runs the item, or None when there is no tiny recipe for it."""
    if item.kind == "python":
        return python_block, item.run
    words = shlex.split(item.run)
    if words[0] == "fdet":
        mode = " ".join(words[1:3]) if words[1:2] == ["data"] else (words[1] if len(words) > 1 else "help")
        if mode in FDET:
            return FDET[mode], words[1:]
    if words[0] == "python" and len(words) > 1 and words[1] in TINY_SCRIPT:
        return python_script, item.run
    return None
