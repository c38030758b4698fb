"""ONNX Runtime CPU latency of our models against YOLOv8n / YOLO11n / YOLO26n, measured in one run.

    python benchmarks/latency.py [--imgsz 320 640] [--runs 50] [--repeats 1] [--models hsd-n.yaml ...]
                                 [--swap-dfl] [--out docs/latency.md]

For each model (built from its YAML, random weights: latency does not depend on them): params, GFLOPs at 640,
ONNX file size, median ONNX Runtime latency (batch 1, after warm-up, one session per model, threads as ORT
chooses) at each size, and the ratio to YOLO11n measured in the same run. With `--repeats K` the whole
measurement is repeated K times (fresh sessions): the table gives the medians over the repeats and the range of
the ratio. `--swap-dfl` adds, per model, a row timed with the other DFL read-out (Ultralytics' `DFL` <-> our
`LastAxisDFL`, same outputs), for a like-for-like comparison. Rounds are interleaved (A B C A B C ...) so that
machine noise hits every model alike. When CUDA is present, PyTorch GPU latency (fused, fp16, batch 1,
median, synchronised) is added per size. Writes a markdown table with date, machine and command.
"""

from __future__ import annotations

import argparse
import datetime
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
from ultralytics.nn.modules.block import DFL

import ext
from ext.models import family_of
from ext.nn.modules.heads import LastAxisDFL

from runs import command_line, cpu_description, write_report

DEFAULT = ["yolov8n.yaml", "yolo11n.yaml", "yolo26n.yaml", "hsd-n.yaml", "hsd-paper-n.yaml", "hsd-teacher-n.yaml",
           "gjadet-n.yaml"]


SWAPPED = " (swapped DFL)"  # row suffix of --swap-dfl


def other_dfl(dfl: DFL) -> DFL:
    """A new read-out of the other kind (Ultralytics' `DFL` <-> our `LastAxisDFL`) with the weights, device, dtype
    and mode of `dfl`."""
    new = (DFL if type(dfl) is LastAxisDFL else LastAxisDFL)(dfl.c1)
    new.load_state_dict(dfl.state_dict())
    return new.to(dfl.conv.weight).train(dfl.training)


def swap_dfl(model) -> int:
    """Replace every Ultralytics `DFL` of `model` by our `LastAxisDFL` and vice versa (a new module with the same
    weights in its place: `other_dfl`); return how many were replaced."""
    new = {}  # id of a replaced read-out -> its replacement (one read-out held in two places stays one)
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if type(child) in (DFL, LastAxisDFL):
                if id(child) not in new:
                    new[id(child)] = other_dfl(child)
                setattr(parent, name, new[id(child)])
    return len(new)


def export(cfg: str, imgsz: int, out: Path) -> tuple[str, dict]:
    """Export `cfg` (random weights; a name ending in SWAPPED: with the other DFL read-out) to ONNX at `imgsz`;
    return the file and its params / GFLOPs."""
    from ultralytics.utils.torch_utils import get_flops

    swapped = cfg.endswith(SWAPPED)
    cfg = cfg.removesuffix(SWAPPED)
    model = family_of(cfg)(cfg)
    info = {"params": sum(p.numel() for p in model.model.parameters()), "GFLOPs": get_flops(model.model, 640)}
    if swapped and not swap_dfl(model.model):  # after get_flops: thop counts the two read-outs differently
        raise ValueError(f"{cfg} has no DFL read-out to swap")
    f = model.export(format="onnx", imgsz=imgsz, simplify=True, device="cpu", verbose=False)
    dst = out / f"{Path(cfg).stem}{'-swapped' if swapped else ''}-{imgsz}.onnx"
    Path(f).replace(dst)
    return str(dst), info


SPIN = "session.intra_op.allow_spinning"  # ONNX Runtime's session key for its threads' busy-wait


