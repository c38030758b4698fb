"""Tests for CoordAtt and GJADet's AdaptiveAttention (ext.nn.modules.attention)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from torch import nn

from ext.nn.modules.attention import AdaptiveAttention, CoordAtt, DeformSpatial, DynamicReLU, ScaleAttention




class FakeScale:
    """Stand-in for the builder's scale object."""

    name, reg_max, end2end = "n", 16, False

    def channels(self, c):
        return max(8, c // 4)


def test_coordatt_shape_and_effect():
    torch.manual_seed(0)
    m = CoordAtt(16).eval()
    x = torch.randn(2, 16, 7, 5)  # H != W: the split of the H + W strip must be right
    y = m(x)
    assert y.shape == x.shape
    assert not torch.allclose(y, x)
    assert m.reduce.conv.out_channels == 8  # max(8, 16 // 32)


def test_coordatt_directions():
    """a_h depends only on the row and a_w only on the column: y / x factorises into row x column."""
    torch.manual_seed(1)
    m = CoordAtt(8).eval()
    x = torch.rand(1, 8, 4, 6) + 0.5
    with torch.no_grad():
        ratio = m(x) / x  # (1, C, H, W) = a_h (1, C, H, 1) * a_w (1, C, 1, W)
    rank1 = ratio[:, :, :, :1] * ratio[:, :, :1, :] / ratio[:, :, :1, :1]
    assert torch.allclose(ratio, rank1, atol=1e-5)


def test_coordatt_yaml_args():
    assert CoordAtt.yaml_args(64, [], FakeScale()) == ([64], 64)
    assert CoordAtt.yaml_args(64, [16], FakeScale()) == ([64, 16], 64)


def test_coordatt_onnx(tmp_path, onnx_roundtrip, randomize_bn):
    torch.manual_seed(2)
    m = CoordAtt(16)
    randomize_bn(m)
    assert onnx_roundtrip(m, (torch.randn(1, 16, 9, 6),), tmp_path / "ca.onnx") < 1e-4


@pytest.mark.parametrize("spatial,scale,task", list(itertools.product([True, False], repeat=3)))
def test_adaptive_switches(spatial, scale, task):
    m = AdaptiveAttention(12, spatial, scale, task)
    x = torch.randn(2, 12, 6, 5)
    y = m(x)
    assert y.shape == x.shape
    if not (spatial or scale or task):
        assert torch.equal(y, x)
        assert sum(p.numel() for p in m.parameters()) == 0


def test_adaptive_deform_shape():
    m = AdaptiveAttention(8, deform=True)
    assert isinstance(m.spatial, DeformSpatial)
    assert m(torch.randn(1, 8, 5, 7)).shape == (1, 8, 5, 7)
    assert isinstance(AdaptiveAttention(8, spatial=False, deform=True).spatial, nn.Identity)


def test_adaptive_yaml_args():
    args, c2 = AdaptiveAttention.yaml_args(384, [], FakeScale())  # e.g. after a Concat of 256 + 128
    assert args == [384] and c2 == 384
    args, c2 = AdaptiveAttention.yaml_args(96, [True, True, False, True], FakeScale())
    assert args == [96, True, True, False, True] and c2 == 96
    assert isinstance(AdaptiveAttention(*args).task, nn.Identity)


def test_dynamic_relu_hand_computed():
    """fc1 outputs 0, so theta = hardsigmoid(fc2.bias) - 0.5; biases chosen to give a1=1, b1=.5, a2=-.5, b2=-.5."""
    m = DynamicReLU(4)
    nn.init.zeros_(m.fc1.weight)
    nn.init.zeros_(m.fc1.bias)
    nn.init.zeros_(m.fc2.weight)
    # hardsigmoid(v) = clamp(v / 6 + 0.5, 0, 1); raw 0 -> 0.5, 3 -> 1, -1.5 -> 0.25, -3 -> 0
    raw = torch.tensor([0.0, 3.0, -1.5, -3.0]).repeat_interleave(4)  # chunks a1, b1, a2, b2 of 4 channels
    m.fc2.bias.data.copy_(raw)
    a1, b1, a2, b2 = (t.flatten() for t in m.coefficients(torch.randn(1, 4, 2, 2)))
    assert torch.allclose(a1, torch.full((4,), 1.0))  # 2 * 0 + 1
    assert torch.allclose(b1, torch.full((4,), 0.5))
    assert torch.allclose(a2, torch.full((4,), -0.5))  # 2 * (-0.25)
    assert torch.allclose(b2, torch.full((4,), -0.5))
    x = torch.tensor([-2.0, -1.0, 0.0, 1.0]).view(1, 1, 2, 2).repeat(1, 4, 1, 1)
    # max(x + 0.5, -0.5 x - 0.5): -2 -> max(-1.5, 0.5); -1 -> max(-0.5, 0); 0 -> max(0.5, -0.5); 1 -> max(1.5, -1)
    expected = torch.tensor([0.5, 0.0, 0.5, 1.5]).view(1, 1, 2, 2).repeat(1, 4, 1, 1)
    assert torch.allclose(m(x), expected)


def test_dynamic_relu_per_channel_formula():
    """Against an independent numpy computation with random weights."""
    torch.manual_seed(3)
    m = DynamicReLU(8)
    x = torch.randn(2, 8, 3, 4)
    xn = x.numpy().astype(np.float64)
    gap = xn.mean(axis=(2, 3))  # (B, C)
    w1, b1_ = m.fc1.weight.detach().numpy()[:, :, 0, 0], m.fc1.bias.detach().numpy()
    w2, b2_ = m.fc2.weight.detach().numpy()[:, :, 0, 0], m.fc2.bias.detach().numpy()
    hidden = np.maximum(gap @ w1.T + b1_, 0)
    theta = np.clip((hidden @ w2.T + b2_) / 6 + 0.5, 0, 1) - 0.5  # (B, 4C)
    a1, b1, a2, b2 = np.split(theta, 4, axis=1)
    a1, a2 = 2 * a1 + 1, 2 * a2
    e = lambda t: t[:, :, None, None]  # noqa: E731
    expected = np.maximum(e(a1) * xn + e(b1), e(a2) * xn + e(b2))
    assert np.abs(m(x).detach().numpy() - expected).max() < 1e-5


def test_task_branch_is_applied():
    torch.manual_seed(4)
    x = torch.randn(1, 8, 4, 4)
    on, off = AdaptiveAttention(8, False, False, True), AdaptiveAttention(8, False, False, False)
    assert not torch.allclose(on(x), off(x))


def test_scale_attention_range():
    torch.manual_seed(5)
    m = ScaleAttention(6)
    x = torch.rand(3, 6, 4, 4) + 0.1
    factor = m(x) / x
    assert factor.min() >= 0.5 - 1e-6 and factor.max() <= 1 + 1e-6


@pytest.mark.parametrize("deform", [False, True])
def test_adaptive_onnx(tmp_path, deform, onnx_roundtrip, randomize_bn):
    torch.manual_seed(6)
    m = AdaptiveAttention(16, deform=deform)
    if deform:
        nn.init.normal_(m.spatial.dcn.offset_conv.weight, std=0.2)
    randomize_bn(m)
    assert onnx_roundtrip(m, (torch.randn(1, 16, 8, 10),), tmp_path / "aa.onnx") < 1e-4
