"""Tests for ext.losses.distillation: localization distillation (ld_kl) and class-logit distillation (kl_cls) per
anchor; per batch, the score-weighted LD sum (localization_distillation), box distillation for direct-regression
heads (box_distillation) and the ld_gate mask (teacher_ahead)."""

import numpy as np
import pytest
import torch
from ultralytics.nn.modules.block import DFL

from ext.losses import box_distillation, kl_cls, ld_kl, localization_distillation, teacher_ahead


def numpy_ld(student, teacher, T):
    """Explicit formula: T^2 * mean over sides and bins of p (log p - log q), p/q softmax(teacher/student / T)."""
    s, t = np.asarray(student, np.float64) / T, np.asarray(teacher, np.float64) / T
    q = np.exp(s - s.max(-1, keepdims=True))
    q /= q.sum(-1, keepdims=True)
    p = np.exp(t - t.max(-1, keepdims=True))
    p /= p.sum(-1, keepdims=True)
    n, sides, bins = s.shape
    out = np.zeros(n)
    for i in range(n):
        for k in range(sides):
            out[i] += sum(p[i, k, b] * (np.log(p[i, k, b]) - np.log(q[i, k, b])) for b in range(bins)) / bins
        out[i] = out[i] / sides * T * T
    return out


def _pair(n=3, bins=17, seed=0):
    """Random student / teacher logits [n, 4, bins]."""
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 4, bins, generator=g) * 4, torch.randn(n, 4, bins, generator=g) * 4


def test_ld_kl_small_hand_example():
    student = [[[0.0, 1.0, 2.0]] * 4, [[1.0, 0.0, -1.0], [0.5, 0.5, 0.5], [2.0, 0.0, 0.0], [0.0, 0.0, 3.0]]]
    teacher = [[[2.0, 1.0, 0.0]] * 4, [[1.0, 0.0, -1.0], [3.0, 0.0, 0.0], [0.0, 1.0, 0.0], [1.0, 1.0, 1.0]]]
    out = ld_kl(torch.tensor(student), torch.tensor(teacher), T=2.0)
    assert out.shape == (2,) and out.dtype == torch.float32
    np.testing.assert_allclose(out.numpy(), numpy_ld(student, teacher, 2.0), rtol=1e-5)
    # first anchor by hand: every side p = softmax([1, .5, 0]), q = reversed p; KL / 3 bins * T^2
    p = np.exp([1.0, 0.5, 0.0]) / np.exp([1.0, 0.5, 0.0]).sum()
    np.testing.assert_allclose(out[0].item(), (p * np.log(p / p[::-1])).sum() / 3 * 4, rtol=1e-5)


def test_ld_kl_random_matches_numpy_and_flat_layout():
    s, t = _pair(n=5, bins=17)
    out = ld_kl(s, t, T=15.0)
    np.testing.assert_allclose(out.numpy(), numpy_ld(s.numpy(), t.numpy(), 15.0), rtol=1e-4)
    torch.testing.assert_close(ld_kl(s.reshape(-1, 17), t.reshape(-1, 17), T=15.0), out)


def test_ld_kl_zero_when_equal():
    s, _ = _pair()
    torch.testing.assert_close(ld_kl(s, s.clone(), T=15.0), torch.zeros(3), atol=1e-6, rtol=0)


def test_ld_kl_temperature_squared_scaling():
    s, t = _pair(seed=3)
    for T in (1.0, 2.5, 15.0):
        torch.testing.assert_close(ld_kl(s, t, T=T), ld_kl(s / T, t / T, T=1.0) * T * T, rtol=1e-5, atol=1e-6)


def test_ld_kl_weight():
    s, t = _pair()
    w = torch.tensor([0.5, 0.0, 2.0], requires_grad=True)
    torch.testing.assert_close(ld_kl(s, t, 15.0, weight=w), ld_kl(s, t, 15.0) * w.detach())


def test_ld_kl_grad_only_to_student():
    s, t = _pair()
    s.requires_grad_(True)
    t.requires_grad_(True)
    ld_kl(s, t, T=15.0).sum().backward()
    assert t.grad is None
    assert s.grad is not None and s.grad.abs().sum() > 0


def test_ld_kl_float32_under_autocast():
    s, t = _pair()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = ld_kl(s.bfloat16(), t.bfloat16(), T=15.0)
        out_cls = kl_cls(s[:, 0].bfloat16(), t[:, 0].bfloat16(), T=2.0)
    assert out.dtype == torch.float32 and out_cls.dtype == torch.float32
    torch.testing.assert_close(out, ld_kl(s.bfloat16().float(), t.bfloat16().float(), T=15.0))


def test_ld_kl_bad_input():
    with pytest.raises(ValueError):
        ld_kl(torch.zeros(6, 17), torch.zeros(6, 17), T=1.0)
    with pytest.raises(ValueError):
        ld_kl(torch.zeros(2, 4, 17), torch.zeros(2, 4, 17), T=0.0)


def test_kl_cls_matches_binary_kl():
    s, t = torch.randn(6, 5) * 3, torch.randn(6, 5) * 3
    T = 2.0
    out = kl_cls(s, t, T)
    p, q = torch.sigmoid(t.double() / T), torch.sigmoid(s.double() / T)
    expected = ((p * (p / q).log() + (1 - p) * ((1 - p) / (1 - q)).log()).sum(-1) * T * T).float()
    assert out.shape == (6,)
    torch.testing.assert_close(out, expected, rtol=1e-4, atol=1e-5)
    assert (out >= -1e-6).all()
    torch.testing.assert_close(kl_cls(s, s.clone(), T), torch.zeros(6), atol=1e-5, rtol=0)


def test_kl_cls_grad_only_to_student():
    s, t = torch.randn(4, 3, requires_grad=True), torch.randn(4, 3, requires_grad=True)
    kl_cls(s, t, 1.0).sum().backward()
    assert t.grad is None and s.grad.abs().sum() > 0


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
