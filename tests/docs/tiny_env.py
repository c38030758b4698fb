"""The tiny scale the documented commands run at, and `Env`: one test's folder (also its working directory) with the
things a command names made there on request (weights, image folders, label folders)."""

from __future__ import annotations

import csv
import importlib.util
import re
import shutil
from pathlib import Path

import pytest

# Catalog sets of the README -> the tiny sets the tests use (8 train / 4 val images at 64 px).
TINY_DATA = {
    "fault-synth": "fault-synth-tiny",
    "fault-frames": "fault-synth-tiny",
    "rail-tracks": "fault-synth-tiny",
    "crash-synth": "crash-synth-tiny",
    "fault-synth-tiny": "fault-synth-tiny",
    "crash-synth-tiny": "crash-synth-tiny",
}
SCALE = {"epochs": "1", "imgsz": "64", "size": "32", "slice": "32"}  # size: `fdet data tile`; slice: sliced inference
TRAIN = dict(epochs=1, imgsz=64, batch=4, nbs=4, workers=0, plots=False)  # keys a tiny training run adds
INFER = dict(imgsz=64, device="cpu")  # keys a tiny predict / export / benchmark / cam / track / inspect adds
N_IMAGES = 4  # images in a source folder made for predict / cam / track / inspect (fault-synth-tiny's val images)
HERE = Path(__file__).name


# ---------------------------------------------------------------------------------------------- small helpers


def tiny_data(value: str) -> str:
    """The tiny set standing in for the catalog set `value`."""
    if value not in TINY_DATA:
        pytest.fail(f"no tiny data set for data={value}: add it to TINY_DATA in {HERE}")
    return TINY_DATA[value]


def data_yaml(name: str) -> dict:
    """The prepared data YAML of a catalog name, loaded, with absolute split folders."""
    from ultralytics.utils import YAML

    from ext.data import resolve_data

    d = YAML.load(resolve_data(name))
    root = Path(d["path"])
    return {**d, "train": root / d["train"], "val": root / d["val"]}


def labels_of(image_dir: Path) -> Path:
    """The YOLO label folder of an image folder `<root>/images/<split>`: `<root>/labels/<split>`."""
    return image_dir.parent.parent / "labels" / image_dir.name


def label_rows(label_file: Path) -> list[list[float]]:
    text = label_file.read_text() if label_file.is_file() else ""
    return [[float(x) for x in r.split()] for r in text.splitlines() if r.strip()]


def csv_rows(path: Path) -> list[dict]:
    with open(path) as f:
        return list(csv.DictReader(f))


def assert_distilled(results_csv: Path) -> None:
    """The run of `results_csv` was distilled: its results have an ld_loss column."""
    row = csv_rows(results_csv)[0]
    assert "train/ld_loss" in {k.strip() for k in row}, f"distillation run without an ld_loss column: {row}"


def keys_of(words: list[str]) -> dict:
    return dict(w.split("=", 1) for w in words if "=" in w)


def with_defaults(words: list[str], **defaults) -> list[str]:
    given = keys_of(words)
    return words + [f"{k}={v}" for k, v in defaults.items() if k not in given]


def inside(path, folder: Path) -> bool:
    p = Path(path).resolve()
    return p == folder.resolve() or folder.resolve() in p.parents


def spy_on(mp: pytest.MonkeyPatch, owner, name: str, returned: list | None = None) -> list:
    """Replace `owner.name` by a wrapper that appends what each call returned to `returned` (a new list if None);
    returns that list."""
    returned, real = [] if returned is None else returned, getattr(owner, name)

    def spy(*a, **k):
        returned.append(real(*a, **k))
        return returned[-1]

    mp.setattr(owner, name, spy)
    return returned


def redirect_default_runs(mp: pytest.MonkeyPatch, folder: Path) -> None:
    """Ultralytics' default run folders (no absolute `project=`) go under `folder`, never into site-packages'
    tests/tmp or the user's runs_dir."""
    import ultralytics.cfg as ucfg

    mp.setattr(ucfg, "TESTS_RUNNING", False)
    mp.setattr(ucfg, "SETTINGS", {**ucfg.SETTINGS, "runs_dir": str(folder / "default-runs")})


# ---------------------------------------------------------------------------------------------- one test's folder


