"""`Detector.benchmark` / `fdet benchmark` (ext/deploy/benchmark.py): a PyTorch row and one row per format,
each format's accuracy from the family's own validator on the exported file, a CSV on disk, failures as rows."""

from __future__ import annotations

import csv
import shutil

import pytest

import ext
from ext.cli import main
from ext.data import generate
from ext.deploy.benchmark import COLUMNS, format_table, parse_formats

pytest.importorskip("onnxruntime")


@pytest.fixture(scope="module")
def data16(tmp_path_factory):
    """16 generated validation images at 64 px (enough to calibrate INT8)."""
    return generate("fault-synth", tmp_path_factory.mktemp("bench"), 0, 16, imgsz=64, seed=5)["yaml"]


@pytest.fixture
def best(hsd_tiny_run, tmp_path):
    path = tmp_path / "w" / "best.pt"
    path.parent.mkdir()
    shutil.copy(hsd_tiny_run / "weights" / "best.pt", path)
    return path


def test_formats_are_parsed_and_checked():
    assert parse_formats("onnx, openvino,onnx") == ["onnx", "openvino"]
    assert parse_formats(["-", "onnx"]) == ["pytorch", "onnx"]
    assert parse_formats(None) == ["onnx"]
    with pytest.raises(ValueError, match="onnxx unknown; valid: pytorch, torchscript, onnx"):
        parse_formats("onnxx")


def test_onnx_row_matches_validating_the_export_directly(best, data16, tmp_path):
    rows = ext.HSD(best).benchmark(data=data16, formats="onnx", imgsz=64, project=str(tmp_path), name="b")
    assert [(r["format"], r["precision"], r["status"]) for r in rows] == [("pytorch", "fp32", "ok"),
                                                                          ("onnx", "fp32", "ok")]
    onnx_file = best.with_suffix(".onnx")
    assert rows[1]["file"] == str(onnx_file) and rows[1]["size_mb"] == round(onnx_file.stat().st_size / 1e6, 2)
    direct = ext.HSD(str(onnx_file)).val(data=data16, imgsz=64, batch=1, conf=0.001, rect=False, plots=False,
                                         project=str(tmp_path), name="direct")
    assert rows[1]["map50_95"] == pytest.approx(float(direct.box.map), abs=1e-4)
    assert rows[1]["cdr"] == direct.extra["CDR@0.5"]  # the HSD validator ran on the ONNX file
    assert rows[1]["map50_95"] == pytest.approx(rows[0]["map50_95"], abs=2e-3)  # same pixels: fp32 ONNX = PyTorch
    with open(tmp_path / "b" / "benchmark.csv") as f:
        table = list(csv.DictReader(f))
    assert tuple(table[0]) == COLUMNS and [t["format"] for t in table] == ["pytorch", "onnx"]
    assert float(table[1]["inference_ms"]) > 0 and float(table[1]["fps"]) == pytest.approx(
        1000 / float(table[1]["inference_ms"]), rel=0.01)


def test_a_failing_format_is_a_row_and_the_command_line_runs(best, data16, tmp_path, monkeypatch, capsys):
    import ext.models.detector.model as model_module

    def broken(self, **kwargs):
        raise RuntimeError("no such toolchain")

    monkeypatch.setattr(model_module.Detector, "export", broken)
    rows = ext.HSD(best).benchmark(data=data16, formats="onnx", imgsz=64, project=str(tmp_path), name="f")
    assert rows[1]["status"] == "export failed: RuntimeError: no such toolchain" and rows[1]["map50_95"] == ""
    assert "export failed: RuntimeError" in format_table(rows)
    assert main(["benchmark", f"model={best}", f"data={data16}", "formats=onnx", "imgsz=64",
                 f"project={tmp_path}", "name=cli"]) == 0
    assert (tmp_path / "cli" / "benchmark.csv").is_file()


def test_benchmark_needs_data_and_weights(best, capsys):
    assert main(["benchmark", f"model={best}", "formats=onnx"]) == 2  # one line, no traceback
    assert "fdet: benchmark needs data=" in capsys.readouterr().err
    with pytest.raises(ValueError, match="needs data="):
        ext.HSD(best).benchmark(formats="onnx")
    with pytest.raises(ValueError, match="trained model"):
        ext.HSD("hsd-n.yaml").benchmark(data="x.yaml")
