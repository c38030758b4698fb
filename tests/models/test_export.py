"""ONNX export of every model YAML through Ultralytics' exporter: ONNX Runtime matches PyTorch fp32 within 1e-4,
with static shapes and with dynamic shapes (the same file run at other sizes and batch sizes)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ext.cli import family_of
from ext.paths import cfg_dir

ort = pytest.importorskip("onnxruntime")

# every YAML in cfg/models at its smallest scale
CFGS = sorted(f"{p.stem}-n.yaml" for p in (cfg_dir() / "models").glob("*.yaml"))


def _raw(net: torch.nn.Module, x: torch.Tensor) -> np.ndarray:
    with torch.no_grad():
        y = net(x)
    return (y[0] if isinstance(y, (tuple, list)) else y).numpy()


def test_every_model_yaml_is_covered():
    assert {"hsd-n.yaml", "hsd-teacher-n.yaml", "gjadet-n.yaml", "gjadet-dcn-n.yaml"} <= set(CFGS)


@pytest.mark.parametrize("dynamic", [False, True], ids=["static", "dynamic"])
@pytest.mark.parametrize("cfg", CFGS)
def test_onnx_parity(cfg, dynamic):
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
        assert np.abs(out - ref).max() < 1e-4, (cfg, b, h, w)