def runner(path: str | Path, spin: bool = False):
    """A callable running one input array through `path`: ONNX Runtime CPU for .onnx (threads as ORT chooses, but
    without busy-waiting between runs unless `spin`, so that interleaved models do not slow each other:
    `--spin-check`, docs/latency_spinning.md), OpenVINO CPU (latency hint, as Ultralytics' backend at batch 1) for
    an OpenVINO folder or .xml."""
    p = Path(path)
    if p.suffix == ".onnx":
        import onnxruntime as ort

        so = ort.SessionOptions()  # ORT's default busy-wait after a run slows the next session of a round
        so.add_session_config_entry(SPIN, "1" if spin else "0")
        s = ort.InferenceSession(str(p), so, providers=["CPUExecutionProvider"])
        name = s.get_inputs()[0].name
        return lambda x: s.run(None, {name: x})
    import openvino as ov

    xml = p if p.suffix == ".xml" else next(p.glob("*.xml"))
    request = ov.Core().compile_model(str(xml), "CPU", {"PERFORMANCE_HINT": "LATENCY"}).create_infer_request()
    return lambda x: request.infer({0: x})


def measure(files: dict[str, str], imgsz: int, runs: int, warmup: int = 10, batch: int = 1,
            spin: bool = False) -> dict[str, float]:
    """Median latency (ms) per model at `batch`, rounds interleaved across models (`runner`: ONNX or OpenVINO)."""
    runners = {k: runner(f, spin) for k, f in files.items()}
    x = np.random.default_rng(0).random((batch, 3, imgsz, imgsz), dtype=np.float32)
    for _ in range(warmup):
        for run in runners.values():
            run(x)
    times = {k: [] for k in runners}
    for _ in range(runs):
        for k, run in runners.items():
            t = time.perf_counter()
            run(x)
            times[k].append((time.perf_counter() - t) * 1e3)
    return {k: float(np.median(v)) for k, v in times.items()}


def gpu_latency(cfgs: list[str], imgsz: int, runs: int, warmup: int = 20, device: str = "cuda",
                half: bool = True) -> dict[str, float]:
    """Median PyTorch latency (ms) per model on `device`: fused, fp16 (`half`), batch 1, rounds interleaved, the
    device synchronised around each call (CUDA)."""
    import torch

    dtype = torch.half if half else torch.float
    nets = {c: family_of(c)(c).model.fuse().to(device, dtype).eval() for c in cfgs}
    x = torch.rand(1, 3, imgsz, imgsz, device=device, dtype=dtype)
    sync = torch.cuda.synchronize if torch.device(device).type == "cuda" else (lambda: None)
    times = {c: [] for c in cfgs}
    with torch.inference_mode():
        for i in range(warmup + runs):
            for c, net in nets.items():
                sync()
                t = time.perf_counter()
                net(x)
                sync()
                if i >= warmup:
                    times[c].append((time.perf_counter() - t) * 1e3)
    return {c: float(np.median(v)) for c, v in times.items()}


def spin_check(a) -> list[str]:
    """YOLO11n alone and interleaved with the HSD student, with and without ONNX Runtime's busy-waiting: why the
    runner turns it off (interleaved rounds are fair only if one model's waiting threads do not slow the next)."""
    lines = [f"# ONNX Runtime busy-waiting and interleaved rounds ({datetime.date.today()})", "",
             f"Machine: {cpu_description()}. Command: `{command_line('latency.py', a.argv)}`", "",
             f"Batch 1, median of {a.runs} runs after 10 warm-up runs, ms.", "",
             "| imgsz | ORT busy-wait | yolo11n alone | yolo11n interleaved | hsd-n interleaved | hsd-n / yolo11n |",
             "| --- | --- | --- | --- | --- | --- |"]
    with tempfile.TemporaryDirectory() as tmp:
        for sz in a.imgsz:
            files = {m: export(m, sz, Path(tmp))[0] for m in ("yolo11n.yaml", "hsd-n.yaml")}
            for spin in (True, False):
                alone = measure({"yolo11n.yaml": files["yolo11n.yaml"]}, sz, a.runs, spin=spin)["yolo11n.yaml"]
                both = measure(files, sz, a.runs, spin=spin)
                y, h = both["yolo11n.yaml"], both["hsd-n.yaml"]
                lines.append(f"| {sz} | {'on' if spin else 'off'} | {alone:.1f} | {y:.1f} | {h:.1f} | {h / y:.2f} |")
    return lines


