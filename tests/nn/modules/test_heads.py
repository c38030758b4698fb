"""Tests for HSD's heterogeneous knowledge head (ext.nn.modules.heads.HKH) inside an Ultralytics DetectionModel."""

from __future__ import annotations

import math

import pytest
import torch
import ultralytics.nn.tasks as ut
from torch import nn
from ultralytics.cfg import get_cfg
from ultralytics.nn.modules import Conv, Detect, DWConv
from ultralytics.nn.tasks import DetectionModel
from ultralytics.utils.loss import v8DetectionLoss

from ultralytics.nn.modules.block import DFL
from ultralytics.nn.modules.head import Detect

from ext.nn.modules.heads import HKH, LastAxisDFL, ScaledConv2d, ShortcutTower

NC = 3
CH = (16, 32, 64)


def build_model(monkeypatch, end2end: bool = False, reg_max: int = 16, **head_kwargs) -> DetectionModel:
    """A real DetectionModel (stride computation, bias_init, loss, fuse) whose layers are built by hand:
    a stub backbone of stride-2 Convs giving P3/P4/P5 at strides 8/16/32, then HKH on layers 2, 3, 4."""

    def parse(d, ch, verbose=True):
        head = HKH(d["nc"], 2, None, reg_max, end2end, CH, **head_kwargs)
        layers = [Conv(ch, 8, 3, 2), Conv(8, 16, 3, 2), Conv(16, 16, 3, 2), Conv(16, 32, 3, 2), Conv(32, 64, 3, 2), head]
        for i, m in enumerate(layers):
            m.i, m.f, m.type = i, -1, type(m).__name__
        head.f = [2, 3, 4]
        return nn.Sequential(*layers), [2, 3, 4]

    monkeypatch.setattr(ut, "parse_model", parse)
    torch.manual_seed(0)
    cfg = {"nc": NC, "backbone": [[-1, 1, "Conv", [8, 3, 2]]], "head": []}
    model = DetectionModel(cfg, ch=3, nc=NC, verbose=False)
    model.args = get_cfg()  # loss gains box / cls / dfl
    return model


def batch_for(img: torch.Tensor) -> dict:
    return {
        "img": img,
        "batch_idx": torch.tensor([0.0, 1.0, 1.0]),
        "cls": torch.tensor([[0.0], [2.0], [1.0]]),
        "bboxes": torch.tensor([[0.5, 0.5, 0.3, 0.4], [0.3, 0.6, 0.2, 0.2], [0.7, 0.3, 0.4, 0.3]]),
    }


