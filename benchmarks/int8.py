"""INT8 against fp32 for every family: ONNX Runtime CPU latency, and accuracy after quantization.

    python benchmarks/int8.py --part latency [--imgsz 640] [--runs 30] [--repeats 3] [--openvino]
                                                                                   # -> docs/int8_latency.md
    python benchmarks/int8.py --part accuracy [--imgsz 320] [--openvino]                 # -> docs/int8_accuracy.md
    python benchmarks/int8.py --part profile [--imgsz 640] [--runs 30]                   # -> docs/int8_profile.md

latency: YOLO11n, YOLO26n, the HSD student, the HSD teacher and GJADet (random weights: latency does not depend on
them), each exported to ONNX fp32, to INT8 by `ext` (`model.export(format="onnx", quantize=8, data=...)`: U8S8 QDQ,
decode in float, ext/deploy/export.py) and to INT8 as Ultralytics' own exporter makes it (Conv-only S8S8,
`ultralytics.YOLO(...).export`), calibrated on fault-synth; batch 1, median of --runs interleaved runs after warm-up,
--repeats times; ratios to YOLO11n fp32 in the same repeat. Plus images per second at batch 8 for the student.
With --openvino, also each model in OpenVINO fp32 and INT8 (Ultralytics' NNCF path, same calibration images), run
by OpenVINO's CPU plugin with its latency hint (benchmarks/latency.py `runner`).

accuracy: the finished seed-0 checkpoints of benchmarks/small_targets.py (rail-tracks and fault-synth, trained at
320 px) exported fp32 and INT8 (calibrated on the training split, `calib_images` 300, validated on the validation
split through Ultralytics' ONNX backend): mAP50-95, its drop, and class agreement: the share of fp32 boxes (score
>= 0.25) that an INT8 box of the same class overlaps with IoU >= 0.5. With --openvino, also OpenVINO INT8 (NNCF).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import shutil
import tempfile
from pathlib import Path

import numpy as np

import ext
from ext.data import resolve_data
from ext.models import family_of

from latency import measure
from runs import command_line, cpu_description, write_report

MODELS = ["yolo11n.yaml", "yolo26n.yaml", "hsd-n.yaml", "hsd-teacher-n.yaml", "gjadet-n.yaml"]
CHECKPOINTS = {  # data -> (label, run folder under runs/bench-small/<data>)
    "rail-tracks": [("YOLO11n", "YOLO11n-s0"), ("YOLO26n", "YOLO26n-s0"),
                    ("HSD student", "HSDstudent_16bins_prior-s0"), ("HSD teacher", "HSDteacher_16bins_prior-s0"),
                    ("GJADet", "GJADet_16bins_prior-s0")],
    "fault-synth": [("HSD student", "HSDstudent_16bins_prior-s0-nbs8"),
                    ("HSD teacher", "HSDteacher_16bins_prior-s0-nbs8")],
}


ONNX_KINDS = ("fp32", "int8", "int8 (Ultralytics)")
OPENVINO_KINDS = ("openvino fp32", "openvino int8")


def exports(model_or_cfg, imgsz: int, data: str, out: Path, batch: int = 1, split: str = "val",
            kinds=ONNX_KINDS) -> dict[str, str]:
    """fp32, INT8 (ext) and INT8 (Ultralytics' own exporter, `Model.export` itself) ONNX files of one model; with
    OPENVINO_KINDS also OpenVINO fp32 and INT8 (Ultralytics' NNCF path, calibrated on the same images)."""
    from ultralytics.engine.model import Model

    stem = Path(str(model_or_cfg)).stem
    files = {}
    with contextlib.chdir(out):  # YAML exports land in the working directory
        for kind in kinds:
            fmt = "openvino" if kind.startswith("openvino") else "onnx"
            keys = dict(format=fmt, imgsz=imgsz, batch=batch, device="cpu", verbose=False)
            if "int8" in kind:
                keys.update(quantize=8, data=resolve_data(data), split=split)
            m = family_of(str(model_or_cfg))(model_or_cfg)
            f = Model.export(m, **keys) if kind == "int8 (Ultralytics)" else m.export(**keys)
            tag = kind.replace(" (Ultralytics)", "-u").replace(" ", "-")
            suffix = ".onnx" if fmt == "onnx" else "_openvino_model"  # how Ultralytics' backend tells the format
            files[kind] = str(shutil.move(f, out / f"{stem}-{tag}-b{batch}-{imgsz}{suffix}"))
    return files


def latency_part(a) -> list[str]:
    with tempfile.TemporaryDirectory() as tmp:
        files = {}
        for cfg in MODELS:
            kinds = ONNX_KINDS + (OPENVINO_KINDS if a.openvino else ())
            for kind, f in exports(cfg, a.imgsz, "fault-synth", Path(tmp), kinds=kinds).items():
                files[f"{Path(cfg).stem} {kind}"] = f
        repeats = [measure(files, a.imgsz, a.runs, warmup=5) for _ in range(a.repeats)]
        student = exports("hsd-n.yaml", a.imgsz, "fault-synth", Path(tmp), batch=8)
        burst = {k: 8e3 / measure({k: f}, a.imgsz, max(a.runs // 3, 5), warmup=5, batch=8)[k]
                 for k, f in student.items() if k != "int8 (Ultralytics)"}
    base = "yolo11n fp32"
    engines = "ONNX Runtime and OpenVINO" if a.openvino else "ONNX Runtime"
    lines = [f"# INT8 latency, {engines} CPU ({datetime.date.today()})", "",
             f"Command: `{command_line('int8.py', a.argv)}`", "",
             f"{a.imgsz} px, batch 1, median of {a.runs} interleaved runs, {a.repeats} repeats (the machine otherwise "
             "idle); x11n: ratio to YOLO11n fp32 in the same repeat (median over repeats, range).", "",
             f"CPU: {cpu_description()}.", "",
             "| model | ms | x11n | x11n range |", "| --- | --- | --- | --- |"]
    for k in files:
        ms = np.array([r[k] for r in repeats])
        ratio = np.array([r[k] / r[base] for r in repeats])
        lines.append(f"| {k} | {np.median(ms):.1f} | {np.median(ratio):.2f} | {ratio.min():.2f}-{ratio.max():.2f} |")
    lines += ["", "HSD student at batch 8 (line-scan bursts): "
              + ", ".join(f"{k} {v:.1f} images/s" for k, v in burst.items()) + "."]
    if a.openvino:  # 'fp32' is the model's precision: OpenVINO's CPU plugin computes in bf16 where the CPU has it
        import openvino as ov

        precision = ov.Core().get_property("CPU", "INFERENCE_PRECISION_HINT")
        lines += ["", f"OpenVINO's CPU inference precision for the 'openvino fp32' rows on this CPU: {precision} "
                  "(its default `INFERENCE_PRECISION_HINT`: bf16 where the CPU computes bf16 natively, e.g. AMX)."]
    return lines


def agreement(r32, r8) -> float:
    """Share of fp32 boxes (score >= 0.25) met by an INT8 box of the same class with IoU >= 0.5 (NaN: none)."""
    from ultralytics.utils.metrics import box_iou

    a, b = r32.boxes[r32.boxes.conf >= 0.25], r8.boxes[r8.boxes.conf >= 0.25]
    if not len(a):
        return float("nan")
    if not len(b):
        return 0.0
    iou = box_iou(a.xyxy, b.xyxy) * (a.cls[:, None] == b.cls[None])
    return float((iou.max(1).values >= 0.5).float().mean())


def accuracy_part(a) -> list[str]:
    from ultralytics import YOLO

    int8 = ["int8", "int8 (Ultralytics)"] + (["openvino int8"] if a.openvino else [])
    head = {"int8": "INT8 (ext)", "int8 (Ultralytics)": "INT8 (Ultralytics)", "openvino int8": "OpenVINO INT8"}
    lines = [f"# INT8 accuracy ({datetime.date.today()})", "", f"Command: `{command_line('int8.py', a.argv)}`", "",
             f"Checkpoints of benchmarks/small_targets.py (seed 0), {a.imgsz} px; calibrated on the training split; "
             "mAP50-95 on the validation split through Ultralytics' ONNX (OpenVINO) backend; drop: ONNX fp32 minus "
             "INT8, in points; agreement: fp32 boxes (score >= 0.25) met by an INT8 box of the same class (IoU >= "
             "0.5), over the validation images.", "",
             "| data | model | mAP50-95 fp32 | " + " | ".join(f"{head[k]} | drop | agreement" for k in int8) + " |",
             "| --- | --- | --- | " + " | ".join("--- | --- | ---" for _ in int8) + " |"]
    for data, rows in CHECKPOINTS.items():
        yaml = resolve_data(data)
        images = sorted((Path(yaml).parent / "images" / "val").glob("*"))
        for label, run in rows:
            best = Path(a.project) / data / run / "weights" / "best.pt"
            if not best.is_file():
                lines.append(f"| {data} | {label} | (no finished run {run}) |" + " | | |" * len(int8))
                continue
            with tempfile.TemporaryDirectory() as tmp:
                files = exports(best, a.imgsz, data, Path(tmp), split="train", kinds=["fp32", *int8])
                maps = {k: float(ext.Detector(f).val(data=yaml, imgsz=a.imgsz, batch=1, plots=False, verbose=False,
                                                     device="cpu").box.map) for k, f in files.items()}
                m32 = YOLO(files["fp32"], task="detect")
                p32 = [m32.predict(str(i), imgsz=a.imgsz, verbose=False)[0] for i in images]
                agree = {}
                for k in int8:
                    m8 = YOLO(files[k], task="detect")
                    agree[k] = np.nanmean([agreement(r, m8.predict(str(i), imgsz=a.imgsz, verbose=False)[0])
                                           for i, r in zip(images, p32)])
            f32 = maps["fp32"]
            cells = [f"{maps[k]:.3f} | {100 * (f32 - maps[k]):+.1f} | {agree[k]:.2f}" for k in int8]
            lines.append(f"| {data} | {label} | {f32:.3f} | " + " | ".join(cells) + " |")
    return lines


def profile_part(a) -> list[str]:
    """Share of ONNX Runtime's kernel time per operator type, HSD student fp32 / INT8 (ext) / INT8 (Ultralytics)."""
    import collections
    import json

    import onnxruntime as ort

    lines = [f"# Where the INT8 time goes: ONNX Runtime profile of the HSD student ({datetime.date.today()})", "",
             f"Command: `{command_line('int8.py', a.argv)}`", "",
             f"{a.imgsz} px, batch 1, {a.runs} profiled runs after 3 warm-up runs; share of the summed kernel time "
             "per operator type (the top 8), as ONNX Runtime runs the graph after its own fusions.", ""]
    with tempfile.TemporaryDirectory() as tmp:
        for kind, f in exports("hsd-n.yaml", a.imgsz, "fault-synth", Path(tmp)).items():
            so = ort.SessionOptions()
            so.enable_profiling, so.profile_file_prefix = True, str(Path(tmp) / kind.split()[0])
            sess = ort.InferenceSession(f, so, providers=["CPUExecutionProvider"])
            x = np.random.default_rng(0).random((1, 3, a.imgsz, a.imgsz), dtype=np.float32)
            for _ in range(3 + a.runs):
                sess.run(None, {"images": x})
            by = collections.Counter()
            for e in json.loads(Path(sess.end_profiling()).read_text()):
                if e.get("cat") == "Node" and e["name"].endswith("_kernel_time"):
                    by[e["args"]["op_name"]] += e["dur"]
            total = sum(by.values())
            lines.append(f"- {kind}: " + ", ".join(f"{op} {100 * t / total:.0f} %" for op, t in by.most_common(8)))
    return lines


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--part", choices=("latency", "accuracy", "profile"), required=True)
    ap.add_argument("--imgsz", type=int, default=None, help="default 640 (latency, profile), 320 (accuracy)")
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--openvino", action="store_true", help="latency: also OpenVINO fp32 and INT8 (NNCF) rows")
    ap.add_argument("--project", default="runs/bench-small", help="where small_targets.py's runs are")
    ap.add_argument("--out", default=None, help="default docs/int8_<part>.md")
    a = ap.parse_args(argv)
    a.argv, a.imgsz = argv, a.imgsz or (320 if a.part == "accuracy" else 640)
    a.project = str(Path(a.project).resolve())
    lines = {"latency": latency_part, "accuracy": accuracy_part, "profile": profile_part}[a.part](a)
    write_report(a.out or f"docs/int8_{a.part}.md", lines)


if __name__ == "__main__":
    main()
