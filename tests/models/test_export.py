"""ONNX export of every model family through Ultralytics' exporter; ONNX Runtime matches PyTorch fp32."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import ext

ort = pytest.importorskip("onnxruntime")


@pytest.mark.parametrize("cfg", ["hsd-n.yaml", "hsd-teacher-n.yaml", "gjadet-n.yaml"])
def test_onnx_parity(cfg, tmp_path):
    model = ext.Detector(cfg) if "gjadet" not in cfg else ext.GJADet(cfg)
    src = tmp_path / "m.yaml"
    f = model.export(format="onnx", imgsz=64, simplify=True, device="cpu")
    net = model.model.float().eval()
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        ref = net(x)
        ref = (ref[0] if isinstance(ref, (tuple, list)) else ref).numpy()
    sess = ort.InferenceSession(f, providers=["CPUExecutionProvider"])
    out = sess.run(None, {sess.get_inputs()[0].name: x.numpy()})[0]
    assert out.shape == ref.shape
    assert np.abs(out - ref).max() < 1e-4
    del src
