"""A 1-epoch run on 8 synthetic images at 64 px: run folder, checkpoint loadable by plain `YOLO()`, predict."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import torch
from ultralytics import YOLO

import ext
from ext.nn.tasks import HSDModel


def test_run_folder(hsd_tiny_run):
    w = hsd_tiny_run / "weights"
    assert (w / "best.pt").is_file() and (w / "last.pt").is_file()
    rows = list(csv.DictReader(open(hsd_tiny_run / "results.csv")))
    assert len(rows) == 1
    assert np.isfinite(float(rows[0]["train/cls_loss"].strip()))
    assert (hsd_tiny_run / "args.yaml").is_file()


def test_best_loads_through_yolo_and_predicts(hsd_tiny_run, fault_tiny):
    """`YOLO(best.pt)` loads our model; its top prediction is the top of the raw head output on the same input
    (the 64 px grey image needs no letterbox: RGB / 255, CHW), box and score."""
    model = YOLO(str(hsd_tiny_run / "weights" / "best.pt"))
    assert isinstance(model.model, HSDModel)
    assert model.names[0] == "brake_shoe_key"
    img = np.full((64, 64, 3), 128, np.uint8)
    res = model.predict(img, imgsz=64, conf=0.0, device="cpu", verbose=False)[0]
    net = model.predictor.model.model.float().eval()
    x = torch.from_numpy(img[..., ::-1].copy()).permute(2, 0, 1)[None].float() / 255
    with torch.no_grad():
        raw = net(x)[0][0]  # (4 + nc, A): xywh in pixels, class scores
    score, cls = raw[4:].max(0)
    best = int(score.argmax())
    cx, cy, w, h = raw[:4, best].tolist()
    assert len(res.boxes) > 0
    assert float(res.boxes.conf[0]) == pytest.approx(float(score[best]), abs=1e-4)
    assert int(res.boxes.cls[0]) == int(cls[best])
    expected = np.clip([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], 0, 64)  # results clip boxes to the image
    assert res.boxes.xyxy[0].tolist() == pytest.approx(expected.tolist(), abs=1e-2)


def test_checkpoint_has_hsd_defaults(hsd_tiny_run):
    ckpt = torch.load(hsd_tiny_run / "weights" / "last.pt", weights_only=False)
    args = ckpt["train_args"]
    assert args["iou_loss"] == "giou" and args["dis"] == 0.0 and args["ld_weight"] == 0.25


def test_family_from_checkpoint(hsd_tiny_run):
    from ext.models import family_of

    assert family_of(str(hsd_tiny_run / "weights" / "best.pt")) is ext.HSD


def test_fdet_val_on_catalog_name(hsd_tiny_run, capsys):
    from ext.cli import main

    best = hsd_tiny_run / "weights" / "best.pt"
    assert main(["val", f"model={best}", "data=fault-synth-tiny", "imgsz=64", "batch=4", "device=cpu",
                 "plots=False", f"project={hsd_tiny_run.parent}", "name=val", "exist_ok=True"]) == 0


def test_fdet_export_and_predict_onnx(hsd_tiny_run, tmp_path):
    """`fdet export ... format=onnx` writes an ONNX file that `fdet predict` runs like the .pt model."""
    import shutil

    from ext.cli import main

    best = tmp_path / "best.pt"
    shutil.copy(hsd_tiny_run / "weights" / "best.pt", best)
    assert main(["export", f"model={best}", "format=onnx", "imgsz=64", "device=cpu"]) == 0
    onnx = best.with_suffix(".onnx")
    assert onnx.is_file()
    img = tmp_path / "img.jpg"
    import cv2

    cv2.imwrite(str(img), np.full((64, 64, 3), 100, np.uint8))
    pt = YOLO(str(best)).predict(str(img), imgsz=64, conf=0.0, device="cpu", verbose=False)[0]
    ox = YOLO(str(onnx), task="detect").predict(str(img), imgsz=64, conf=0.0, device="cpu", verbose=False)[0]
    assert len(pt.boxes) == len(ox.boxes) > 0  # conf=0: every image has boxes, none is skipped
    assert np.abs(pt.boxes.conf.numpy()[:10] - ox.boxes.conf.numpy()[:10]).max() < 1e-4
    assert np.abs(pt.boxes.xyxy.numpy()[0] - ox.boxes.xyxy.numpy()[0]).max() < 1e-2