def main(argv=None) -> str:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", default=DEFAULT)
    ap.add_argument("--imgsz", nargs="+", type=int, default=[320, 640])
    ap.add_argument("--runs", type=int, default=50)
    ap.add_argument("--repeats", type=int, default=1, help="repeat the measurement; report medians and ranges")
    ap.add_argument("--swap-dfl", action="store_true", help="also time each model with the other DFL read-out")
    ap.add_argument("--out", default=None, help="default docs/latency.md (docs/latency_spinning.md with --spin-check)")
    ap.add_argument("--spin-check", action="store_true", help="only: YOLO11n alone / interleaved, ORT busy-wait on/off")
    a = ap.parse_args(argv)
    if a.spin_check:
        a.argv = argv
        write_report(a.out or "docs/latency_spinning.md", spin_check(a))
        return
    a.out = a.out or "docs/latency.md"
    if a.swap_dfl:  # models without a DFL read-out (reg_max 1, e.g. YOLO26) get no second row
        a.models = [m for c in a.models for m in (c, c + SWAPPED) if m == c or swap_dfl(family_of(c)(c).model)]
    import torch

    cuda = torch.cuda.is_available()
    rows = {m: {} for m in a.models}
    with tempfile.TemporaryDirectory() as tmp:
        for sz in a.imgsz:
            files = {}
            for m in a.models:
                files[m], info = export(m, sz, Path(tmp))
                rows[m].update(info)
                rows[m][f"onnx_MB@{sz}"] = Path(files[m]).stat().st_size / 1e6
            lats = [measure(files, sz, a.runs) for _ in range(a.repeats)]
            for m in a.models:
                ratios = [lat[m] / lat["yolo11n.yaml"] if "yolo11n.yaml" in lat else float("nan") for lat in lats]
                rows[m][f"ms@{sz}"] = float(np.median([lat[m] for lat in lats]))
                rows[m][f"x11n@{sz}"] = float(np.median(ratios))
                if a.repeats > 1:
                    rows[m][f"x11n range@{sz}"] = f"{min(ratios):.2f}-{max(ratios):.2f}"
            if cuda:
                for m, ms in gpu_latency([m for m in a.models if not m.endswith(SWAPPED)], sz, a.runs).items():
                    rows[m][f"gpu_ms@{sz}"] = ms
    keys = ("onnx_MB", "ms", "x11n") + (("x11n range",) if a.repeats > 1 else ()) + (("gpu_ms",) if cuda else ())
    cols = ["params", "GFLOPs"] + [f"{k}@{s}" for s in a.imgsz for k in keys]
    gpu = f" GPU: {torch.cuda.get_device_name(0)}, PyTorch fp16 (`gpu_ms`)." if cuda else " No CUDA device: no GPU timing."
    lines = [
        f"# ONNX Runtime CPU latency ({datetime.date.today()})",
        "",
        f"Machine: {cpu_description()}, {platform.system()}, Python {platform.python_version()}"
        f", ext {ext.__version__}. Batch 1, median of {a.runs} interleaved runs after 10 warm-up runs; `x11n` is the"
        " ratio to YOLO11n in the same run" + (f"; medians over {a.repeats} repeats of the whole measurement, with the"
        " range of the ratio" if a.repeats > 1 else "") + "." + gpu,
        "",
        f"Command: `{command_line('latency.py', argv)}`",
        "",
        "| model | " + " | ".join(cols) + " |",
        "| --- | " + " | ".join("---" for _ in cols) + " |",
    ]
    for m, r in rows.items():
        cells = [f"{r['params']:,}", f"{r['GFLOPs']:.2f}"] + [
            (f"{r[c]:.2f}" if isinstance(r[c], float) else r[c]) if c in r else "-" for c in cols[2:]]
        name = Path(m.removesuffix(SWAPPED)).stem + (SWAPPED if m.endswith(SWAPPED) else "")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return write_report(a.out, lines)


if __name__ == "__main__":
    main()
