"""INT8 ONNX export (`quantize=8`, ext/deploy/export.py): every convolution runs as ONNX Runtime's
QLinearConv (the fast path), the box / class decode stays float, the file loads back through `YOLO(...)` with the
fp32 model's classes and boxes, and calibration data is checked before any work."""

from __future__ import annotations

import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

import ext
from ext.data import generate
from ext.deploy.export import decode_nodes

ort = pytest.importorskip("onnxruntime")
onnx = pytest.importorskip("onnx")


@pytest.fixture(scope="module")
def calibration(tmp_path_factory):
    """A data YAML with 16 generated validation images at 64 px (the minimum for calibration)."""
    return generate("fault-synth", tmp_path_factory.mktemp("cal"), 0, 16, imgsz=64, seed=5)["yaml"]


def optimized_ops(path, tmp_path) -> Counter:
    """Op types of the graph ONNX Runtime runs (after its QDQ fusions), from its saved optimized model."""
    so = ort.SessionOptions()
    so.optimized_model_filepath = str(tmp_path / "optimized.onnx")
    ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    return Counter(n.op_type for n in onnx.load(so.optimized_model_filepath).graph.node)


@pytest.mark.parametrize("cfg", ["hsd-n.yaml", "gjadet-n.yaml"])  # HKH head; Detect with its DFL conv
def test_every_conv_runs_in_int8_and_the_decode_in_float(cfg, calibration, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    fp32 = shutil.copy(ext.models.family_of(cfg)(cfg).export(format="onnx", imgsz=64), tmp_path / "fp32.onnx")
    int8 = ext.models.family_of(cfg)(cfg).export(format="onnx", imgsz=64, quantize=8, data=calibration)
    convs = Counter(n.op_type for n in onnx.load(fp32).graph.node)["Conv"]
    ops = optimized_ops(int8, tmp_path)
    dfl = Counter(n.op_type for n in onnx.load(fp32).graph.node if "/dfl/" in n.name)["Conv"]  # the DFL stays float
    assert ops["QLinearConv"] == convs - dfl and ops["Conv"] == dfl, ops  # every other convolution in int8
    assert ops["Softmax"] >= 1 and ops["Sigmoid"] >= 1 and not ops["QLinearSoftmax"], ops  # DFL, class scores
    graph = onnx.load(int8).graph
    decode = {o for n in graph.node if n.name in set(decode_nodes(onnx.load(fp32))) for o in n.output}
    assert decode and not [n.name for n in graph.node if n.op_type == "QuantizeLinear" and n.input[0] in decode]


def test_int8_file_predicts_like_fp32(hsd_tiny_run, calibration, tmp_path):
    """The 1-epoch HSD student: its INT8 file loads through YOLO(...), keeps the names, and its boxes at the lowest
    scores are where fp32 puts them (median corner error under 2 px at 64 px)."""
    from ultralytics import YOLO

    best = tmp_path / "best.pt"
    shutil.copy(hsd_tiny_run / "weights" / "best.pt", best)
    fp32 = shutil.copy(ext.HSD(best).export(format="onnx", imgsz=64), tmp_path / "fp32.onnx")
    int8 = ext.HSD(best).export(format="onnx", imgsz=64, quantize=8, data=calibration)
    image = str(sorted((Path(calibration).parent / "images" / "val").glob("*.jpg"))[0])
    r32, r8 = (YOLO(f, task="detect").predict(image, imgsz=64, conf=1e-4, max_det=20, verbose=False)[0]
               for f in (fp32, int8))
    assert r8.names == ext.HSD(best).names and len(r8.boxes) and len(r32.boxes)
    b32, b8 = r32.boxes.xyxy.numpy(), r8.boxes.xyxy.numpy()
    nearest = np.abs(b8[:, None] - b32[None]).max(-1).min(1)  # each INT8 box: its closest fp32 box, px
    assert np.median(nearest) < 2.0, nearest


def test_calibration_data_is_required_and_enough(calibration, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError, match="give data="):
        ext.HSD("hsd-n.yaml").export(format="onnx", imgsz=64, quantize=8)
    with pytest.raises(ValueError, match="at least 16 images"):
        ext.HSD("hsd-n.yaml").export(format="onnx", imgsz=64, quantize=8, data="fault-synth-tiny")
