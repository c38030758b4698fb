"""`Detector.benchmark` / `fdet benchmark`: each deployment format of a model side by side with its PyTorch fp32 row.

For every format asked for (`formats=onnx,openvino`, any Ultralytics export format), the model is exported through
our `Detector.export` (so `quantize=8` ONNX is `ExtExporter`'s fast INT8 path and OpenVINO INT8 is Ultralytics'
NNCF path, both calibrated on `data`), loaded back by the same family (`HSD("model.onnx")`, so the family's
validator runs on it through Ultralytics' AutoBackend) and validated on `data` at batch 1. A row gives the file
size, mAP50-95 / mAP50, the validator's image-level rates (HSD: CDR / FDR / MDR at score 0.5) and the inference
time per image at batch 1 that Ultralytics' validator measures (pre- and post-processing excluded).

Ultralytics' own `benchmark()` (ultralytics/utils/benchmarks.py) does the same loop, but validates every export with
the plain `YOLO` validator (no image-level rates, no catalog data) and tries every format when none is given; this
keeps its method (export, validation at batch 1, conf 0.001, `rect=False` for every row, the validator's inference
time) and
its failure rule (a format that fails is a row with its error, the others go on).

Returns a list of row dicts and writes `benchmark.csv` (same columns) to `out` (default runs/benchmark/<weights
stem>); the exported files lie beside the weights, where Ultralytics' `export` writes them.
"""

from __future__ import annotations

import csv
import time
from pathlib import Path

from ultralytics.engine.exporter import export_formats
from ultralytics.utils import LOGGER

COLUMNS = ("format", "precision", "status", "file", "size_mb", "map50_95", "map50", "cdr", "fdr", "mdr",
           "inference_ms", "fps", "export_s")


def parse_formats(formats) -> list[str]:
    """'onnx,openvino' or ['onnx', 'openvino'] -> ['onnx', 'openvino'], each an Ultralytics export format or
    'pytorch' ('-' is Ultralytics' name for it).

    Raises:
        ValueError: an unknown format, with the valid ones.
    """
    if formats is None or formats == "":
        return ["onnx"]
    items = formats.split(",") if isinstance(formats, str) else [str(f) for f in formats]
    items = [f.strip().lower() for f in items if f.strip()]
    valid = [f for f in export_formats()["Argument"] if f != "-"]
    bad = [f for f in items if f not in valid and f not in ("pytorch", "-")]
    if bad:
        raise ValueError(f"formats={','.join(bad)} unknown; valid: pytorch, {', '.join(valid)}")
    return ["pytorch" if f == "-" else f for f in dict.fromkeys(items)]


def size_mb(path: str | Path) -> float:
    """Size of a file, or of every file under a folder (OpenVINO, TF SavedModel), in MB (1e6 bytes)."""
    p = Path(path)
    files = [p] if p.is_file() else [f for f in p.rglob("*") if f.is_file()]
    return round(sum(f.stat().st_size for f in files) / 1e6, 2)


def _row(fmt: str, precision: str, **values) -> dict:
    return {c: values.get(c, "") for c in COLUMNS} | {"format": fmt, "precision": precision}


def _validate(family, file: str, data, imgsz: int, device, out: Path) -> dict:
    """Validate `file` (a checkpoint or an export) with `family`'s validator at batch 1; metrics of a row.

    `rect=False` also for the PyTorch row: a checkpoint's own validation letterboxes to rect batch shapes with half a
    stride of padding (352 px at imgsz=320), a fixed-shape export to imgsz; the rows would not see the same pixels.
    """
    m = family(file).val(data=data, imgsz=imgsz, batch=1, device=device, conf=0.001, rect=False, plots=False,
                         verbose=False, project=str(out), name="val", exist_ok=True)
    extra = getattr(m, "extra", None) or {}
    t = float(m.speed["inference"])
    return {"map50_95": round(float(m.box.map), 4), "map50": round(float(m.box.map50), 4),
            "cdr": extra.get("CDR@0.5", ""), "fdr": extra.get("FDR@0.5", ""), "mdr": extra.get("MDR@0.5", ""),
            "inference_ms": round(t, 2), "fps": round(1000 / max(t, 1e-3), 1)}


