"""GPU check: one short AMP training per family on one GPU, then the same on two GPUs with DDP.

    python benchmarks/gpu_check.py [--out runs/gpu-check/gpu_check.md] [--epochs 3] [--imgsz 128] [--batch 8]
                                   [--fault-data fault-synth-tiny] [--crash-data crash-synth-tiny]

Rows: the HSD teacher; the HSD student distilled from that teacher's best.pt (LD); GJADet with GJR; an end-to-end
(NMS-free) HSD student. Each with amp=True on device=0, then on device=0,1 (DDP) when there are two CUDA devices
(otherwise the DDP rows are left out, and the output says so). Per row: seconds, whether the last epoch's training
losses are finite, skipped steps (nan_patience), mAP50-95 of the last epoch. --out: .json writes JSON, anything else
markdown. Without a CUDA device it stops at once with exit status 2; exit status 1 when a row failed or a loss was
not finite. The tests of this script run on the CPU (tests/benchmarks/test_bench_gpu_check.py).
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
import time
from pathlib import Path

import torch

NO_CUDA = "gpu_check: no CUDA device found (torch.cuda.is_available() is False); this check needs a GPU"


def parse(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="runs/gpu-check/gpu_check.md", help="table file: .json for JSON, else markdown")
    ap.add_argument("--project", default="runs/gpu-check", help="folder of the training runs")
    ap.add_argument("--fault-data", default="fault-synth-tiny", help="catalog name or data YAML of the HSD rows")
    ap.add_argument("--crash-data", default="crash-synth-tiny", help="catalog name or data YAML of the GJADet row")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--imgsz", type=int, default=128)
    ap.add_argument("--batch", type=int, default=8, help="total batch (split across the GPUs under DDP)")
    return ap.parse_args(argv)


def end2end_yaml(folder: Path) -> str:
    """The HSD student's YAML with the one-to-one (NMS-free) branch on."""
    from ultralytics.utils import YAML

    from ext.nn.tasks import load_model_yaml

    path = folder / "hsd-n-end2end.yaml"
    folder.mkdir(parents=True, exist_ok=True)
    YAML.save(path, {**load_model_yaml("hsd-n.yaml"), "end2end": True})
    return str(path)


def last_epoch(save_dir: Path) -> dict:
    """The last results.csv row: losses finite?, skipped steps, mAP50-95."""
    row = list(csv.DictReader(open(save_dir / "results.csv")))[-1]
    row = {k.strip(): float(v) for k, v in row.items()}
    losses = [v for k, v in row.items() if k.startswith("train/") and k.endswith("loss")]
    return {"losses_finite": bool(losses) and all(math.isfinite(v) for v in losses),
            "skipped_steps": int(row.get("train/skipped_steps", 0)), "mAP50-95": round(row["metrics/mAP50-95(B)"], 4)}


def run_row(name: str, family, model: str, device: str, a, **extra) -> dict:
    """Train one row; a failure is a row with its error, not the end of the check."""
    row = {"row": name, "device": device, "amp": True, "DDP": "," in device}
    t = time.perf_counter()
    try:
        m = family(model)
        m.train(data=extra.pop("data"), epochs=a.epochs, imgsz=a.imgsz, batch=a.batch, device=device, amp=True,
                project=a.project, name=f"{name}-{device.replace(',', '_')}", exist_ok=True, plots=False, **extra)
        save_dir = Path(m.trainer.save_dir)
        amp = getattr(m.trainer, "amp", None)  # what Ultralytics' AMP check left on (unknown in a DDP parent)
        row.update(amp=True if amp is None else bool(amp), seconds=round(time.perf_counter() - t, 1),
                   **last_epoch(save_dir), best=str(save_dir / "weights" / "best.pt"))
    except Exception as e:  # noqa: BLE001 - reported in the table
        row.update(seconds=round(time.perf_counter() - t, 1), losses_finite=False, error=f"{type(e).__name__}: {e}")
    return row


def rows_on(device: str, a) -> list[dict]:
    import ext

    teacher = run_row("hsd-teacher", ext.HSD, "hsd-teacher-n.yaml", device, a, data=a.fault_data)
    out = [teacher]
    if "best" in teacher:
        out.append(run_row("hsd-student-ld", ext.HSD, "hsd-n.yaml", device, a, data=a.fault_data,
                           distill_model=teacher["best"], ld_weight=0.25))
    out.append(run_row("gjadet-gjr", ext.GJADet, "gjadet-n.yaml", device, a, data=a.crash_data, cls_loss="gjr"))
    out.append(run_row("hsd-end2end", ext.HSD, end2end_yaml(Path(a.project)), device, a, data=a.fault_data))
    return out


def table(rows: list[dict], notes: list[str]) -> str:
    cols = ["row", "device", "amp", "DDP", "seconds", "losses_finite", "skipped_steps", "mAP50-95", "error"]
    lines = ["| " + " | ".join(cols) + " |", "|" + " --- |" * len(cols)]
    lines += ["| " + " | ".join(str(r.get(c, "")) for c in cols) + " |" for r in rows]
    return "\n".join([*lines, "", *notes]) + "\n"


def main(argv=None) -> int:
    a = parse(argv)
    if not torch.cuda.is_available() or torch.cuda.device_count() < 1:
        print(NO_CUDA, file=sys.stderr)
        return 2
    n = torch.cuda.device_count()
    notes = [f"{n} CUDA device(s): {', '.join(torch.cuda.get_device_name(i) for i in range(n))}; "
             f"torch {torch.__version__}; epochs {a.epochs}, imgsz {a.imgsz}, batch {a.batch}"]
    rows = rows_on("0", a)
    if n >= 2:
        rows += rows_on("0,1", a)
    else:
        notes.append("DDP rows skipped: fewer than 2 CUDA devices")
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    text = table(rows, notes)
    out.write_text(json.dumps({"rows": rows, "notes": notes}, indent=1) if out.suffix == ".json" else text)
    print(text + f"written to {out}")
    return 0 if all(r.get("losses_finite") and "error" not in r for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
