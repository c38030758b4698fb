"""benchmarks/backbones.py writes its table (tiny size, two runs): every backbone exports and has a latency ratio."""

from __future__ import annotations

import pytest

pytest.importorskip("onnxruntime")


def test_backbone_table_tiny(tmp_path, monkeypatch):
    import backbones

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(backbones, "BACKBONES", [b for b in backbones.BACKBONES if b[1] in {"gjadet", "gjadet-dla"}])
    text = backbones.main(["--imgsz", "64", "--runs", "2", "--out", str(tmp_path / "b.md")])
    rows = [r.split("|")[1:-1] for r in text.splitlines() if r.startswith("| ") and "---" not in r][1:]
    assert [r[0].strip() for r in rows] == ["YOLO11n (reference)", "CSPDarknet (YOLOv8)", "DLA-34"]
    assert all(r[5].strip().startswith("yes (") for r in rows)
    assert all(float(r[5].split("(")[1].rstrip(") ")) < 1e-4 for r in rows)
    assert rows[0][7].strip() == "1.00" and float(rows[2][7]) > 0