def benchmark_formats(model, data, formats=None, imgsz: int = 640, quantize=None, device="cpu",
                      out: str | Path | None = None, **export_args) -> list[dict]:
    """Rows for PyTorch fp32 and each of `formats` (module docstring); `model` is a Detector holding weights.

    Args:
        model: a `Detector` (HSD, GJADet, ...) loaded from a checkpoint (the PyTorch row validates that file).
        data: catalog name or data YAML: calibration (INT8) and validation.
        formats: 'onnx,openvino' or a list; 'pytorch' is always the first row.
        quantize: None (fp32), 16 or 8, passed to every export.
        export_args: passed to every export only, e.g. split='train' / calib_images for INT8 calibration
            (validation is always on the data's val split).
        out: folder for benchmark.csv and the validation runs (exports land beside the weights, as Ultralytics'
            `export` puts them).

    Raises:
        ValueError: no data, an unknown format, or a model that holds no weights file.
    """
    if not data:
        raise ValueError("benchmark needs data= (a catalog name or a data YAML) to validate every format on")
    weights = model.ckpt_path or (str(model.model_name) if str(model.model_name).endswith(".pt") else None)
    if not weights:
        raise ValueError("benchmark compares a trained model's formats: give model=path/to/best.pt, not a YAML")
    fmts = [f for f in parse_formats(formats) if f != "pytorch"]
    out = Path(out or Path("runs/benchmark") / Path(weights).stem).resolve()
    out.mkdir(parents=True, exist_ok=True)
    precision = {None: "fp32", 32: "fp32", 16: "fp16", 8: "int8"}.get(quantize, str(quantize))
    rows = [_row("pytorch", "fp32", status="ok", file=weights, size_mb=size_mb(weights),
                 **_validate(type(model), weights, data, imgsz, device, out))]
    for fmt in fmts:
        t0 = time.perf_counter()
        try:
            file = model.export(format=fmt, imgsz=imgsz, quantize=quantize, data=data, device=device, **export_args)
        except Exception as e:  # a status table: the failure is a row, the other formats go on
            LOGGER.error(f"benchmark: {fmt} export failed: {e}")
            rows.append(_row(fmt, precision, status=f"export failed: {type(e).__name__}: {e}"[:200]))
            continue
        export_s = round(time.perf_counter() - t0, 1)
        try:
            metrics = _validate(type(model), file, data, imgsz, device, out)
            rows.append(_row(fmt, precision, status="ok", file=file, size_mb=size_mb(file), export_s=export_s,
                             **metrics))
        except Exception as e:
            LOGGER.error(f"benchmark: {fmt} validation failed: {e}")
            rows.append(_row(fmt, precision, status=f"validation failed: {type(e).__name__}: {e}"[:200], file=file,
                             size_mb=size_mb(file), export_s=export_s))
    with open(out / "benchmark.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=COLUMNS)
        w.writeheader()
        w.writerows(rows)
    LOGGER.info(format_table(rows) + f"\nbenchmark: {out / 'benchmark.csv'}")
    return rows


def format_table(rows: list[dict]) -> str:
    """The rows as a fixed-width text table (format, precision, MB, mAP50-95, CDR, ms, FPS, ratio to PyTorch)."""
    base = next((r["inference_ms"] for r in rows if r["format"] == "pytorch" and r["inference_ms"] != ""), None)
    lines = [f"{'format':<12}{'precision':<10}{'MB':>8}{'mAP50-95':>10}{'CDR@0.5':>9}{'ms/img':>9}{'FPS':>8}"
             f"{'x PyTorch':>10}"]
    for r in rows:
        if r["status"] != "ok":
            lines.append(f"{r['format']:<12}{r['precision']:<10}  {r['status']}")
            continue
        ratio = f"{r['inference_ms'] / base:.2f}" if base else ""
        lines.append(f"{r['format']:<12}{r['precision']:<10}{r['size_mb']:>8}{r['map50_95']:>10.4f}"
                     f"{str(r['cdr']):>9}{r['inference_ms']:>9.2f}{r['fps']:>8.1f}{ratio:>10}")
    return "\n".join(lines)