def test_structure():
    head = HKH(NC, 3, None, 16, False, CH)
    assert isinstance(head, Detect) and head.nl == 3 and head.no == NC + 64
    box, cls = head.cv2[0], head.cv3[0]
    assert len(box) == len(cls) == 2 * 3 + 1
    assert isinstance(box[0], DWConv) and box[0].conv.kernel_size == (5, 5) and box[0].conv.groups == CH[0]
    assert isinstance(box[1], Conv) and box[1].conv.kernel_size == (1, 1)
    assert isinstance(box[-1], ScaledConv2d) and box[-1].out_channels == 64
    assert type(cls[-1]) is nn.Conv2d and cls[-1].out_channels == NC
    assert box[1].conv.out_channels == max(16, CH[0] // 4, 64) and cls[1].conv.out_channels == max(CH[0], NC)
    head = HKH(NC, 1, 40, 8, False, CH, level_scale=False)
    assert head.cv2[2][1].conv.out_channels == head.cv3[2][1].conv.out_channels == 40
    assert type(head.cv2[0][-1]) is nn.Conv2d and head.cv2[0][-1].out_channels == 32
    assert len(HKH(NC, 0, None, 16, False, CH).cv2[0]) == 1  # bare predictors


def test_yaml_args():
    class S:
        reg_max, end2end, name = 16, None, "s"

        def channels(self, c):
            return int(c * 0.5)

    args, c2 = HKH.yaml_args([64, 128, 256], [NC, 3, 256], S())
    assert args == [NC, 3, 128, 16, False, [64, 128, 256], False] and c2 == NC
    args, _ = HKH.yaml_args([64, 128, 256], [NC], S())
    assert args == [NC, 3, None, 16, False, [64, 128, 256], False]
    assert HKH(*args).nl == 3
    args, _ = HKH.yaml_args([64, 128, 256], [NC, 3, None, True], S())
    assert args[-1] is True and isinstance(HKH(*args).cv2[0], ShortcutTower)


def test_shortcut_tower_adds_blocks_whose_shapes_match():
    """Each DW 5x5 + PW 1x1 block is added to its input where shapes match (not the first block of a level whose
    input is wider than the tower); same keys as the plain tower, and the plain sequence of layers otherwise."""
    torch.manual_seed(0)
    ch = (16, 32, 64)
    plain, short = HKH(NC, 3, 16, 16, False, ch).eval(), HKH(NC, 3, 16, 16, False, ch, True).eval()
    short.load_state_dict(plain.state_dict())
    for level, c in enumerate(ch):
        x = torch.randn(2, c, 8, 8)
        for p_seq, s_seq in ((plain.cv2[level], short.cv2[level]), (plain.cv3[level], short.cv3[level])):
            with torch.no_grad():
                h = x
                for k in range(3):  # by hand: block k = layers 2k, 2k + 1
                    y = p_seq[2 * k + 1](p_seq[2 * k](h))
                    h = y if (k == 0 and c != 16) else h + y
                assert torch.allclose(s_seq(x), p_seq[-1](h), atol=1e-5)
                assert not torch.allclose(s_seq(x), p_seq(x), atol=1e-3)


def test_stride_bias_and_shapes(monkeypatch):
    model = build_model(monkeypatch)
    head = model.model[-1]
    assert model.stride.tolist() == [8.0, 16.0, 32.0]
    for i, s in enumerate(model.stride.tolist()):
        assert torch.allclose(head.cv2[i][-1].bias, torch.full_like(head.cv2[i][-1].bias, 2.0))
        assert math.isclose(head.cv3[i][-1].bias[0].item(), math.log(5 / NC / (640 / s) ** 2), rel_tol=1e-5)
    x = torch.rand(2, 3, 64, 64)
    model.train()
    preds = model(x)
    a = 8 * 8 + 4 * 4 + 2 * 2
    assert preds["boxes"].shape == (2, 64, a) and preds["scores"].shape == (2, NC, a)
    assert [f.shape[-1] for f in preds["feats"]] == [8, 4, 2]
    model.eval()
    y, raw = model(x)
    assert y.shape == (2, 4 + NC, a) and raw["boxes"].shape == (2, 64, a)


def test_loss_and_gradients(monkeypatch):
    model = build_model(monkeypatch)
    x = torch.rand(2, 3, 64, 64)
    model.train()
    loss, items = model.loss(batch_for(x))
    assert isinstance(model.criterion, v8DetectionLoss)
    assert torch.isfinite(loss).all() and set(items) == {"box_loss", "cls_loss", "dfl_loss"}
    loss.sum().backward()
    head = model.model[-1]
    assert head.cv2[0][-1].logit_scale.grad is not None
    assert head.cv2[0][0].conv.weight.grad.abs().sum() > 0 and head.cv3[2][0].conv.weight.grad.abs().sum() > 0


def test_end2end(monkeypatch):
    model = build_model(monkeypatch, end2end=True)
    head = model.model[-1]
    assert head.one2one_cv2 is not None and head.one2one_cv2[0][-1] is not head.cv2[0][-1]
    x = torch.rand(2, 3, 64, 64)
    model.train()
    preds = model(x)
    assert set(preds) == {"one2many", "one2one"} and preds["one2one"]["scores"].shape == (2, NC, 84)
    loss, _ = model.loss(batch_for(x), preds)
    assert torch.isfinite(loss).all()
    model.eval()
    model.end2end = True  # what Ultralytics' predictor and validator set for nms=False
    y, _ = model(x)
    assert y.shape == (2, 84, 6)


def plain_state(head: nn.Module) -> dict:
    """A head's plain attributes (numbers, flags, `_end2end`) and its children's names: what decides its mode."""
    skip = {"training", "_parameters", "_buffers", "_modules", "stride", "anchors", "strides"}
    attrs = {k: v for k, v in vars(head).items() if k not in skip and not isinstance(v, (dict, torch.Tensor))}
    return {**attrs, "children": sorted(n for n, _ in head.named_children())}


@pytest.mark.parametrize("reg_max", [16, 1])
def test_end2end_state_is_ultralytics_own(reg_max):
    """`end2end=True` gives HKH the state Ultralytics' own Detect has for the same arguments, in the installed
    version (its `end2end` property, flags and branches), so every Ultralytics path treats both alike; only the
    towers differ."""
    for e2e in (False, True):
        hkh, ref = HKH(NC, 2, None, reg_max, e2e, CH), Detect(NC, reg_max, e2e, CH)
        assert plain_state(hkh) == plain_state(ref), e2e
        assert hkh.end2end == ref.end2end
        if e2e:  # the one-to-one branch is a copy of HKH's towers, not of Detect's
            assert all(type(a) is type(b) for a, b in zip(hkh.one2one_cv2, hkh.cv2))
            assert hkh.one2one_cv3[0][0].conv.kernel_size == (5, 5)
            hkh.end2end = ref.end2end = True
            assert hkh.end2end == ref.end2end


def test_end2end_yaml_predicts_nms_free(tmp_path, hsd_tiny_run):
    """`end2end: True` in the HSD student's YAML: the model trains with the end-to-end loss on both branches and
    `predict(nms=False)` (Ultralytics' switch to the one-to-one head) returns at most max_det boxes, no NMS."""
    import numpy as np
    from ultralytics.utils import YAML

    import ext
    from ext.losses.detection import EndToEndLoss
    from ext.nn.tasks import load_model_yaml

    d = load_model_yaml("hsd-n.yaml")
    d.pop("yaml_file")
    YAML.save(tmp_path / "hsd-e2e.yaml", {**d, "end2end": True})
    model = ext.HSD(str(tmp_path / "hsd-e2e.yaml"))
    head = model.model.model[-1]
    assert head.one2one_cv2 is not None
    model.model.args = {**model.model.args, "nc": head.nc}
    assert isinstance(model.model.init_criterion(), EndToEndLoss)
    img = np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)
    r = model.predict(img, imgsz=64, nms=False, max_det=5, conf=0.0, verbose=False)[0]
    assert model.predictor.model.end2end and len(r.boxes) == 5


