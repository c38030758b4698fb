"""HSD distillation: teacher checks, the ld_loss column, student-only checkpoints, resume with the teacher."""

from __future__ import annotations

import csv
import math
import os
from types import SimpleNamespace

import pytest
import torch
from ultralytics.nn.modules.block import DFL
from ultralytics.utils.torch_utils import unwrap_model

import ext
from ext.losses import box_distillation, localization_distillation, teacher_ahead
from ext.models.hsd.distill import LDDistillationModel, check_teacher, uses_ld
from ext.nn.tasks import HSDModel


@pytest.fixture(scope="module")
def teacher_pt(tmp_path_factory, fault_tiny):
    """A 1-epoch teacher on the tiny fault set."""
    project = tmp_path_factory.mktemp("teacher")
    t = ext.HSD("hsd-teacher-n.yaml")
    t.train(data="fault-synth-tiny", project=str(project), name="t", epochs=1, imgsz=64, batch=4, workers=0,
            device="cpu", plots=False, exist_ok=True)
    return str(t.trainer.best)


@pytest.fixture(scope="module")
def distilled(tmp_path_factory, teacher_pt):
    project = tmp_path_factory.mktemp("student")
    s = ext.HSD("hsd-n.yaml")
    s.train(data="fault-synth-tiny", distill_model=teacher_pt, project=str(project), name="s", epochs=2, imgsz=64,
            batch=4, workers=0, device="cpu", plots=False, exist_ok=True)
    return s.trainer


def test_ld_column_and_finite_losses(distilled):
    rows = list(csv.DictReader(open(distilled.save_dir / "results.csv")))
    assert "train/ld_loss" in rows[0] and "train/dis_loss" in rows[0]
    for r in rows:
        for k in ("train/box_loss", "train/cls_loss", "train/dfl_loss", "train/ld_loss"):
            assert math.isfinite(float(r[k]))
    assert any(float(r["train/ld_loss"]) > 0 for r in rows)
    assert float(rows[0]["train/dis_loss"]) == 0.0  # HSD default dis=0


def test_student_checkpoint_without_teacher(distilled, teacher_pt):
    """best.pt holds the student alone: about its own fp16 size, loadable as an HSDModel."""
    best = torch.load(distilled.best, weights_only=False)
    model = best["model"] if best.get("model") is not None else best["ema"]
    assert isinstance(model, HSDModel)
    n_student = sum(p.numel() for p in model.parameters())
    assert os.path.getsize(distilled.best) < 2 * n_student * 1.3  # fp16 student + metadata; no teacher
    last = torch.load(distilled.last, weights_only=False)
    assert getattr(last["ema"], "teacher_model", None) is None


def test_resume_distillation(teacher_pt, tmp_path, interrupted_run):
    """A distillation run killed after its first epoch resumes at the second, with the teacher rebuilt."""
    last = interrupted_run(ext.HSD("hsd-n.yaml"), data="fault-synth-tiny", distill_model=teacher_pt,
                           project=str(tmp_path), name="r", epochs=2, imgsz=64, batch=4, workers=0, device="cpu",
                           plots=False, exist_ok=True)
    assert torch.load(last, weights_only=False)["epoch"] == 0
    s = ext.HSD(str(last))
    s.train(resume=True)
    assert s.trainer.start_epoch == 1
    assert isinstance(s.trainer.model, LDDistillationModel)
    assert s.trainer.model.teacher_model is not None
    rows = list(csv.DictReader(open(s.trainer.save_dir / "results.csv")))
    assert [int(r["epoch"]) for r in rows] == [1, 2]
    assert math.isfinite(float(rows[-1]["train/ld_loss"])) and float(rows[-1]["train/ld_loss"]) > 0


def test_missing_teacher_stops_before_training(tmp_path, fault_tiny):
    with pytest.raises(FileNotFoundError, match="distill_model teacher"):
        ext.HSD("hsd-n.yaml").train(data="fault-synth-tiny", distill_model=str(tmp_path / "nope.pt"), epochs=1,
                                    imgsz=64, device="cpu", project=str(tmp_path))


def test_not_a_checkpoint(tmp_path, fault_tiny):
    bad = tmp_path / "bad.pt"
    bad.write_text("not a checkpoint")
    with pytest.raises(ValueError, match="not a loadable Ultralytics checkpoint"):
        ext.HSD("hsd-n.yaml").train(data="fault-synth-tiny", distill_model=str(bad), epochs=1, imgsz=64,
                                    device="cpu", project=str(tmp_path))


def test_mismatch_messages():
    student = HSDModel("hsd-n.yaml", nc=6, verbose=False)
    with pytest.raises(ValueError, match="teacher nc=3, student nc=6"):
        check_teacher(HSDModel("hsd-teacher-n.yaml", nc=3, verbose=False), student)
    d = ext.nn.tasks.load_model_yaml("hsd-teacher-n.yaml")
    d["reg_max"] = 8
    check_teacher(HSDModel(d, nc=6, verbose=False), student)  # other bins: box distillation instead of LD
    assert not uses_ld(HSDModel(d, nc=6, verbose=False), student)
    assert uses_ld(HSDModel("hsd-teacher-n.yaml", nc=6, verbose=False), student)
    d = ext.nn.tasks.load_model_yaml("hsd-teacher-n.yaml")
    d["head"][-1][0] = d["head"][-1][0][1:]  # P4, P5 only: strides differ
    with pytest.raises(ValueError, match="strides"):
        check_teacher(HSDModel(d, nc=6, verbose=False), student)


