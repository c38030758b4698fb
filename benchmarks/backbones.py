"""The backbones of the crash study with GJADet's adaptive PAFPN neck: params, GFLOPs, ONNX export and ONNX Runtime
CPU latency relative to YOLO11n in the same run; writes a markdown table to docs/.

    python benchmarks/backbones.py [--imgsz 640] [--runs 20] [--scale n] [--out docs/backbones.md]

Random weights (latency does not depend on them). Each model is exported with Ultralytics' exporter (static shapes,
simplify on) and checked in ONNX Runtime against PyTorch; rounds are interleaved across models
(benchmarks/latency.py).
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import tempfile
from pathlib import Path

import numpy as np
import torch

import ext
from ext.models import family_of

from latency import export, measure
from runs import command_line, write_report

BACKBONES = [  # label, YAML stem, what
    ("CSPDarknet (YOLOv8)", "gjadet", "ours: gjadet.yaml"),
    ("Darknet-53", "gjadet-darknet", "Ultralytics Conv + Bottleneck"),
    ("ResNet-50", "gjadet-resnet", "torchvision via TorchVision"),
    ("ConvNeXt-T", "gjadet-convnext", "torchvision via TorchVision"),
    ("Swin-T", "gjadet-swin", "torchvision via TorchVision"),
    ("VGG-16", "gjadet-vgg", "torchvision via TorchVision"),
    ("DLA-34", "gjadet-dla", "our module (ext.nn.modules.DLA)"),
]


def parity(cfg: str, onnx_file: str, imgsz: int) -> float:
    """Max abs difference between ONNX Runtime and PyTorch fp32 raw outputs, boxes in units of the image size."""
    import onnxruntime as ort

    torch.manual_seed(0)
    net = family_of(cfg)(cfg).model.float().eval()
    x = torch.rand(1, 3, imgsz, imgsz)
    with torch.no_grad():
        ref = net(x)[0].numpy()
    sess = ort.InferenceSession(onnx_file, providers=["CPUExecutionProvider"])
    d = np.abs(sess.run(None, {sess.get_inputs()[0].name: x.numpy()})[0] - ref)
    return float(max(d[:, :4].max() / imgsz, d[:, 4:].max()))


def main(argv=None) -> str:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--imgsz", type=int, default=640)
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--scale", default="n", help="neck/head scale letter")
    ap.add_argument("--out", default="docs/backbones.md")
    a = ap.parse_args(argv)
    cfgs = {label: f"{stem}-{a.scale}.yaml" for label, stem, _ in BACKBONES}
    files, info, status = {}, {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        for label, cfg in [("YOLO11n", "yolo11n.yaml"), *cfgs.items()]:
            torch.manual_seed(0)
            try:
                files[label], info[label] = export(cfg, a.imgsz, Path(tmp))
                status[label] = f"yes ({parity(cfg, files[label], a.imgsz):.0e})"
            except Exception as e:  # a status table: report and go on
                status[label] = f"no: {type(e).__name__}: {str(e).splitlines()[0][:80] if str(e) else ''}"
        lat = measure(files, a.imgsz, runs=a.runs)
    lines = [f"# Backbones with the adaptive PAFPN neck ({datetime.date.today()})", "",
             f"Command: `{command_line('backbones.py', argv)}`", "",
             f"Machine: {platform.machine()}, {platform.system()}, {os.cpu_count()} cores, ext "
             f"{ext.__version__}. Each backbone with a 1x1 conv per level to the neck's width, the adaptive attention "
             f"PAFPN and Detect at scale {a.scale}, 5 classes, random weights. ONNX Runtime CPU, batch 1, {a.imgsz} px, "
             f"median of {a.runs} interleaved runs after 10 warm-up runs, as a ratio to YOLO11n in the same run. "
             "ONNX: exported (static, simplified) and run in ONNX Runtime; in brackets the max abs difference "
             "from PyTorch fp32 (boxes in units of the image size). Other necks: `-fpn`, `-pafpn`, `-dyhead` "
             "before the scale letter.", "",
             "| backbone | YAML | built from | params | GFLOPs | ONNX | latency ms | x YOLO11n |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    base = lat.get("YOLO11n", float("nan"))
    for label, stem, what in [("YOLO11n (reference)", "yolo11n", "Ultralytics"), *BACKBONES]:
        key = "YOLO11n" if stem == "yolo11n" else label
        i = info.get(key, {})
        ms = lat.get(key, float("nan"))
        lines.append(f"| {label} | `{stem}{'' if stem == 'yolo11n' else '-' + a.scale}.yaml` | {what} | "
                     f"{i.get('params', 0):,} | {i.get('GFLOPs', float('nan')):.1f} | {status[key]} | {ms:.0f} | "
                     f"{ms / base:.2f} |")
    return write_report(a.out, lines)


if __name__ == "__main__":
    main()
