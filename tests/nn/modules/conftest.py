"""Helpers shared by the module tests: an ONNX round trip and BatchNorm statistics worth testing."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn


def _onnx_roundtrip(module: nn.Module, inputs: tuple, path, opset: int = 17) -> float:
    """Export `module` to ONNX (TorchScript exporter), run it in ONNX Runtime, return the max abs diff vs torch."""
    ort = pytest.importorskip("onnxruntime")
    module.eval()
    names = [f"in{i}" for i in range(len(inputs))]
    torch.onnx.export(module, inputs, str(path), opset_version=opset, input_names=names, dynamo=False)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    feeds = {i.name: inputs[names.index(i.name)].numpy() for i in session.get_inputs()}
    got = session.run(None, feeds)
    with torch.no_grad():
        ref = module(*inputs)
    ref = ref if isinstance(ref, (list, tuple)) else [ref]
    assert len(got) == len(ref)
    return max(float(np.abs(g - r.numpy()).max()) for g, r in zip(got, ref))


def _randomize_bn(module: nn.Module) -> None:
    """Give every BatchNorm non-trivial running statistics so eval-mode tests see them."""
    for m in module.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.normal_(0, 0.2)
            m.running_var.uniform_(0.5, 2.0)


@pytest.fixture
def onnx_roundtrip():
    """`onnx_roundtrip(module, inputs, path, opset=17) -> max abs diff` between ONNX Runtime and torch."""
    return _onnx_roundtrip


@pytest.fixture
def randomize_bn():
    """`randomize_bn(module)`: random running statistics for every BatchNorm2d."""
    return _randomize_bn
