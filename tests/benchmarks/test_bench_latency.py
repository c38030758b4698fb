"""benchmarks/latency.py writes its table at a tiny size, with YOLO11n as the 1.00 reference."""

from __future__ import annotations

import pytest

pytest.importorskip("onnxruntime")


def test_latency_table_tiny(tmp_path):
    import latency

    out = tmp_path / "latency.md"
    text = latency.main(["--models", "yolo11n.yaml", "hsd-n.yaml", "--imgsz", "64", "--runs", "3", "--out", str(out)])
    assert out.read_text() == text
    rows = {r.split("|")[1].strip(): [c.strip() for c in r.split("|")[2:-1]] for r in text.splitlines()
            if r.startswith("| ") and not r.startswith("| model") and not r.startswith("| ---")}
    assert set(rows) == {"yolo11n", "hsd-n"}
    header = [c.strip() for c in text.splitlines()[[i for i, r in enumerate(text.splitlines())
                                                    if r.startswith("| model")][0]].split("|")[2:-1]]
    assert header[:5] == ["params", "GFLOPs", "onnx_MB@64", "ms@64", "x11n@64"]
    assert rows["yolo11n"][4] == "1.00"
    assert float(rows["hsd-n"][3]) > 0 and float(rows["hsd-n"][2]) > 0
    assert int(rows["hsd-n"][0].replace(",", "")) < int(rows["yolo11n"][0].replace(",", ""))


def test_pytorch_timing_path_on_cpu():
    """The GPU timing (fused, interleaved, synchronised on CUDA) runs the same code on any device."""
    import latency

    ms = latency.gpu_latency(["yolo11n.yaml", "hsd-n.yaml"], 64, runs=3, warmup=1, device="cpu", half=False)
    assert set(ms) == {"yolo11n.yaml", "hsd-n.yaml"} and all(v > 0 for v in ms.values())