def test_ld_term_is_a_score_weighted_sum_over_positives_per_image():
    """2 images, 3 anchors, 2 fg anchors: weight * sum_i top_score_i * T^2 * mean_sides,bins KL / B, by hand."""
    torch.manual_seed(0)
    b, a, r, c, T = 2, 3, 4, 2, 2.0
    s = {"boxes": torch.randn(b, 4 * r, a), "scores": torch.randn(b, c, a)}
    t = {"boxes": torch.randn(b, 4 * r, a), "scores": torch.randn(b, c, a)}
    fg = torch.tensor([[True, False, False], [False, False, True]])
    expected = 0.0
    for i, j in ((0, 0), (1, 2)):
        p = torch.softmax(t["boxes"][i, :, j].reshape(4, r) / T, -1)
        q = torch.softmax(s["boxes"][i, :, j].reshape(4, r) / T, -1)
        kl = (p * (p.log() - q.log())).mean()  # mean over the 4 sides and r bins
        expected += s["scores"][i, :, j].sigmoid().max() * T * T * kl
    out = localization_distillation(s, t, fg, r, T, weight=0.25)
    torch.testing.assert_close(out, (0.25 * expected / b).reshape(1))
    fg_more = fg.clone()
    fg_more[0, 1] = True  # one more positive adds its term: a sum, not a mean
    assert localization_distillation(s, t, fg_more, r, T, weight=0.25) > out


def test_ld_weight_is_in_the_papers_units():
    """ld_weight 0.25 against the paper's FD weight 0.25 becomes Ultralytics' dfl gain (1.5 by default, 3 at dfl=3)."""
    student = HSDModel("hsd-n.yaml", nc=3, verbose=False)
    student.args = SimpleNamespace(imgsz=64, dis=0.0)  # what Ultralytics' DistillationModel reads
    model = LDDistillationModel(HSDModel("hsd-teacher-n.yaml", nc=3, verbose=False), student)
    for dfl, gain in ((1.5, 1.5), (3.0, 3.0), (0.0, 0.0)):
        student.args = {"ld_weight": 0.25, "ld_T": 10.0, "dfl": dfl}
        assert model._ld_args() == (pytest.approx(gain), 10.0, 0.0)


def test_box_distillation_for_direct_regression_heads_by_hand():
    """reg_max 1 student, 4-bin teacher: teacher-score-weighted mean of 1 - GIoU of the side-distance boxes."""
    torch.manual_seed(1)
    b, a, r, c = 1, 3, 4, 2
    s = {"boxes": torch.rand(b, 4, a) * 3, "scores": torch.randn(b, c, a)}
    t = {"boxes": torch.randn(b, 4 * r, a), "scores": torch.randn(b, c, a)}
    fg = torch.tensor([[True, False, True]])
    p = t["boxes"].view(b, 4, r, a).softmax(2)
    dt = (p * torch.arange(r).view(1, 1, r, 1)).sum(2)  # [B, 4, A] expected bins
    read_out = (torch.nn.Identity(), DFL(r))  # a reg_max 1 head's and a 4-bin head's `dfl`
    num = den = 0.0
    for j in (0, 2):
        (l1, t1, r1, b1), (l2, t2, r2, b2) = s["boxes"][0, :, j].tolist(), dt[0, :, j].tolist()
        inter = max(0, min(r1, r2) + min(l1, l2)) * max(0, min(b1, b2) + min(t1, t2))
        union = (l1 + r1) * (t1 + b1) + (l2 + r2) * (t2 + b2) - inter
        hull = (max(r1, r2) + max(l1, l2)) * (max(b1, b2) + max(t1, t2))
        giou = inter / union - (hull - union) / hull
        w = torch.sigmoid(t["scores"][0, :, j]).max().item()
        num, den = num + w * (1 - giou), den + w
    out = box_distillation(s, t, fg, read_out, weight=2.0)
    assert out.shape == (1,) and out.item() == pytest.approx(2.0 * num / den, rel=1e-4)
    same = {"boxes": dt.clone(), "scores": t["scores"]}
    assert box_distillation(same, t, fg, read_out, weight=2.0).item() == pytest.approx(0.0, abs=1e-5)


