"""Tests for ext.losses.distillation: localization distillation (ld_kl) and class-logit distillation (kl_cls)."""

import numpy as np
import pytest
import torch

from ext.losses import kl_cls, ld_kl


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
