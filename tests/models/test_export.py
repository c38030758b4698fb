"""ONNX export of every model YAML through Ultralytics' exporter: ONNX Runtime matches PyTorch fp32 with static
shapes and with dynamic shapes (the same file run at other sizes and batch sizes).

Tolerance: max abs 1e-4, class scores as they are and boxes in units of the input size (the head gives pixels; with
random weights its boxes reach 1000 px at a 64 px input, where one float32 step is already 1.2e-4 px). Swin's
dynamic export is not tested: torchvision's Swin
decides in Python, from the feature size, whether to shift its windows, so a trace at one size is wrong at others
(measured: 4e-3 off at 160 px from a 64 px trace, 9e-5 for a static export at 160 px).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ext.models import family_of
from ext.paths import cfg_dir

ort = pytest.importorskip("onnxruntime")

# every YAML in cfg/models at its smallest scale, and the GJADet necks that are not files of their own
CFGS = sorted(f"{p.stem}-n.yaml" for p in (cfg_dir() / "models").glob("*.yaml")) + ["gjadet-dyhead-n.yaml",
                                                                                     "gjadet-fpn-n.yaml"]
FAMILIES = {"hsd-n.yaml", "hsd-paper-n.yaml", "hsd-teacher-n.yaml", "gjadet-n.yaml", "gjadet-dyhead-n.yaml",
            "gjadet-fpn-n.yaml", "hsd-yolo26-n.yaml", "hsd-teacher-yolo26-n.yaml", "gjadet-yolo26-n.yaml"}


def _max_diff(out: np.ndarray, ref: np.ndarray, size: int) -> float:
    """Max abs difference of [B, 4 + nc, A] outputs, boxes (rows 0-3, pixels) divided by the input size."""
    d = np.abs(out - ref)
    return float(max(d[:, :4].max() / size, d[:, 4:].max()))


def _raw(net: torch.nn.Module, x: torch.Tensor) -> np.ndarray:
    with torch.no_grad():
        y = net(x)
    return (y[0] if isinstance(y, (tuple, list)) else y).numpy()


def test_every_model_yaml_is_covered():
    assert FAMILIES | {f"gjadet-{b}-n.yaml" for b in ("resnet", "convnext", "swin", "vgg", "dla", "darknet")} == set(CFGS)


@pytest.mark.parametrize("dynamic", [False, True], ids=["static", "dynamic"])
@pytest.mark.parametrize("cfg", CFGS)
def test_onnx_parity(cfg, dynamic, tmp_path, monkeypatch):
    if dynamic and "swin" in cfg:
        pytest.skip("torchvision's Swin fixes its window shift at trace time: dynamic shapes unsupported")
    monkeypatch.chdir(tmp_path)  # a YAML-built model exports into the working directory
    torch.manual_seed(0)
    model = family_of(cfg)(cfg)
    f = model.export(format="onnx", imgsz=64, simplify=True, dynamic=dynamic, device="cpu")
    net = model.model.float().eval()
    sess = ort.InferenceSession(f, providers=["CPUExecutionProvider"])
    shape = sess.get_inputs()[0].shape
    if dynamic:
        assert not all(isinstance(d, int) for d in shape), shape  # batch / height / width are symbolic
    else:
        assert shape == [1, 3, 64, 64]
    # a static file runs only at its own size; a dynamic one at other sizes and batch sizes too
    for b, h, w in [(1, 64, 64)] + ([(2, 96, 64), (1, 128, 160)] if dynamic else []):
        x = torch.rand(b, 3, h, w, generator=torch.Generator().manual_seed(h + w))
        ref = _raw(net, x)
        out = sess.run(None, {sess.get_inputs()[0].name: x.numpy()})[0]
        assert out.shape == ref.shape
        assert _max_diff(out, ref, max(h, w)) < 1e-4, (cfg, b, h, w)


@pytest.mark.parametrize("reg_max", [16, 1])
def test_end2end_hsd_exports_nms_free(reg_max, tmp_path, monkeypatch):
    """HKH with `end2end: True` (and with direct regression) exports through Ultralytics' exporter with `nms=False`
    (as YOLO26 does: Ultralytics' default keeps the one-to-many output) to an NMS-free file: (1, K, 6) rows of
    x1, y1, x2, y2, score, class, the same top detections as PyTorch's one-to-one branch."""
    from ultralytics.utils import YAML

    from ext.nn.tasks import load_model_yaml

    monkeypatch.chdir(tmp_path)
    yaml = tmp_path / "hsd-e2e.yaml"
    YAML.save(yaml, {**{k: v for k, v in load_model_yaml("hsd-n.yaml").items() if k != "yaml_file"},
                     "end2end": True, "reg_max": reg_max})
    torch.manual_seed(0)
    model = family_of(str(yaml))(str(yaml))
    f = model.export(format="onnx", imgsz=64, simplify=True, device="cpu", nms=False)
    sess = ort.InferenceSession(f, providers=["CPUExecutionProvider"])
    x = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    out = sess.run(None, {sess.get_inputs()[0].name: x.numpy()})[0]
    net = model.model.float().eval()
    net.end2end = True
    ref = _raw(net, x)
    assert out.shape == ref.shape and out.shape[-1] == 6
    assert np.abs(out[0, :, 4] - ref[0, :, 4]).max() < 1e-4  # the scores, in order
    for row in out[0, :10]:  # each of the ten best is one of PyTorch's (near-equal scores may swap places)
        assert np.abs(ref[0, :, :5] - row[:5]).max(1).min() < 1e-3 * 64
