"""GJR statistics on an end-to-end (NMS-free) model: both branches' statistics are saved in the checkpoint, restored
equal by `resume=True`, left untouched by a skipped non-finite step, and logged to gjr_ratio.csv."""

from __future__ import annotations

import csv
import math

import numpy as np
import torch

import ext
from ext.losses.detection import EndToEndLoss

E2E = "yolo26n.yaml"  # one2one branch, reg_max 1: what `ext.GJADet("yolo26n.yaml")` trains


def criterion_of(trainer):
    """The run's criterion, built now if the first step has not built it yet (as the step would)."""
    model = trainer.model
    if getattr(model, "criterion", None) is None:
        model.criterion = model.init_criterion()
    return model.criterion


def test_e2e_gjr_state_saved_resumed_and_logged(crash_tiny, tiny, interrupted_run, tmp_path):
    args = {**tiny, "epochs": 2, "data": crash_tiny, "project": str(tmp_path), "cls_loss": "gjr"}
    last = interrupted_run(ext.GJADet(E2E), name="e2e", **args)
    state = torch.load(last, weights_only=False)["ema"].loss_state
    assert {k.split(".")[0] for k in state} == {"one2many", "one2one"}
    assert state["one2many.pos_grad"].dtype == np.float64 and state["one2many.pos_grad"][0] > 0  # 'point' positives
    assert state["one2one.pos_grad"][0] > 0
    assert not np.allclose(state["one2many.pos_grad"], state["one2one.pos_grad"])  # two sets, not one copied

    resumed = ext.GJADet(str(last))
    seen = []
    resumed.add_callback("on_train_batch_start", lambda t: seen.append(criterion_of(t).state()) if not seen else None)
    resumed.train(resume=True)
    assert isinstance(resumed.trainer.model.criterion, EndToEndLoss)
    assert set(seen[0]) == set(state)
    for k, v in state.items():  # the resumed run starts from exactly the saved statistics
        np.testing.assert_allclose(seen[0][k], v, rtol=1e-6, err_msg=k)
    rows = list(csv.DictReader(open(resumed.trainer.save_dir / "gjr_ratio.csv")))
    assert [r["epoch"] for r in rows] == ["1", "2"]
    assert {"point", "one2one:point"} <= set(rows[0]) and float(rows[1]["one2one:point"]) > 0


def test_e2e_skipped_step_leaves_both_branches_statistics(monkeypatch, crash_tiny, tiny, tmp_path):
    """The first step's loss is NaN: after it, both branches' statistics are as before it; the next (finite) step
    changes them."""
    original = EndToEndLoss.__call__
    calls = []

    def nan_first(self, preds, batch):
        total, items = original(self, preds, batch)
        if torch.is_grad_enabled():
            if not calls:
                total = total + math.nan
            calls.append(1)
        return total, items

    monkeypatch.setattr(EndToEndLoss, "__call__", nan_first)
    model = ext.GJADet(E2E)
    before, after = [], []
    model.add_callback("on_train_batch_start", lambda t: before.append(criterion_of(t).state()))
    model.add_callback("on_train_batch_end", lambda t: after.append(t.model.criterion.state()))
    model.train(data=crash_tiny, project=str(tmp_path), name="skip", cls_loss="gjr", **tiny)
    assert model.trainer.nan_guard.total == 1 and len(after) == len(model.trainer.train_loader) >= 2
    for k in before[0]:
        np.testing.assert_array_equal(after[0][k], before[0][k], err_msg=k)  # skipped: untouched
    assert any(not np.array_equal(after[1][k], before[1][k]) for k in before[1])  # finite: updated
