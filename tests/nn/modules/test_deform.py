"""Tests for the exportable modulated deformable convolution (ext.nn.modules.deform)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from ext.nn.modules.deform import DeformConv, ModulatedDeformConv2d, deform_conv2d_exportable



@pytest.fixture(scope="module")
def tv_deform():
    """torchvision.ops.deform_conv2d, or skip when its compiled ops do not load."""
    try:
        from torchvision.ops import deform_conv2d

        deform_conv2d(torch.zeros(1, 1, 3, 3), torch.zeros(1, 18, 3, 3), torch.zeros(1, 1, 3, 3), padding=1)
    except Exception as e:  # noqa: BLE001 - any load failure of the compiled op means: nothing to compare with
        pytest.skip(f"torchvision.ops.deform_conv2d unavailable: {e}")
    return deform_conv2d


def _out_size(size: int, k: int, s: int, p: int, d: int) -> int:
    return (size + 2 * p - d * (k - 1) - 1) // s + 1


@pytest.mark.parametrize(
    "stride,padding,dilation,bias,use_mask,offset_groups",
    [
        (1, 1, 1, True, True, 1),
        (2, 1, 1, False, True, 1),
        (1, 1, 2, True, True, 1),
        (2, 1, 2, False, True, 1),
        (1, 2, 2, True, True, 1),
        (1, 1, 1, True, False, 1),  # DCNv1 (no mask)
        (1, 1, 1, False, True, 2),
    ],
)
def test_matches_torchvision(tv_deform, stride, padding, dilation, bias, use_mask, offset_groups):
    g = torch.Generator().manual_seed(0)
    b, c, h, w, c_out, k = 2, 4, 9, 11, 6, 3
    ho, wo = _out_size(h, k, stride, padding, dilation), _out_size(w, k, stride, padding, dilation)
    x = torch.randn(b, c, h, w, generator=g)
    weight = torch.randn(c_out, c, k, k, generator=g)
    bias_t = torch.randn(c_out, generator=g) if bias else None
    offset = 3 * torch.randn(b, 2 * offset_groups * k * k, ho, wo, generator=g)  # reaches past the borders
    mask = torch.rand(b, offset_groups * k * k, ho, wo, generator=g) if use_mask else None
    ours = deform_conv2d_exportable(x, offset, weight, bias_t, mask, stride, padding, dilation)
    ref = tv_deform(x, offset, weight, bias_t, stride, padding, dilation, mask)
    assert ours.shape == (b, c_out, ho, wo)
    assert (ours - ref).abs().max().item() < 1e-4


def test_grouped_weight_matches_torchvision(tv_deform):
    g = torch.Generator().manual_seed(1)
    x = torch.randn(1, 4, 7, 7, generator=g)
    weight = torch.randn(6, 2, 3, 3, generator=g)  # groups = 2
    offset = torch.randn(1, 18, 7, 7, generator=g)
    mask = torch.rand(1, 9, 7, 7, generator=g)
    ours = deform_conv2d_exportable(x, offset, weight, None, mask, 1, 1, 1)
    ref = tv_deform(x, offset, weight, None, 1, 1, 1, mask)
    assert (ours - ref).abs().max().item() < 1e-4


def test_zero_offsets_is_regular_conv():
    x = torch.randn(1, 3, 8, 8)
    m = ModulatedDeformConv2d(3, 5, 3, s=2)
    offset = torch.zeros(1, 18, 4, 4)
    mask = torch.ones(1, 9, 4, 4)
    ref = F.conv2d(x, m.weight, m.bias, stride=2, padding=1)
    assert (m(x, offset, mask) - ref).abs().max().item() < 1e-5


def test_deform_conv_init_is_half_regular_conv():
    """Zero-initialised offset predictor: regular grid, mask sigmoid(0) = 0.5 (DyHead's start)."""
    m = DeformConv(4, 6, 3).eval()
    x = torch.randn(2, 4, 6, 5)
    with torch.no_grad():
        om = m.offset_conv(x)
        assert om.abs().max() == 0
        pre_bn = m.dcn(x, om[:, :18], om[:, 18:].sigmoid())
    ref = 0.5 * F.conv2d(x, m.dcn.weight, None, padding=1)
    assert (pre_bn - ref).abs().max().item() < 1e-5
    assert m(x).shape == (2, 6, 6, 5)


def test_gradients_reach_offsets():
    m = DeformConv(3, 4, 3)
    torch.nn.init.normal_(m.offset_conv.weight, std=0.1)
    m(torch.randn(1, 3, 6, 6)).sum().backward()
    assert m.offset_conv.weight.grad.abs().sum() > 0
    assert m.dcn.weight.grad.abs().sum() > 0


def test_yaml_args():
    class S:
        def channels(self, c):
            return c // 2

    args, c2 = DeformConv.yaml_args(16, [64, 3, 2], S())
    assert args == [16, 32, 3, 2] and c2 == 32


def test_onnx_explicit_offsets(tmp_path, onnx_roundtrip):
    g = torch.Generator().manual_seed(2)
    m = ModulatedDeformConv2d(4, 6, 3, s=2, d=2)
    x = torch.randn(1, 4, 10, 9, generator=g)
    ho, wo = _out_size(10, 3, 2, 2, 2), _out_size(9, 3, 2, 2, 2)
    offset = 2 * torch.randn(1, 18, ho, wo, generator=g)
    mask = torch.rand(1, 9, ho, wo, generator=g)
    assert onnx_roundtrip(m, (x, offset, mask), tmp_path / "mdcn.onnx", opset=16) < 1e-4


def test_onnx_self_offsets(tmp_path, onnx_roundtrip):
    torch.manual_seed(3)
    m = DeformConv(4, 8, 3)
    torch.nn.init.normal_(m.offset_conv.weight, std=0.3)  # real, non-zero offsets
    m.bn.running_mean.normal_()
    m.bn.running_var.uniform_(0.5, 2)
    assert onnx_roundtrip(m, (torch.randn(1, 4, 12, 10),), tmp_path / "dcn.onnx") < 1e-4


def test_double_input():
    """Positions are computed in float32; the grid follows the input dtype (float64 here)."""
    x = torch.randn(1, 2, 6, 6, dtype=torch.float64)
    offset = torch.randn(1, 18, 6, 6, dtype=torch.float64)
    weight = torch.randn(3, 2, 3, 3, dtype=torch.float64)
    ref = deform_conv2d_exportable(x.float(), offset.float(), weight.float(), None, None, 1, 1, 1)
    out = deform_conv2d_exportable(x, offset, weight, None, None, 1, 1, 1)
    assert out.dtype == torch.float64 and (out.float() - ref).abs().max().item() < 1e-4
