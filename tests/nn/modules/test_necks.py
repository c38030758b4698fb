"""Tests for HSD's heterogeneous knowledge neck (ext.nn.modules.necks.HKN)."""

from __future__ import annotations

import itertools

import pytest
import torch
from torch import nn

from ext.nn.modules.attention import CoordAtt
from ext.nn.modules.necks import HKN

CH = [16, 32, 64]
SIZES = [(16, 12), (8, 6), (4, 3)]




def features(batch: int = 2, seed: int = 0) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(batch, c, h, w, generator=g) for c, (h, w) in zip(CH, SIZES)]


class ListInput(nn.Module):
    """Wraps HKN so that it takes the levels as separate tensors (for ONNX export)."""

    def __init__(self, neck: nn.Module):
        super().__init__()
        self.neck = neck

    def forward(self, p3, p4, p5):
        return tuple(self.neck([p3, p4, p5]))


@pytest.mark.parametrize("ca,dw7,top_down", list(itertools.product([True, False], repeat=3)))
def test_shapes_and_switches(ca, dw7, top_down):
    neck = HKN(CH, 24, ca, dw7, top_down)
    out = neck(features())
    assert [tuple(o.shape) for o in out] == [(2, 24, h, w) for h, w in SIZES]
    assert all(isinstance(a, CoordAtt) == ca for a in neck.attention)


def test_output_conv_kinds():
    neck = HKN(CH, 24)
    dw, pw = neck.output[0]
    assert dw.conv.kernel_size == (7, 7) and dw.conv.groups == 24 and pw.conv.kernel_size == (1, 1)
    assert HKN(CH, 24, dw7=False).output[0].conv.kernel_size == (3, 3)  # the plain-FPN ablation


def test_coordinate_attention_is_used():
    """The public code computed CA and dropped it; here removing it must change the output."""
    torch.manual_seed(0)
    neck = HKN(CH, 24).eval()
    x = features(seed=1)
    with torch.no_grad():
        with_ca = neck(x)
        neck.attention = nn.ModuleList(nn.Identity() for _ in CH)
        without_ca = neck(x)
    assert all(not torch.allclose(a, b) for a, b in zip(with_ca, without_ca))


def test_ca_switch_differs_with_shared_weights():
    torch.manual_seed(1)
    on = HKN(CH, 24, ca=True).eval()
    off = HKN(CH, 24, ca=False).eval()
    missing, unexpected = off.load_state_dict(on.state_dict(), strict=False)
    assert not missing and all(k.startswith("attention.") for k in unexpected)
    x = features(seed=2)
    with torch.no_grad():
        assert not torch.allclose(on(x)[0], off(x)[0])


@pytest.mark.parametrize("top_down", [True, False])
def test_top_down_flow(top_down):
    """With top-down, changing P5 changes the P3 output; without, P3 only sees P3."""
    torch.manual_seed(2)
    neck = HKN(CH, 24, top_down=top_down).eval()
    x = features(seed=3)
    x2 = [x[0], x[1], x[2] + 1.0]
    with torch.no_grad():
        changed = not torch.allclose(neck(x)[0], neck(x2)[0])
    assert changed == top_down


def test_yaml_args():
    class S:
        def channels(self, c):
            return int(c * 0.25)

    args, c2 = HKN.yaml_args([64, 128, 256], [256], S())
    assert args == [[64, 128, 256], 64] and c2 == 64
    args, c2 = HKN.yaml_args((64, 128, 256), [256, False, True, False], S())
    assert args == [[64, 128, 256], 64, False, True, False]
    args, _ = HKN.yaml_args([64, 128, 256], [256, True, True, True, True], S())
    assert HKN(*args).residual
    assert HKN.returns_list


def test_residual_adds_each_output_conv_to_its_input():
    torch.manual_seed(4)
    plain, residual = HKN(CH, 24).eval(), HKN(CH, 24, residual=True).eval()
    residual.load_state_dict(plain.state_dict())  # same layers, same keys
    x = features(seed=5)
    with torch.no_grad():
        inner = [att(lat(xi)) for xi, lat, att in zip(x, plain.lateral, plain.attention)]  # top-down by hand
        for i in (1, 0):
            inner[i] = inner[i] + nn.functional.interpolate(inner[i + 1], size=inner[i].shape[-2:])
        for got, want, f in zip(residual(x), plain(x), inner):
            assert torch.allclose(got, want + f, atol=1e-6)
        del residual.residual  # a module pickled before the switch existed behaves as the paper's neck
        assert all(torch.equal(a, b) for a, b in zip(residual(x), plain(x)))


@pytest.mark.parametrize("residual", [False, True])
def test_onnx(tmp_path, onnx_roundtrip, randomize_bn, residual):
    torch.manual_seed(3)
    model = ListInput(HKN(CH, 24, residual=residual))
    randomize_bn(model)
    assert onnx_roundtrip(model, tuple(features(batch=1, seed=4)), tmp_path / "hkn.onnx") < 1e-4
