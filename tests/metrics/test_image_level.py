"""Tests for ext.metrics.image_level: HSD's image-level FDR / MDR / CDR from the top-scoring box."""

import csv
import math

import numpy as np
import pytest
import torch

from ext.metrics import ImageLevelRates, image_level_rates


def five_images():
    """A: empty + 0.75 box; B: object + only 0.55; C: objects + 0.95; D: empty, no box; E: object, no box."""
    acc = ImageLevelRates()
    acc.update([0.75, 0.3], [0, 0], [])  # A
    acc.update([0.55], [0], [0])  # B
    acc.update([0.2, 0.95], [1, 0], [0, 1])  # C
    acc.update([], [], [])  # D
    acc.update(np.zeros(0), np.zeros(0), [1])  # E
    return acc


EXPECTED = {  # threshold: (FDR, MDR, CDR) over 5 images
    0.5: (0.2, 0.2, 0.6),  # A false; E missed
    0.6: (0.2, 0.4, 0.4),  # A false; B, E missed
    0.7: (0.2, 0.4, 0.4),  # 0.75 still >= 0.7
    0.8: (0.0, 0.4, 0.6),  # A no longer false above its score
    0.9: (0.0, 0.4, 0.6),
}


def test_rates_exact():
    acc = five_images()
    assert len(acc) == 5
    rates = acc.compute()
    assert list(rates) == [0.5, 0.6, 0.7, 0.8, 0.9]
    for t, (fdr, mdr, cdr) in EXPECTED.items():
        assert rates[t]["FDR"] == pytest.approx(fdr, abs=1e-12)
        assert rates[t]["MDR"] == pytest.approx(mdr, abs=1e-12)
        assert rates[t]["CDR"] == pytest.approx(cdr, abs=1e-12)
        assert rates[t]["CDR"] == pytest.approx(1 - rates[t]["FDR"] - rates[t]["MDR"], abs=1e-12)
    assert acc.counts(0.6) == {"images": 5, "false": 1, "missed": 2}


def test_threshold_is_inclusive_and_custom_thresholds():
    acc = ImageLevelRates(thresholds=(0.7, 0.71))
    acc.update([0.7], [0], [])  # empty image whose top box is exactly 0.7
    rates = acc.compute()
    assert rates[0.7]["FDR"] == 1.0 and rates[0.71]["FDR"] == 0.0


def test_summary_keys_and_values():
    s = five_images().summary()
    assert set(s) == {f"{k}@{t}" for k in ("FDR", "MDR", "CDR") for t in ("0.5", "0.6", "0.7", "0.8", "0.9")}
    assert s["CDR@0.5"] == pytest.approx(0.6) and s["MDR@0.9"] == pytest.approx(0.4)


def test_tensor_inputs_and_merge():
    a, b = ImageLevelRates(), ImageLevelRates()
    a.update(torch.tensor([0.75, 0.3]), torch.tensor([0.0, 0.0]), torch.zeros(0))
    a.update(torch.tensor([0.55]), torch.tensor([0.0]), torch.tensor([[0.0]]))  # [M, 1] labels are flattened
    b.update(torch.tensor([0.2, 0.95]), torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0]))
    b.update(torch.zeros(0), torch.zeros(0), torch.zeros(0))
    b.update(torch.zeros(0), torch.zeros(0), torch.tensor([1.0]))
    a.merge(b)
    assert a.compute() == five_images().compute()


def test_empty_accumulator_is_nan():
    rates = ImageLevelRates().compute()
    assert all(math.isnan(v) for row in rates.values() for v in row.values())


def test_fault_classes():
    acc = ImageLevelRates(fault_classes=[1])  # 0 = normal, 1 = fault
    acc.update([0.85], [1], [1])  # F: fault, flagged from 0.8 down
    acc.update([0.65], [1], [0])  # G: normal, wrongly flagged at 0.5 and 0.6
    acc.update([0.95], [0], [0])  # H: normal, top box normal
    acc.update([0.9, 0.8], [0, 1], [1])  # I: fault, but top box is normal -> never flagged
    rates = acc.compute()
    assert rates[0.5]["fault_FDR"] == pytest.approx(0.25) and rates[0.5]["fault_MDR"] == pytest.approx(0.25)
    assert rates[0.5]["fault_CDR"] == pytest.approx(0.5)
    assert rates[0.7]["fault_FDR"] == 0.0 and rates[0.7]["fault_MDR"] == pytest.approx(0.25)
    assert rates[0.9]["fault_MDR"] == pytest.approx(0.5) and rates[0.9]["fault_CDR"] == pytest.approx(0.5)
    # plain object-presence rates: every image has objects; at 0.9 F (0.85) and G (0.65) are missed
    assert rates[0.9]["FDR"] == 0.0 and rates[0.9]["MDR"] == pytest.approx(0.5)
    assert rates[0.5]["CDR"] == pytest.approx(1.0)


def test_csv(tmp_path):
    path = five_images().to_csv(tmp_path / "sub" / "image_level.csv")
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["threshold", "images", "FDR", "MDR", "CDR"]
    assert len(rows) == 6
    assert rows[1][:2] == ["0.5", "5"] and rows[5][:2] == ["0.9", "5"]
    for row, (fdr, mdr, cdr) in zip(rows[1:], EXPECTED.values()):
        assert [float(x) for x in row[2:]] == pytest.approx([fdr, mdr, cdr], abs=1e-6)


def test_csv_fault_columns(tmp_path):
    acc = ImageLevelRates(fault_classes=[1])
    acc.update([0.9], [1], [1])
    with open(acc.to_csv(tmp_path / "f.csv"), newline="") as f:
        header = next(csv.reader(f))
    assert header == ["threshold", "images", "FDR", "MDR", "CDR", "fault_FDR", "fault_MDR", "fault_CDR"]


def test_one_shot_function():
    rates = image_level_rates([0.75, 0.55, 0.95, -math.inf, -1.0], [False, True, True, False, True])
    for t, (fdr, mdr, cdr) in EXPECTED.items():
        assert (rates[t]["FDR"], rates[t]["MDR"], rates[t]["CDR"]) == pytest.approx((fdr, mdr, cdr))


def test_fault_classes_from_names_or_a_list():
    from ext.metrics import fault_class_ids

    names = {0: "bolt", 1: "bolt_missing", 2: "Nut_s", 3: "Nut_f", 4: "brake_shoe_key_broken", 5: "crack_free_plate"}
    assert fault_class_ids(names) == [1, 3, 4, 5]  # 'crack' marks a fault by name, as HSD's validator reads it
    assert fault_class_ids(names, ["Nut_f", 0]) == [0, 3]
    with pytest.raises(ValueError, match="'rust' is not a class"):
        fault_class_ids(names, ["rust"])
