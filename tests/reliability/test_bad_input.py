"""Bad input never crashes a run mid-epoch: a bad image or label is reported and skipped (Ultralytics' label checks,
`verify_image_label`), odd but valid images are used, and bad data paths or arguments fail before training."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
from ultralytics.data.utils import load_dataset_cache_file

import ext
from ext.cli import main

BOX = "0 0.5 0.5 0.2 0.2\n"
REJECTED = {  # file: (label text, words of the reason Ultralytics gives)
    "corrupt.jpg": (BOX, ""),  # not an image at all (the reason Ultralytics gives is an image-plugin import error)
    "truncated.jpg": (BOX, "truncated"),
    "truncated.png": (BOX, "Truncated"),
    "class_too_big.jpg": ("9 0.5 0.5 0.2 0.2\n", "Label class 9 exceeds dataset class count 6"),
    "box_outside.jpg": ("0 1.5 0.5 0.2 0.2\n", "out of bounds coordinates"),
    "negative_size.jpg": ("0 0.5 0.5 -0.2 0.2\n", "negative label values"),
    "nan_coordinate.jpg": ("0 nan 0.5 0.2 0.2\n", "out of bounds coordinates"),
    "text_class.jpg": ("bolt 0.5 0.5 0.2 0.2\n", "could not convert string to float"),
    "polygon_and_box.jpg": ("0 0.1 0.1 0.4 0.1 0.4 0.4 0.1 0.4\n" + BOX, "labels mix segment and detection rows"),
    "too_small.jpg": (BOX, "<10 pixels"),
}
TINY = dict(epochs=1, imgsz=64, batch=4, nbs=4, workers=0, device="cpu", plots=False, exist_ok=True, verbose=False)
# ^ the conftest `tiny` arguments, for a module-scoped run (which cannot take the function-scoped fixture)
ACCEPTED = ("grey.png", "grey16.png", "rgb16.png", "large.jpg", "polygon.jpg", "empty_label.jpg", "no_label.jpg")


def write_images(images: Path, labels: Path, rgb: np.ndarray) -> None:
    """Write every defective and odd image of this module, with its label file."""
    grey = cv2.cvtColor(rgb, cv2.COLOR_BGR2GRAY)
    jpg, png = cv2.imencode(".jpg", rgb)[1].tobytes(), cv2.imencode(".png", rgb)[1].tobytes()
    raw = {"corrupt.jpg": bytes(range(256)) * 8, "truncated.jpg": jpg[: len(jpg) // 2],
           "truncated.png": png[: len(png) // 2]}
    pictures = {"too_small.jpg": cv2.resize(rgb, (8, 8)), "grey.png": grey, "grey16.png": grey.astype(np.uint16) * 257,
                "rgb16.png": rgb.astype(np.uint16) * 257, "large.jpg": cv2.resize(rgb, (4000, 3000))}
    texts = {**{k: v[0] for k, v in REJECTED.items()}, "polygon.jpg": "0 0.1 0.1 0.4 0.1 0.4 0.4 0.1 0.4\n",
             "empty_label.jpg": "", "grey.png": BOX, "grey16.png": BOX, "rgb16.png": BOX, "large.jpg": BOX}
    for name in (*REJECTED, *ACCEPTED):
        if name in raw:
            (images / name).write_bytes(raw[name])
        else:
            cv2.imwrite(str(images / name), pictures.get(name, rgb))
        if name in texts:
            (labels / name).with_suffix(".txt").write_text(texts[name])


@pytest.fixture(scope="module")
def bad_data(fault_tiny, tmp_path_factory) -> Path:
    """fault-synth-tiny (8 train / 4 val images, 6 classes) plus every defect above in its train split."""
    src, root = Path(fault_tiny).parent, tmp_path_factory.mktemp("bad-data")
    for split in ("train", "val"):
        shutil.copytree(src / "images" / split, root / "images" / split)
        shutil.copytree(src / "labels" / split, root / "labels" / split, ignore=shutil.ignore_patterns("*.cache"))
    write_images(root / "images/train", root / "labels/train", cv2.imread(str(next((src / "images/train").iterdir()))))
    names = "{" + ", ".join(f"{i}: c{i}" for i in range(6)) + "}"
    (root / "data.yaml").write_text(f"path: {root}\ntrain: images/train\nval: images/val\nnames: {names}\n")
    return root / "data.yaml"


@pytest.fixture(scope="module")
def bad_run(bad_data, tmp_path_factory):
    """One tiny HSD epoch on the defective data; returns its trainer."""
    model = ext.HSD("hsd-n.yaml")
    model.train(data=str(bad_data), project=str(tmp_path_factory.mktemp("runs")), name="bad", **TINY)
    return model.trainer


def test_training_runs_on_the_valid_images(bad_run):
    rows = list(csv.DictReader(open(bad_run.save_dir / "results.csv")))
    assert len(rows) == 1
    used = {Path(f).name for f in bad_run.train_loader.dataset.im_files}
    assert len(used) == 8 + len(ACCEPTED) and set(ACCEPTED) <= used and not used & set(REJECTED)


@pytest.mark.parametrize("name", REJECTED)
def test_bad_file_is_reported_and_skipped(name, bad_run, bad_data):
    cache = load_dataset_cache_file(bad_data.parent / "labels" / "train.cache")
    msg = [m for m in cache["msgs"] if f"{name}: ignoring corrupt image/label" in m]
    assert len(msg) == 1 and REJECTED[name][1] in msg[0]


def test_counts_of_found_missing_empty_corrupt(bad_run, bad_data):
    cache = load_dataset_cache_file(bad_data.parent / "labels" / "train.cache")
    found, missing, empty, corrupt, total = cache["results"]
    assert (missing, empty, corrupt, total) == (1, 1, len(REJECTED), 8 + len(ACCEPTED) + len(REJECTED))


@pytest.mark.parametrize("name", ["grey.png", "grey16.png", "rgb16.png", "large.jpg"])
def test_grey_16bit_and_large_images_load_as_8bit_colour(name, bad_run):
    dataset = bad_run.train_loader.dataset
    i = [Path(f).name for f in dataset.im_files].index(name)
    im, _, (h, w) = dataset.load_image(i)
    assert im.dtype == np.uint8 and im.ndim == 3 and im.shape[2] == 3 and max(h, w) == bad_run.args.imgsz


def test_polygon_label_becomes_its_box(bad_run):
    labels = {Path(lb["im_file"]).name: lb for lb in bad_run.train_loader.dataset.labels}
    np.testing.assert_allclose(labels["polygon.jpg"]["bboxes"], [[0.25, 0.25, 0.3, 0.3]], atol=1e-6)
    assert len(labels["empty_label.jpg"]["bboxes"]) == 0 and len(labels["no_label.jpg"]["bboxes"]) == 0


def test_only_bad_images_fail_before_training(bad_data, tiny, tmp_path):
    root = tmp_path / "all-bad"
    shutil.copytree(bad_data.parent / "images" / "val", root / "images" / "val")
    shutil.copytree(bad_data.parent / "labels" / "val", root / "labels" / "val",
                    ignore=shutil.ignore_patterns("*.cache"))
    (root / "images/train").mkdir(parents=True)
    (root / "labels/train").mkdir(parents=True)
    rgb = cv2.imread(str(next((bad_data.parent / "images/train").glob("*.jpg"))))
    write_images(root / "images/train", root / "labels/train", rgb)
    for name in ACCEPTED:
        (root / "images/train" / name).unlink()
    (root / "data.yaml").write_text((bad_data.read_text()).replace(str(bad_data.parent), str(root)))
    model, started = ext.HSD("hsd-n.yaml"), []
    model.add_callback("on_train_start", started.append)
    with pytest.raises(RuntimeError, match="No valid images found") as e:
        model.train(data=str(root / "data.yaml"), project=str(tmp_path), name="x", **tiny)
    assert "exceeds dataset class count" in str(e.value) and not started


@pytest.mark.parametrize("data, error, words", [
    ("missing.yaml", RuntimeError, "does not exist"),
    ("missing-images.yaml", RuntimeError, "images not found"),
    ("fault-synht", FileNotFoundError, "Closest catalog name: 'fault-synth'"),
])
def test_missing_dataset_fails_before_training(data, error, words, tmp_path):
    if data.endswith(".yaml"):
        if data == "missing-images.yaml":
            (tmp_path / data).write_text(f"path: {tmp_path / 'nowhere'}\ntrain: images/train\nval: images/val\n"
                                         "names: {0: a}\n")
        data = str(tmp_path / data)
    with pytest.raises(error, match=words):
        ext.HSD("hsd-n.yaml").train(data=data, epochs=1, imgsz=64, device="cpu", project=str(tmp_path))


@pytest.mark.parametrize("kwargs, error, words", [
    ({"nan_patiense": 3}, SyntaxError, "nan_patience"),
    ({"nan_patience": "three"}, TypeError, "'nan_patience' must be an int"),
    ({"nan_patience": 2.5}, TypeError, "'nan_patience' must be an int"),
    ({"exact_resume": "yes"}, TypeError, "'exact_resume' must be a bool"),
    ({"epochs": 1.5}, TypeError, "'epochs' must be an int"),
    ({"nan_patience": -1}, ValueError, "nan_patience=-1 must be >= 0"),
])
def test_bad_argument_fails_before_training(kwargs, error, words, fault_tiny, tmp_path):
    model, started = ext.HSD("hsd-n.yaml"), []
    model.add_callback("on_train_start", started.append)
    with pytest.raises(error, match=words):
        model.train(data=fault_tiny, **{"imgsz": 64, "device": "cpu", "project": str(tmp_path), **kwargs})
    assert not started


@pytest.mark.parametrize("word, words", [
    ("nan_patiense=3", "nan_patience"),
    ("nan_patience=three", "'nan_patience' must be an int"),
    ("exact_resume=maybe", "'exact_resume' must be a bool"),
])
def test_bad_cli_argument_exits_2(word, words, capsys):
    assert main(["train", "model=hsd-n.yaml", word]) == 2
    assert words in capsys.readouterr().err
