"""Grad-CAM overlays: size, content, layer checks, every family, and `fdet cam`."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

import ext
from ext.tools import grad_cam
from ext.tools.cam import check_layer, valid_layers


@pytest.fixture
def image(tmp_path):
    """A 90x120 grey synthetic scene with a few rectangles, written as PNG; returns (path, array)."""
    rng = np.random.default_rng(0)
    im = np.full((90, 120, 3), 110, np.uint8)
    for _ in range(4):
        x, y = rng.integers(0, 100), rng.integers(0, 70)
        colour = tuple(int(v) for v in rng.integers(0, 255, 3))
        cv2.rectangle(im, (int(x), int(y)), (int(x) + 18, int(y) + 12), colour, -1)
    path = tmp_path / "scene.png"
    cv2.imwrite(str(path), im)
    return path, im


def test_cam_overlay_on_trained_hsd(tmp_path, hsd_tiny_run, image):
    path, im = image
    weights = hsd_tiny_run / "weights" / "best.pt"
    files = grad_cam(weights, path, imgsz=64, out=tmp_path / "cam")
    assert [f.name for f in files] == ["scene_cam.png"]
    out = cv2.imread(str(files[0]))
    assert out.shape == im.shape
    assert np.abs(out.astype(int) - im).mean() > 5  # the heat map is blended in
    files = grad_cam(weights, tmp_path / "scene.png", layer=11, imgsz=64, out=tmp_path / "p3")  # HKN's P3 Index row
    assert cv2.imread(str(files[0])).shape == im.shape


def test_cam_invalid_layer(hsd_tiny_run, image, tmp_path):
    weights = hsd_tiny_run / "weights" / "best.pt"
    out = tmp_path / "cam"
    with pytest.raises(ValueError, match=r"Valid Grad-CAM layers.*0-9, 11-13.*Index layers \[11, 12, 13\]"):
        grad_cam(weights, image[0], layer=10, imgsz=64, out=out)  # HKN: a list of three maps
    for bad in (14, 99, -1):  # the head, out of range
        with pytest.raises(ValueError, match="Valid Grad-CAM layers"):
            grad_cam(weights, image[0], layer=bad, imgsz=64, out=out)
    assert not out.exists()  # checked before any work


@pytest.mark.parametrize("cfg, default", [("hsd-n.yaml", 13), ("hsd-teacher-n.yaml", 21), ("gjadet-n.yaml", 25),
                                          ("yolov8n.yaml", 21)])
def test_cam_every_family_untrained(cfg, default, image, tmp_path):
    family = ext.GJADet if cfg.startswith("gjadet") else ext.HSD if cfg.startswith("hsd") else ext.Detector
    model = family(cfg)
    assert check_layer(model.model, None) == default == len(model.model.model) - 2
    assert default in valid_layers(model.model)
    (file,) = grad_cam(model, image[0], imgsz=64, out=tmp_path, conf=0.0)
    assert cv2.imread(str(file)).shape == image[1].shape


def test_fdet_cam(hsd_tiny_run, image, tmp_path, capsys):
    from ext.cli import main

    weights = hsd_tiny_run / "weights" / "best.pt"
    out = tmp_path / "cli"
    args = ["cam", f"model={weights}", f"source={image[0]}", "imgsz=64", f"out={out}"]
    assert main([*args, "layer=12", "conf=0.1"]) == 0
    assert cv2.imread(str(out / "scene_cam.png")).shape == image[1].shape
    assert main([*args, "layer=10"]) == 2
    assert "Index layers [11, 12, 13]" in capsys.readouterr().err
    assert main(["cam", f"model={weights}", f"source={image[0]}", "layr=3"]) == 2  # unknown key: names 'layer'
    assert "layer" in capsys.readouterr().err
    assert main(["cam", f"model={weights}", f"source={image[0]}", "epochs=3"]) == 2  # a key cam does not take
    assert main(["cam", f"model={weights}", f"source={image[0]}", "layer=top"]) == 2
    assert main(["cam", f"source={image[0]}"]) == 2  # no model


def test_fdet_cam_run_folder(hsd_tiny_run, image, tmp_path, monkeypatch):
    """`fdet cam ... project= name=` writes to project/name, as `yolo` does."""
    from ext.cli import main

    monkeypatch.chdir(tmp_path)
    assert main(["cam", f"model={hsd_tiny_run / 'weights' / 'best.pt'}", f"source={image[0]}", "imgsz=64",
                 f"project={tmp_path / 'maps'}", "name=bogie"]) == 0
    assert (tmp_path / "maps" / "bogie" / "scene_cam.png").is_file()
