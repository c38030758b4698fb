"""Family validators: HSD's image-level rates and GJADet's long-tail metrics, on tiny runs."""

from __future__ import annotations

import csv
import math

import numpy as np
import pytest
import torch

import ext


def test_hsd_image_level_rates(hsd_tiny_run, fault_tiny, tmp_path):
    """FDR / MDR per threshold against an independent count: each val image's top score from `predict`, its labels
    from the label file (FDR: no object but a box at >= t; MDR: objects but none; fractions of all images)."""
    from pathlib import Path

    from ultralytics.utils import YAML

    model = ext.HSD(str(hsd_tiny_run / "weights" / "best.pt"))
    metrics = model.val(data="fault-synth-tiny", imgsz=64, batch=4, device="cpu", plots=False,
                        project=str(tmp_path), name="v", exist_ok=True)
    extra = metrics.extra
    d = YAML.load(fault_tiny)
    images = sorted((Path(d["path"]) / d["val"]).iterdir())
    has_gt = np.array([bool((Path(d["path"]) / "labels" / "val" / f"{i.stem}.txt").read_text().strip()) for i in images])
    top = np.array([float(r.boxes.conf.max()) if len(r.boxes) else -1.0 for r in
                    ext.HSD(str(hsd_tiny_run / "weights" / "best.pt")).predict([str(i) for i in images], imgsz=64,
                                                                                 conf=0.001, device="cpu",
                                                                                 verbose=False)])
    for t in (0.5, 0.7, 0.9):
        if np.abs(top - t).min() < 1e-3:  # a top score on the threshold may round either way
            continue
        assert extra[f"FDR@{t}"] == pytest.approx(float(np.mean(~has_gt & (top >= t))), abs=1e-3)
        assert extra[f"MDR@{t}"] == pytest.approx(float(np.mean(has_gt & (top < t))), abs=1e-3)
        assert math.isclose(extra[f"CDR@{t}"], 1 - extra[f"FDR@{t}"] - extra[f"MDR@{t}"], abs_tol=1e-3)
    rows = list(csv.DictReader(open(tmp_path / "v" / "image_level.csv")))
    assert [float(r["threshold"]) for r in rows] == [0.5, 0.6, 0.7, 0.8, 0.9]
    assert all(int(r["images"]) == len(images) == 4 for r in rows)


def test_gjadet_longtail_gjr_log_and_resume(tmp_path, crash_tiny, tiny, interrupted_run):
    last = interrupted_run(ext.GJADet("gjadet-n.yaml"), data="crash-synth-tiny", project=str(tmp_path), name="g",
                           cls_loss="gjr", **{**tiny, "epochs": 2})
    # GJR statistics travel in the checkpoint (float64, not cast to fp16) ...
    state = torch.load(last, weights_only=False)["ema"].loss_state
    assert state["pos_grad"].dtype == np.float64 and state["pos_grad"][0] > 0  # 'point' has positives
    # ... and the resumed run starts from them: its statistics only grow from the saved ones
    model = ext.GJADet(str(last))
    model.train(resume=True)
    crit = model.trainer.model.criterion
    assert (crit.classification_loss.pos_grad.cpu().double().numpy() >= state["pos_grad"] * (1 - 1e-6)).all()
    assert crit.classification_loss.pos_grad.sum().item() > state["pos_grad"].sum()
    run = model.trainer.save_dir
    rows = list(csv.DictReader(open(run / "results.csv")))
    assert {"metrics/AP_rare", "metrics/AP_frequent", "metrics/AP_small"} <= set(rows[-1])
    ratio = list(csv.DictReader(open(run / "gjr_ratio.csv")))
    assert [r["epoch"] for r in ratio] == ["1", "2"] and "point" in ratio[0]
    standalone = ext.GJADet(str(run / "weights" / "best.pt")).val(data="crash-synth-tiny", imgsz=64, batch=4,
                                                                    device="cpu", plots=False, project=str(tmp_path))
    assert {"AP_rare", "AP_common", "AP_frequent", "AP_small", "AP_medium", "AP_large"} <= set(standalone.extra)