def test_a_direct_regression_student_distils_from_a_distribution_teacher(hsd_tiny_run, fault_tiny, tiny, tmp_path):
    from ultralytics.utils import YAML

    d = {k: v for k, v in ext.nn.tasks.load_model_yaml("hsd-n.yaml").items() if k != "yaml_file"}
    d["reg_max"] = 1
    YAML.save(tmp_path / "hsd-direct.yaml", d)
    model = ext.HSD(str(tmp_path / "hsd-direct.yaml"))
    model.train(data=fault_tiny, distill_model=str(hsd_tiny_run / "weights" / "best.pt"), ld_cls=0.5,
                project=str(tmp_path), name="kd1", **tiny)
    with open(model.trainer.save_dir / "results.csv") as f:
        row = next(csv.DictReader(f))
    assert float(row["train/ld_loss"]) > 0  # the box-distillation term, in LD's column
    assert float(row["train/kd_cls_loss"]) > 0  # the class-logit KL (ld_cls), in its own column


def _direct_heads(sides_s, sides_t, scores):
    """reg_max 1 head outputs {"boxes": [1, 4, A], "scores": [1, C, A]} from [A, 4] side distances."""
    return ({"boxes": torch.tensor(sides_s).T[None].float(), "scores": scores},
            {"boxes": torch.tensor(sides_t).T[None].float(), "scores": scores})


def test_gate_keeps_the_anchors_where_the_teacher_box_is_closer_to_the_truth():
    """3 anchors, ground truth 2 cells a side: the teacher is exact at anchor 0, the student at anchor 1, both
    equally off at anchor 2 (a tie counts as not ahead)."""

    gt = torch.tensor([[[-2.0, -2.0, 2.0, 2.0]] * 3])  # [1, 3, 4] xyxy around each anchor
    s, t = _direct_heads([[1, 1, 1, 1], [2, 2, 2, 2], [3, 3, 3, 3]], [[2, 2, 2, 2], [1, 1, 1, 1], [3, 3, 3, 3]],
                         torch.zeros(1, 2, 3))
    fg = torch.ones(1, 3, dtype=torch.bool)
    ident = (torch.nn.Identity(), torch.nn.Identity())
    assert teacher_ahead(s, t, fg, ident, gt).tolist() == [1.0, 0.0, 0.0]
    gate = teacher_ahead(s, t, fg, ident, gt)
    # box distillation: the gated anchors drop out of the sum, the normalisation (all 3 confidences) stays
    full = box_distillation(s, t, fg, ident, weight=1.0)
    gated = box_distillation(s, t, fg, ident, weight=1.0, gate=gate)
    giou0 = 4 / 16  # anchor 0: the student's 2x2 box inside the teacher's 4x4 (IoU 4/16, hull = union)
    assert gated.item() == pytest.approx((1 - giou0) * 0.5 / (3 * 0.5), rel=1e-5)  # equal confidences sigmoid(0)
    assert full.item() > gated.item()


def test_gated_ld_is_the_sum_over_the_kept_anchors():
    torch.manual_seed(2)
    b, a, r, c, T = 1, 4, 4, 2, 2.0
    s = {"boxes": torch.randn(b, 4 * r, a), "scores": torch.randn(b, c, a)}
    t = {"boxes": torch.randn(b, 4 * r, a), "scores": torch.randn(b, c, a)}
    fg = torch.ones(b, a, dtype=torch.bool)
    per_anchor = [localization_distillation(s, t, fg & (torch.arange(a) == j), r, T, 1.0).item() for j in range(a)]
    gate = torch.tensor([1.0, 0.0, 1.0, 0.0])
    got = localization_distillation(s, t, fg, r, T, 1.0, gate).item()
    assert got == pytest.approx(per_anchor[0] + per_anchor[2], rel=1e-5)
    assert localization_distillation(s, t, fg, r, T, 1.0, torch.ones(a)).item() == pytest.approx(sum(per_anchor),
                                                                                                   rel=1e-5)


def test_gated_distillation_trains(teacher_pt, tmp_path, fault_tiny):
    s = ext.HSD("hsd-n.yaml")
    s.train(data="fault-synth-tiny", distill_model=teacher_pt, ld_gate=True, project=str(tmp_path), name="g",
            epochs=1, imgsz=64, batch=4, workers=0, device="cpu", plots=False, exist_ok=True)
    row = next(csv.DictReader(open(s.trainer.save_dir / "results.csv")))
    assert s.trainer.args.ld_gate is True and math.isfinite(float(row["train/ld_loss"]))
    assert float(row["train/ld_loss"]) >= 0


def test_ld_epochs_stops_distillation_after_n_epochs(teacher_pt, tmp_path, fault_tiny):
    """ld_epochs=1: epoch 1 has its LD and class-KL terms, epoch 2 none (the ground truth alone); the trainer hands
    each epoch to the distillation model."""
    s = ext.HSD("hsd-n.yaml")
    s.train(data="fault-synth-tiny", distill_model=teacher_pt, ld_epochs=1, ld_cls=0.5, project=str(tmp_path),
            name="e", epochs=2, imgsz=64, batch=4, workers=0, device="cpu", plots=False, exist_ok=True)
    first, second = csv.DictReader(open(s.trainer.save_dir / "results.csv"))
    assert float(first["train/ld_loss"]) > 0 and float(first["train/kd_cls_loss"]) > 0
    assert float(second["train/ld_loss"]) == 0 and float(second["train/kd_cls_loss"]) == 0
    assert unwrap_model(s.trainer.model).epoch == 1
