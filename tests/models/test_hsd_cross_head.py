"""CrossKD (`ld_cross=True`): the student's tower features through the teacher's last layers, the KD terms on those
cross-head predictions, their gradients in the student's towers and not in its predictors."""

from __future__ import annotations

import csv
import math

import pytest
import torch
from torch import nn
from ultralytics.cfg import get_cfg
from ultralytics.nn.modules import Detect

import ext
from ext.losses import localization_distillation
from ext.models.hsd.cross_head import check_cross, cross_head, tower_features
from ext.models.hsd.distill import LDDistillationModel
from ext.nn.modules.heads import HKH
from ext.nn.tasks import HSDModel



def batch() -> dict:
    """Two 64 px images, two objects in the first, one in the second."""
    torch.manual_seed(1)
    return {"img": torch.rand(2, 3, 64, 64), "batch_idx": torch.tensor([0.0, 0.0, 1.0]),
            "cls": torch.tensor([[2.0], [0.0], [1.0]]),
            "bboxes": torch.tensor([[0.4, 0.4, 0.3, 0.3], [0.6, 0.7, 0.2, 0.3], [0.5, 0.5, 0.5, 0.4]])}


def models(**keys) -> LDDistillationModel:
    torch.manual_seed(0)
    student = HSDModel("hsd-n.yaml", nc=3, verbose=False)
    student.args = get_cfg(overrides={"imgsz": 64, "dis": 0.0, "ld_cls": 1.0, **keys})
    teacher = HSDModel("hsd-teacher-n.yaml", nc=3, verbose=False)
    return LDDistillationModel(teacher_model=teacher, student_model=student)


def test_tower_features_are_the_predictors_input():
    head = HSDModel("hsd-n.yaml", nc=3, verbose=False).model[-1]
    x = torch.rand(2, head.cv2[0][0].conv.in_channels, 8, 8)
    for tower in (head.cv2[0], nn.Sequential(*head.cv2[0])):  # the shortcut tower and a plain stack
        seen = {}
        hook = tower[-1].register_forward_pre_hook(lambda m, inp: seen.setdefault("x", inp[0]))
        out = tower(x)
        hook.remove()
        torch.testing.assert_close(tower_features(tower, x), seen["x"])
        torch.testing.assert_close(tower[-1](tower_features(tower, x)), out)


def test_cross_head_layout_is_the_heads_own():
    """A teacher whose last tower layer is the identity and whose predictors are the student's gives back the
    student's own training outputs, in the same (B, C, A) layout."""
    m = HSDModel("hsd-n.yaml", nc=3, verbose=False).train()
    head = m.model[-1]
    feats = None

    def keep(module, inp):
        nonlocal feats
        feats = inp[0]

    hook = head.register_forward_pre_hook(keep)
    own = m(torch.rand(2, 3, 64, 64))
    hook.remove()
    fake = Detect(nc=3, reg_max=head.reg_max, ch=tuple(f.shape[1] for f in feats))
    for i in range(head.nl):
        fake.cv2[i] = nn.Sequential(nn.Identity(), nn.Identity(), head.cv2[i][-1])
        fake.cv3[i] = nn.Sequential(nn.Identity(), nn.Identity(), head.cv3[i][-1])
    out = cross_head(head, fake, feats)
    torch.testing.assert_close(out["boxes"], own["boxes"])
    torch.testing.assert_close(out["scores"], own["scores"])


def test_check_cross_names_each_level():
    student = HKH(nc=3, n_convs=2, c_=32, ch=(64, 64, 64))
    teacher = Detect(nc=3, ch=(64, 128, 256))
    with pytest.raises(ValueError, match="level 0 box: student tower width 32, teacher layer input 64"):
        check_cross(student, teacher)
    with pytest.raises(ValueError, match="2 levels"):
        check_cross(HKH(nc=3, ch=(64, 64)), teacher)
    check_cross(HSDModel("hsd-n.yaml", nc=3, verbose=False).model[-1],
                HSDModel("hsd-teacher-n.yaml", nc=3, verbose=False).model[-1])  # the package's pair fits


def kd_grads(model: LDDistillationModel) -> tuple[torch.Tensor, dict]:
    model.train()
    model.loss(batch())  # one step: head outputs and the student's foreground anchors
    model.zero_grad()
    weight, T, w_cls = model._ld_args()
    kd = model.kd_terms(weight, T, w_cls)
    kd.sum().backward()
    head = model.student_model.model[-1]
    norm = lambda p: 0.0 if p.grad is None else p.grad.abs().sum().item()  # noqa: E731
    return kd.detach(), {"predictor": sum(norm(p) for t in (*head.cv2, *head.cv3) for p in t[-1].parameters()),
                         "tower": sum(norm(p) for t in (*head.cv2, *head.cv3) for p in t[0].parameters())}


def test_cross_terms_reach_the_towers_not_the_predictors():
    plain_kd, plain = kd_grads(models())
    cross_kd, cross = kd_grads(models(ld_cross=True))
    assert plain["predictor"] > 0 and plain["tower"] > 0  # LD on the student's own outputs pulls its predictors
    assert cross["predictor"] == 0 and cross["tower"] > 0  # CrossKD: through the teacher's layers to the towers
    assert (cross_kd > 0).all() and not torch.allclose(cross_kd, plain_kd)  # other predictions, other terms


def test_cross_terms_are_ld_on_the_cross_head_predictions():
    """The box term equals LD computed by hand on `cross_head`'s boxes at the student's foreground anchors."""
    m = models(ld_cross=True)
    m.train()
    m.loss(batch())
    weight, T, _ = m._ld_args()
    n = len(m.feats_idx) - 1
    s = m.decouple_outputs(m._student_feats[n], branch="one2many")
    t = m.decouple_outputs(m._teacher_feats[n], branch="one2many")
    fg = m.student_model.criterion.fg_mask
    cross = cross_head(m.student_model.model[-1], m.teacher_model.model[-1], s["feats"])
    want = localization_distillation({"boxes": cross["boxes"], "scores": s["scores"]}, t, fg, 16, T, weight)
    torch.testing.assert_close(m.kd_terms(weight, T, 0.0)[0], want[0])


def test_a_cross_run_trains(tmp_path, fault_tiny, tiny):
    teacher = ext.HSD("hsd-teacher-n.yaml")
    teacher.train(data="fault-synth-tiny", project=str(tmp_path), name="t", **tiny)
    s = ext.HSD("hsd-n.yaml")
    s.train(data="fault-synth-tiny", distill_model=str(teacher.trainer.best), ld_cross=True, project=str(tmp_path),
            name="s", **tiny)
    row = next(csv.DictReader(open(s.trainer.save_dir / "results.csv")))
    assert s.trainer.args.ld_cross is True and math.isfinite(float(row["train/ld_loss"]))
    assert float(row["train/ld_loss"]) > 0