@pytest.mark.filterwarnings("ignore::torch.jit.TracerWarning")
@pytest.mark.parametrize("end2end", [False, True])
def test_direct_regression(monkeypatch, tmp_path, onnx_roundtrip, end2end):
    """reg_max 1: 4 distances per anchor, no DFL read-out, Ultralytics' L1 term (`l1_loss`) instead of DFL; trains (both
    branches when end2end) and exports."""
    torch.manual_seed(0)
    model = build_model(monkeypatch, end2end=end2end, reg_max=1)
    head = model.model[-1]
    assert isinstance(head.dfl, nn.Identity) and all(m[-1].out_channels == 4 for m in head.cv2)
    x = torch.rand(2, 3, 64, 64)
    model.train()
    loss, items = model.loss(batch_for(x))
    assert torch.isfinite(loss).all() and loss[0] > 0 and set(items) == {"box_loss", "cls_loss", "l1_loss"}
    loss.sum().backward()
    assert head.cv2[0][-1].weight.grad.abs().sum() > 0
    if end2end:
        assert head.one2one_cv2[0][-1].weight.grad.abs().sum() > 0
    model.eval()
    model.end2end = end2end  # what Ultralytics' predictor and exporter set for NMS-free inference
    head.export, head.format = True, "onnx"
    with torch.no_grad():
        shape = model(x[:1]).shape
    assert shape == ((1, 84, 6) if end2end else (1, 4 + NC, 84))  # top max_det=300, capped at the 84 anchors
    if not end2end:  # the one-to-one output is a top-k selection: ties make element-wise comparison meaningless
        assert onnx_roundtrip(model, (x[:1],), tmp_path / "hkh1.onnx") < 5e-4


def test_fuse_keeps_outputs(monkeypatch, randomize_bn):
    model = build_model(monkeypatch)
    randomize_bn(model)
    head = model.model[-1]
    for i, m in enumerate(head.cv2):
        m[-1].logit_scale.data.fill_(0.7 + 0.3 * i)
    model.eval()
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        before = model(x)[0]
        model.fuse(verbose=False)
        after = model(x)[0]
    assert model.is_fused()
    assert not any(isinstance(m, nn.BatchNorm2d) for m in head.modules())
    assert all(m[-1].logit_scale.item() == 1.0 for m in head.cv2)
    assert (before - after).abs().max().item() < 1e-3  # boxes in pixels (up to ~64), scores in [0, 1]


@pytest.mark.filterwarnings("ignore::torch.jit.TracerWarning")  # Detect's anchor cache check, harmless here
@pytest.mark.parametrize("shortcut", [False, True])
def test_onnx_export(monkeypatch, tmp_path, onnx_roundtrip, randomize_bn, shortcut):
    torch.manual_seed(0)  # decoded boxes are in pixels: keep the random weights (and so the magnitudes) fixed
    model = build_model(monkeypatch, shortcut=shortcut)
    randomize_bn(model)
    model.eval()
    head = model.model[-1]
    head.export, head.format = True, "onnx"  # what Ultralytics' exporter sets: the head returns one tensor
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        assert model(x).shape == (1, 4 + NC, 84)
    # decoded boxes are pixel coordinates (up to ~64 here): float32 rounding of sums reaches ~1e-4 absolute
    assert onnx_roundtrip(model, (x,), tmp_path / "hkh.onnx") < 5e-4


def test_last_axis_dfl_matches_ultralytics_dfl(tmp_path, onnx_roundtrip):
    torch.manual_seed(0)
    x = torch.randn(2, 4 * 16, 50) * 4
    ours, theirs = LastAxisDFL(16), DFL(16)
    assert torch.allclose(ours(x), theirs(x), atol=1e-5) and ours(x).shape == (2, 4, 50)
    assert torch.allclose(ours(x.half()).float(), theirs(x), atol=2e-2)  # half models (fp16 export) too
    assert set(ours.state_dict()) == set(theirs.state_dict())  # same weights: checkpoints load either way
    assert isinstance(HKH(NC, 1, None, 16, False, CH).dfl, LastAxisDFL)
    assert onnx_roundtrip(ours, (x,), tmp_path / "dfl.onnx") < 1e-4
    onnx = pytest.importorskip("onnx")
    softmax = [n for n in onnx.load(str(tmp_path / "dfl.onnx")).graph.node if n.op_type == "Softmax"]
    assert [a.i for n in softmax for a in n.attribute if a.name == "axis"] == [-1]  # the fast ORT kernel
