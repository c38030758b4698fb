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


def test_swap_dfl_rows_and_repeats(tmp_path):
    """--swap-dfl times each model also with the other DFL read-out: HKH's LastAxisDFL <-> Ultralytics' DFL;
    --repeats adds the range of the ratio over the repeated measurements."""
    import latency
    from ultralytics.nn.modules.block import DFL

    from ext import HSD
    from ext.nn.modules.heads import LastAxisDFL

    text = latency.main(["--models", "yolo11n.yaml", "hsd-n.yaml", "yolo26n.yaml", "--imgsz", "64", "--runs", "2",
                         "--swap-dfl", "--repeats", "2", "--out", str(tmp_path / "latency.md")])
    names = [r.split("|")[1].strip() for r in text.splitlines() if r.startswith("| ") and "---" not in r]
    assert names == ["model", "yolo11n", "yolo11n (swapped DFL)", "hsd-n", "hsd-n (swapped DFL)", "yolo26n"]
    table = [[c.strip() for c in r.split("|")[1:-1]] for r in text.splitlines() if r.startswith("| ") and "---" not in r]
    col = table[0].index("x11n range@64")
    assert table[1][col] == "1.00-1.00" and table[0][col - 1] == "x11n@64" and table[1][col - 1] == "1.00"
    lo, hi = map(float, table[3][col].split("-"))
    assert lo <= float(table[3][col - 1]) <= hi and "medians over 2 repeats" in text
    model = HSD("hsd-n.yaml").model
    assert type(model.model[-1].dfl) is LastAxisDFL
    assert latency.swap_dfl(model) == 1 and type(model.model[-1].dfl) is DFL


def test_pytorch_timing_path_on_cpu():
    """The GPU timing (fused, interleaved, synchronised on CUDA) runs the same code on any device."""
    import latency

    ms = latency.gpu_latency(["yolo11n.yaml", "hsd-n.yaml"], 64, runs=3, warmup=1, device="cpu", half=False)
    assert set(ms) == {"yolo11n.yaml", "hsd-n.yaml"} and all(v > 0 for v in ms.values())


def test_openvino_and_onnx_runners_give_the_same_outputs(tmp_path, monkeypatch):
    """`runner` runs an ONNX file in ONNX Runtime and an OpenVINO folder in OpenVINO: same model, same boxes."""
    pytest.importorskip("openvino")
    import numpy as np
    from latency import runner

    import ext

    monkeypatch.chdir(tmp_path)
    m = ext.HSD("hsd-n.yaml")
    onnx_file = m.export(format="onnx", imgsz=64)
    ov_dir = m.export(format="openvino", imgsz=64)
    x = np.random.default_rng(0).random((1, 3, 64, 64), dtype=np.float32)
    a, b = runner(onnx_file)(x)[0], runner(ov_dir)(x)[0]
    assert a.shape == b.shape == (1, 4 + 6, 84)
    np.testing.assert_allclose(a, b, atol=1e-2)


def test_onnx_runner_sessions_do_not_busy_wait(tmp_path, monkeypatch):
    """Interleaved rounds are fair only if a session's threads stop spinning after its run: the runner's ONNX
    Runtime session is made with that option off (and still gives the model's output)."""
    import numpy as np
    import onnxruntime as ort
    from latency import SPIN, runner

    import ext

    made, original = [], ort.InferenceSession
    monkeypatch.setattr(ort, "InferenceSession", lambda f, so=None, **k: made.append(so) or original(f, so, **k))
    monkeypatch.chdir(tmp_path)
    f = ext.HSD("hsd-n.yaml").export(format="onnx", imgsz=64)
    made.clear()  # the export's own checks open sessions too
    out = runner(f)(np.zeros((1, 3, 64, 64), np.float32))
    assert out[0].shape == (1, 4 + 6, 84)
    assert len(made) == 1 and made[0].get_session_config_entry(SPIN) == "0"
