"""Tests for ext.metrics.longtail: class groups, group AP, per-class table and COCO size AP."""

import math

import numpy as np
import pytest
import torch

from ext.metrics import (
    CocoSizeAP,
    class_groups,
    coco_size_ap,
    full_class_ap,
    group_ap,
    per_class_table,
    train_instance_counts,
)

LONG_TAIL = [1000, 300, 120, 40, 10, 2]  # shares .679 .204 .082 .027 .007 .001


def test_class_groups_share():
    g = class_groups(LONG_TAIL)
    assert g == {"rare": [3, 4, 5], "common": [1, 2], "frequent": [0]}
    g = class_groups({0: 90, 1: 10}, thresholds=(0.2, 0.5))
    assert g == {"rare": [1], "common": [], "frequent": [0]}


def test_class_groups_count_and_zero():
    g = class_groups(np.array([500, 50, 10, 0]), by="count")
    assert g == {"rare": [2, 3], "common": [1], "frequent": [0]}
    assert class_groups([0, 0]) == {"rare": [0, 1], "common": [], "frequent": []}
    with pytest.raises(ValueError):
        class_groups([1], by="images")


def test_train_instance_counts(tmp_path):
    labels = [
        {"cls": np.array([[0], [0], [2]], dtype=np.float32)},
        {"cls": np.zeros((0, 1), dtype=np.float32)},
        {"cls": np.array([[2]], dtype=np.float32)},
    ]
    assert train_instance_counts(labels).tolist() == [2, 0, 2]
    assert train_instance_counts(labels, nc=4).tolist() == [2, 0, 2, 0]
    files = [tmp_path / "a.txt", tmp_path / "b.txt"]
    files[0].write_text("1 0.5 0.5 0.1 0.1\n1 0.2 0.2 0.1 0.1\n")
    files[1].write_text("")
    assert train_instance_counts(files, nc=3).tolist() == [0, 2, 0]

    class FakeDataset:
        pass

    ds = FakeDataset()
    ds.labels = labels
    assert train_instance_counts(ds).tolist() == [2, 0, 2]


def test_group_ap_means():
    groups = class_groups(LONG_TAIL)
    ap = np.array([0.8, 0.6, 0.4, 0.3, 0.1, np.nan])  # class 5 not evaluated
    out = group_ap(ap, groups)
    assert out["AP_frequent"] == pytest.approx(0.8)
    assert out["AP_common"] == pytest.approx(0.5)
    assert out["AP_rare"] == pytest.approx(0.2)
    out = group_ap(ap, {"rare": [5], "common": [], "frequent": [0]})
    assert math.isnan(out["AP_rare"]) and math.isnan(out["AP_common"]) and out["AP_frequent"] == pytest.approx(0.8)


def test_full_class_ap():
    out = full_class_ap([0.5, 0.25], [0, 2], 4)
    assert out[0] == 0.5 and out[2] == 0.25 and np.isnan(out[[1, 3]]).all()


def test_per_class_table():
    text = per_class_table({0: "point", 1: "bogie", 2: "rw"}, [0.9, 0.5, np.nan], [0.6, 0.3, np.nan], [900, 80, 20])
    lines = text.splitlines()
    assert lines[0].split() == ["class", "instances(train)", "AP50", "AP50-95", "group"]
    assert lines[1].split() == ["point", "900", "0.900", "0.600", "frequent"]
    assert lines[2].split() == ["bogie", "80", "0.500", "0.300", "common"]
    assert lines[3].split() == ["rw", "20", "-", "-", "rare"]


SMALL_A, LARGE_A, SMALL_B = [10, 10, 30, 30], [100, 100, 300, 300], [50, 50, 70, 74]  # areas 400, 40000, 480


def gts():
    """Two images: a small (class 0) and a large (class 1) box; one small box (class 0). No medium box."""
    return [
        {"width": 640, "height": 480, "bboxes": np.array([SMALL_A, LARGE_A], float), "cls": np.array([0, 1])},
        {"width": 320, "height": 320, "bboxes": np.array([SMALL_B], float), "cls": np.array([0])},
    ]


def test_coco_perfect_predictions():
    preds = [{"bboxes": g["bboxes"], "conf": np.full(len(g["cls"]), 0.9), "cls": g["cls"]} for g in gts()]
    out = coco_size_ap(preds, gts())
    assert set(out) == {"AP", "AP50", "AP_small", "AP_medium", "AP_large"}
    for k in ("AP", "AP50", "AP_small", "AP_large"):
        assert out[k] == pytest.approx(1.0, abs=1e-6), k
    assert math.isnan(out["AP_medium"])


def test_coco_half_wrong_and_tensors():
    acc = CocoSizeAP()
    g0, g1 = gts()
    wrong = [400, 300, 600, 450]  # class-1 box far from the large ground truth
    acc.update("a.jpg", 640, 480, torch.tensor([SMALL_A, wrong], dtype=torch.float32), torch.tensor([0.9, 0.95]),
               torch.tensor([0.0, 1.0]), torch.tensor(g0["bboxes"]), torch.tensor([[0.0], [1.0]]))
    acc.update("b.jpg", 320, 320, [SMALL_B], [0.8], [0], g1["bboxes"], g1["cls"])
    out = acc.compute()
    assert 0.0 < out["AP"] < 1.0
    assert out["AP"] == pytest.approx(0.5, abs=1e-6)  # class 0 perfect, class 1 nothing found
    assert out["AP_small"] == pytest.approx(1.0, abs=1e-6) and out["AP_large"] == pytest.approx(0.0, abs=1e-6)
    assert acc.class_ap[0] == pytest.approx(1.0) and acc.class_ap[1] == pytest.approx(0.0)


def test_coco_no_predictions_and_no_ground_truth():
    preds = [{"bboxes": np.zeros((0, 4)), "conf": [], "cls": []} for _ in range(2)]
    out = coco_size_ap(preds, gts())
    assert out["AP"] == 0.0 and out["AP_small"] == 0.0
    empty = [{"width": 64, "height": 64, "bboxes": np.zeros((0, 4)), "cls": []}]
    out = coco_size_ap([{"bboxes": [[1, 1, 9, 9]], "conf": [0.9], "cls": [0]}], empty)
    assert all(math.isnan(v) for v in out.values())
    assert all(math.isnan(v) for v in CocoSizeAP().compute().values())


def test_coco_max_dets_and_merge():
    xs = np.arange(150) * 4.0
    boxes = np.stack([xs, np.zeros(150), xs + 3, np.full(150, 3.0)], 1)  # 150 tiny boxes in one image
    a, b = CocoSizeAP(max_dets=100), CocoSizeAP(max_dets=200)
    for acc in (a, b):
        acc.update(0, 640, 8, boxes, np.linspace(0.9, 0.5, 150), np.zeros(150), boxes, np.zeros(150))
    assert a.compute()["AP"] < 0.99
    assert b.compute()["AP"] == pytest.approx(1.0, abs=1e-6)
    c = CocoSizeAP(max_dets=200)
    c.merge(b)
    assert len(c) == 1 and c.compute()["AP"] == pytest.approx(1.0, abs=1e-6)