class Env:
    """One test's folder (also the working directory) and the tiny things a command needs, made on request."""

    def __init__(self, tmp_path: Path, mp: pytest.MonkeyPatch, capsys, request):
        self.tmp, self.mp, self.capsys, self.request = tmp_path, mp, capsys, request
        mp.chdir(tmp_path)
        redirect_default_runs(mp, tmp_path)
        self.val_images = data_yaml("fault-synth-tiny")["val"]

    def images(self, n: int = N_IMAGES) -> list[Path]:
        """The first `n` of fault-synth-tiny's val images."""
        return sorted(self.val_images.glob("*.jpg"))[:n]

    # the things commands name
    def weights(self, value: str) -> str:
        """A checkpoint (or torchvision state dict) the command names, placed where it says; returns the value."""
        path = Path(value)
        if path.is_absolute():
            if re.fullmatch(r"resnet50-.*\.pth", path.name):
                import torch
                import torchvision

                local = self.tmp / "weights" / path.name  # an offline stand-in: random weights, same tensor names
                local.parent.mkdir(exist_ok=True)
                torch.save(torchvision.models.resnet50(weights=None).state_dict(), local)
                return str(local)
            pytest.fail(f"no tiny stand-in for the absolute weights path '{value}': add one to {HERE}")
        if not path.suffix == ".pt":
            pytest.fail(f"no tiny stand-in for the weights '{value}': add one to {HERE}")
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(self.gjadet_weights() if "gjadet" in value else self.hsd_weights(), path)
        return value

    def hsd_weights(self) -> Path:
        return self.request.getfixturevalue("hsd_tiny_run") / "weights" / "best.pt"

    def gjadet_weights(self) -> Path:
        """best.pt of `python train_gjadet.py` at the tiny scale (the run the README's GJADet paths come from)."""
        return Path(self.request.getfixturevalue("script_runs")("python train_gjadet.py")[1]["weights"])

    def data(self, value: str, mode: str) -> str:
        if mode == "benchmark":  # INT8 calibration needs at least 16 images: a generated 16-image set
            return self.request.getfixturevalue("data16")
        return tiny_data(value)

    def frames(self, value: str) -> Path:
        """Fill the (relative) folder `value` with fault-synth-tiny's val images."""
        folder = self.tmp / value
        if Path(value).is_absolute() or not inside(folder, self.tmp):
            pytest.fail(f"source={value}: the test makes sources only inside its own folder")
        folder.mkdir(parents=True, exist_ok=True)
        for f in self.images():
            shutil.copy(f, folder / f.name)
        return folder

    def labels(self, value: str) -> Path:
        """Fill the (relative) folder `value` with the YOLO labels of the images `frames` copies."""
        folder = self.tmp / value
        folder.mkdir(parents=True, exist_ok=True)
        for f in self.images():
            shutil.copy(labels_of(self.val_images) / f"{f.stem}.txt", folder / f"{f.stem}.txt")
        return folder

    # scaling and running `fdet`
    def scaled(self, words: list[str], mode: str, **defaults) -> list[str]:
        """The command's key=value words at the tiny scale (data sets, epochs, sizes, weights, formats), then the
        `defaults` it does not give."""
        out = []
        for w in words:
            if "=" not in w:
                out.append(w)
                continue
            k, v = w.split("=", 1)
            if k in SCALE:
                v = SCALE[k]
            elif k == "data" or (k == "name" and mode == "data prepare"):
                v = self.data(v, mode)
            elif k in ("model", "distill_model", "pretrained") and not v.endswith((".yaml", ".yml")):
                v = self.weights(v)
            elif k == "formats" and importlib.util.find_spec("openvino") is None:
                v = ",".join(f for f in v.split(",") if f.strip() != "openvino") or "onnx"
            out.append(f"{k}={v}")
        return with_defaults(out, **defaults)

    def fdet(self, words: list[str]):
        """`ext.cli.main(words)` in-process, which must succeed; returns (what the mode returned or None, stdout)."""
        import ext.cli as cli

        returned = spy_on(self.mp, cli, "run_tool", spy_on(self.mp, cli, "run"))
        self.capsys.readouterr()
        rc = cli.main(words)
        out, err = self.capsys.readouterr()
        assert rc == 0, f"fdet {' '.join(words)} -> rc {rc}\nstdout: {out[-2000:]}\nstderr: {err[-2000:]}"
        return (returned[-1] if returned else None), out
