"""GJADet ablation: plain PAFPN + BCE, + Ultralytics' class weighting (cls_pw), + adaptive neck, + GJR, neck + GJR,
at equal budgets over several seeds; writes a markdown table to docs/.

    python benchmarks/gjadet_ablation.py [--data crash-synth] [--epochs 60] [--imgsz 320] [--seeds 0 1 2]
                                         [--device cpu] [--out docs/gjadet_benchmark_crash-synth.md]

The plain model is Ultralytics' YOLOv8n (the PAFPN that gjadet.yaml extends, same backbone); the adaptive-neck
model is gjadet-n.yaml. Each best.pt is validated with the GJADet validator: mAP50-95, rare-group AP
(classes < 5 % of training instances) and COCO AP_small. Latency: ONNX Runtime CPU, batch 1, 640 px, median,
relative to the plain model in the same run (benchmarks/latency.py).
"""

from __future__ import annotations

import argparse
import datetime
import sys
import tempfile
from pathlib import Path

import numpy as np

import ext

sys.path.insert(0, str(Path(__file__).parent))
from latency import export, measure  # noqa: E402

PLAIN, NECK = "yolov8n.yaml", "gjadet-n.yaml"
ROWS = [
    ("PAFPN + BCE", PLAIN, {"cls_loss": "bce"}),
    ("PAFPN + BCE + cls_pw=1", PLAIN, {"cls_loss": "bce", "cls_pw": 1.0}),
    ("adaptive neck + BCE", NECK, {"cls_loss": "bce"}),
    ("PAFPN + GJR", PLAIN, {"cls_loss": "gjr"}),
    ("adaptive neck + GJR", NECK, {"cls_loss": "gjr"}),
]


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="crash-synth")
    ap.add_argument("--epochs", type=int, default=60)
    ap.add_argument("--imgsz", type=int, default=320)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--project", default="runs/bench-gjadet")
    ap.add_argument("--out", default=None)
    a = ap.parse_args(argv)
    out = a.out or f"docs/gjadet_benchmark_{a.data}.md"
    results = {label: [] for label, _, _ in ROWS}
    for seed in a.seeds:
        base = dict(data=a.data, epochs=a.epochs, imgsz=a.imgsz, batch=a.batch, device=a.device, seed=seed,
                    project=str(Path(a.project).resolve()), exist_ok=True, plots=False, workers=2)
        for label, cfg, extra in ROWS:
            model = ext.GJADet(cfg)
            model.train(**base, **extra, iou_loss="ciou", name=f"{label.replace(' ', '')}-s{seed}")
            m = ext.GJADet(str(model.trainer.best)).val(data=a.data, imgsz=a.imgsz, batch=a.batch, device=a.device,
                                                       plots=False, verbose=False, project=base["project"],
                                                       name="val", exist_ok=True)
            results[label].append((m.box.map, m.box.mp, m.extra["AP_rare"], m.extra["AP_small"]))
    with tempfile.TemporaryDirectory() as tmp:
        files = {c: export(c, 640, Path(tmp))[0] for c in (PLAIN, NECK)}
        lat = measure(files, 640, runs=50)
    lines = [f"# GJADet ablation on {a.data} ({datetime.date.today()})", "",
             f"Command: `python benchmarks/gjadet_ablation.py {' '.join(sys.argv[1:] if argv is None else argv)}`", "",
             f"From scratch, {a.epochs} epochs, {a.imgsz} px, batch {a.batch}, seeds {a.seeds}; mean ± std over seeds.",
             "", "| model | latency x plain | mAP50-95 | precision | AP rare | AP small |",
             "| --- | --- | --- | --- | --- | --- |"]
    for label, cfg, _ in ROWS:
        r = np.array(results[label], dtype=float)
        cells = [f"{np.nanmean(r[:, i]):.3f} ± {np.nanstd(r[:, i]):.3f}" for i in range(4)]
        lines.append(f"| {label} | {lat[cfg] / lat[PLAIN]:.2f} | " + " | ".join(cells) + " |")
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
