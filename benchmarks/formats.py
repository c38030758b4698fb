"""Which Ultralytics export formats work for each model family: export, load back with Ultralytics' AutoBackend,
compare the raw outputs with PyTorch fp32; writes a markdown table to docs/.

    python benchmarks/formats.py [--formats onnx torchscript openvino] [--imgsz 320] [--out docs/formats.md]

Only formats that need no download beyond their pip package are tried. A format whose package is not installed is
reported as such, not attempted. Random weights (the comparison does not depend on training).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import importlib.util
import platform
import tempfile
import time
from pathlib import Path

import torch

import ext
from ext.models import family_of

from runs import command_line, write_report

MODELS = ["hsd-n.yaml", "hsd-teacher-n.yaml", "gjadet-n.yaml", "gjadet-dyhead-n.yaml"]
PACKAGES = {"onnx": "onnxruntime", "torchscript": "torch", "openvino": "openvino"}


def check(cfg: str, fmt: str, imgsz: int) -> str:
    """Export `cfg` to `fmt`, run it through AutoBackend; return 'ok (max abs diff ...)' or the failure."""
    if importlib.util.find_spec(PACKAGES.get(fmt, fmt)) is None:
        return f"not installed (`pip install {PACKAGES.get(fmt, fmt)}`)"
    model = family_of(cfg)(cfg)
    with tempfile.TemporaryDirectory() as tmp, contextlib.chdir(tmp):  # exports land in the working directory
        return _check(model, fmt, imgsz)


def _check(model, fmt: str, imgsz: int) -> str:
    from ultralytics.nn.autobackend import AutoBackend

    try:
        t = time.perf_counter()
        f = model.export(format=fmt, imgsz=imgsz, device="cpu", verbose=False)
        dt = time.perf_counter() - t
        x = torch.rand(1, 3, imgsz, imgsz, generator=torch.Generator().manual_seed(0))
        with torch.no_grad():
            ref = model.model.float().eval()(x)
            out = AutoBackend(f, device=torch.device("cpu"), verbose=False)(x)
        ref, out = (y[0] if isinstance(y, (list, tuple)) else y for y in (ref, out))
        out = torch.as_tensor(out)
        if out.shape != ref.shape:
            return f"FAILED: output shape {tuple(out.shape)} != {tuple(ref.shape)}"
        return f"ok (max abs diff {float((out - ref).abs().max()):.1e}, export {dt:.0f} s)"
    except Exception as e:  # a status table: report the failure, keep going
        return f"FAILED: {type(e).__name__}: {str(e).splitlines()[0][:120] if str(e) else ''}"


def main(argv=None) -> str:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", default=MODELS)
    ap.add_argument("--formats", nargs="+", default=list(PACKAGES))
    ap.add_argument("--imgsz", type=int, default=320)
    ap.add_argument("--out", default="docs/formats.md")
    a = ap.parse_args(argv)
    versions = {p: _version(p) for p in sorted({PACKAGES.get(f, f) for f in a.formats})}
    lines = [f"# Export formats ({datetime.date.today()})", "",
             f"Command: `{command_line('formats.py', argv)}`", "",
             f"Machine: {platform.machine()}, {platform.system()}, Python {platform.python_version()}, ext "
             f"{ext.__version__}; " + ", ".join(f"{k} {v}" for k, v in versions.items()) + f". {a.imgsz} px, batch 1, "
             "random weights; exported with Ultralytics' exporter, loaded back with its AutoBackend, raw outputs "
             "compared with PyTorch fp32.", "",
             "| model | " + " | ".join(a.formats) + " |", "| --- | " + " | ".join("---" for _ in a.formats) + " |"]
    for m in a.models:
        lines.append(f"| {Path(m).stem} | " + " | ".join(check(m, f, a.imgsz) for f in a.formats) + " |")
    return write_report(a.out, lines)


def _version(pkg: str) -> str:
    try:
        from importlib.metadata import version

        return version(pkg)
    except Exception:
        return "not installed"


if __name__ == "__main__":
    main()
