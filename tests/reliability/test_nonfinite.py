"""A training step with a NaN/inf loss is skipped and counted; `nan_patience` such steps in a row stop the run."""

from __future__ import annotations

import csv
import math

import pytest
import torch
from ultralytics.models.yolo.detect import DetectionTrainer

import ext
from ext.losses.detection import DetectionLoss
from ext.models.detector import ExtTrainer
from ext.reliability.nonfinite import NonFiniteGuard, NonFiniteLossError


def nan_cls_loss_on(monkeypatch, steps) -> list:
    """Make the `cls_loss` term NaN on the given training steps (0-based, counted over the run; validation calls,
    which run without gradients, are not counted). Returns the list of training steps seen."""
    original = DetectionLoss.loss
    seen = []

    def loss(self, preds, batch):
        total, items = original(self, preds, batch)
        if torch.is_grad_enabled():
            if len(seen) in steps:
                total = total + torch.tensor([0.0, math.nan, 0.0], device=total.device)
                items = {**items, "cls_loss": items["cls_loss"] + math.nan}
            seen.append(len(seen))
        return total, items

    monkeypatch.setattr(DetectionLoss, "loss", loss)
    return seen


def record_losses(model) -> list:
    """Collect each training step's loss items (as floats) through `on_train_batch_end`."""
    steps = []
    model.add_callback("on_train_batch_end", lambda t: steps.append({k: float(v) for k, v in t.loss_items.items()}))
    return steps


def all_finite(module) -> bool:
    """True when every floating tensor of the module's state (weights and buffers) is finite."""
    return all(torch.isfinite(v).all() for v in module.state_dict().values() if v.is_floating_point())


def test_single_nan_steps_are_skipped_and_counted(monkeypatch, fault_tiny, tiny, tmp_path):
    """Steps 0 (first of epoch 1) and 3 (last of epoch 2) have a NaN cls_loss: both skipped, each epoch counts 1,
    only the 2 finite steps moved the optimizer and the EMA, losses and weights stay finite, no epoch is redone."""
    seen = nan_cls_loss_on(monkeypatch, {0, 3})
    model = ext.HSD("hsd-n.yaml")
    steps = record_losses(model)
    model.train(data=fault_tiny, project=str(tmp_path), name="nan", **{**tiny, "epochs": 2})
    trainer = model.trainer

    assert len(seen) == 4  # 2 epochs x 2 steps: Ultralytics' epoch-level NaN recovery did not redo an epoch
    rows = list(csv.DictReader(open(trainer.save_dir / "results.csv")))
    assert [float(r["train/skipped_steps"]) for r in rows] == [1, 1]
    assert trainer.nan_guard.total == 2 and trainer.ema.updates == 2  # optimizer/EMA stepped on finite steps only
    # each epoch's mean training loss is the mean over its finite step (step 1 in epoch 1, step 2 in epoch 2)
    assert float(rows[0]["train/cls_loss"]) == pytest.approx(steps[1]["cls_loss"], abs=1e-5)
    assert float(rows[1]["train/cls_loss"]) == pytest.approx(steps[2]["cls_loss"], abs=1e-5)
    assert all(math.isfinite(float(v)) for r in rows for k, v in r.items() if "loss" in k)
    assert all_finite(trainer.model) and all_finite(trainer.ema.ema)


def test_nan_image_leaves_no_trace_in_batchnorm(monkeypatch, fault_tiny, tiny, tmp_path):
    """A NaN pixel makes every activation of its image NaN, BatchNorm running statistics included: the skipped step
    puts them back, so the trained model, its EMA and the saved checkpoint stay finite."""
    calls = []

    def preprocess_batch(self, batch):
        batch = DetectionTrainer.preprocess_batch(self, batch)
        if not calls:
            batch["img"][0, 0, 0, 0] = math.nan
        calls.append(1)
        return batch

    monkeypatch.setattr(ExtTrainer, "preprocess_batch", preprocess_batch)
    model = ext.HSD("hsd-n.yaml")
    model.train(data=fault_tiny, project=str(tmp_path), name="nan-image", **tiny)
    trainer = model.trainer
    row = list(csv.DictReader(open(trainer.save_dir / "results.csv")))[-1]
    assert float(row["train/skipped_steps"]) == 1
    assert all_finite(trainer.model) and all_finite(trainer.ema.ema)
    assert all_finite(ext.HSD(str(trainer.last)).model)


def test_nan_patience_stops_naming_the_term(monkeypatch, fault_tiny, tiny, tmp_path):
    """cls_loss NaN on every step, nan_patience=3: the run stops on the 3rd step in a row (across the epoch
    boundary) with an error naming cls_loss and no other term."""
    seen = nan_cls_loss_on(monkeypatch, range(100))
    model = ext.HSD("hsd-n.yaml")
    with pytest.raises(NonFiniteLossError) as e:
        model.train(data=fault_tiny, project=str(tmp_path), name="stop", nan_patience=3, **{**tiny, "epochs": 3})
    msg = str(e.value)
    assert isinstance(e.value, RuntimeError)
    assert "cls_loss" in msg and "nan_patience=3" in msg and "box_loss" not in msg and "dfl_loss" not in msg
    assert len(seen) == 3
    assert model.trainer.ema.updates == 0  # no step ever reached the optimizer or the EMA


def test_patience_zero_never_stops_and_negative_is_refused():
    guard = NonFiniteGuard(0)
    assert guard.patience == 0
    with pytest.raises(ValueError, match="nan_patience"):
        NonFiniteGuard(-1)
