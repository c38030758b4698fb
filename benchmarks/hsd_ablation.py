"""HSD ablation on real track images: student alone / in the distillation wrapper with no distillation loss (a
control) / + feature distillation (dis) / + LD / + both, the teacher, YOLO11n and YOLO26n, at equal budgets over
several seeds; writes a markdown table to docs/.

    python benchmarks/hsd_ablation.py [--data rail-tracks] [--epochs 60] [--imgsz 320] [--seeds 0 1 2]
                                      [--device cpu] [--out docs/hsd_benchmark_<data>.md] [--teacher-epochs N]

Every run trains from scratch with the same epochs, image size, batch and seed. The teacher of a seed is
trained once and distils that seed's students. Each best.pt is validated with the HSD validator (mAP50-95 and
the image-level CDR at score 0.5). Latency: ONNX Runtime CPU, batch 1, 640 px, median, in the same run as YOLO11n
(benchmarks/latency.py).
"""

from __future__ import annotations

import datetime
import tempfile
from pathlib import Path

import numpy as np

import ext
from ext.models.report import evaluate

from latency import export, measure
from runs import command_line, train_or_reuse, training_parser, write_report

STUDENT = "hsd-n.yaml"
TEACHER = "hsd-teacher-n.yaml"
LD_TAG = "-sum"  # LD runs since the term became a sum over positives (was a mean: runs named without it)
ROWS = [  # label, model, extra training arguments (teacher path filled in per seed)
    ("student", STUDENT, {}),
    ("student + wrapper (no KD)", STUDENT, {"distill": True, "dis": 0.0, "ld_weight": 0.0}),  # control: teacher, no loss
    ("student + dis (feature KD)", STUDENT, {"distill": True, "dis": 6.0, "ld_weight": 0.0}),
    ("student + LD", STUDENT, {"distill": True, "dis": 0.0, "ld_weight": 0.25}),
    ("student + dis + LD", STUDENT, {"distill": True, "dis": 6.0, "ld_weight": 0.25}),
    ("teacher", TEACHER, {}),
    ("YOLO11n", "yolo11n.yaml", {}),
    ("YOLO26n", "yolo26n.yaml", {}),
]


def scores(e: dict) -> tuple[float, float]:
    """The table's figures of an evaluation (`evaluate` with the HSD validator): (mAP50-95, CDR@0.5)."""
    return e["mAP50-95"], float(e["extra"].get("CDR@0.5", float("nan")))


def main(argv=None) -> None:
    ap = training_parser(__doc__.splitlines()[0], data="rail-tracks", epochs=60, batch=16, project="runs/bench-hsd",
                         out_help="default docs/hsd_benchmark_<data>.md")
    ap.add_argument("--teacher", default=TEACHER, help="teacher YAML, e.g. hsd-teacher-s.yaml for a stronger one")
    ap.add_argument("--teacher-epochs", type=int, default=None, help="teacher trained longer (default: --epochs)")
    ap.add_argument("--ld-weight", type=float, default=0.25)
    ap.add_argument("--ld-T", type=float, default=15.0)
    ap.add_argument("--rows", nargs="+", default=None, help="only these row labels, e.g. student 'student + LD'")
    a = ap.parse_args(argv)
    a.out = a.out or f"docs/hsd_benchmark_{Path(a.data).stem}.md"
    a.teacher_epochs = a.teacher_epochs or a.epochs
    unknown = set(a.rows or ()) - {label for label, _, _ in ROWS}
    if unknown:
        ap.error(f"unknown rows {sorted(unknown)}; valid: {[label for label, _, _ in ROWS]}")
    rows = [(label, a.teacher if cfg == TEACHER else cfg,
             {**extra, **({"ld_weight": a.ld_weight, "ld_T": a.ld_T} if extra.get("ld_weight") else {})})
            for label, cfg, extra in ROWS if a.rows is None or label in a.rows]
    with tempfile.TemporaryDirectory() as tmp:  # latency first, all models in one interleaved run
        cfgs = sorted({cfg for _, cfg, _ in rows} | {"yolo11n.yaml"})  # the latency baseline
        files, info = {}, {}
        for c in cfgs:
            files[c], info[c] = export(c, 640, Path(tmp))
        lat = measure(files, 640, runs=50)
    results = {label: [] for label, _, _ in rows}
    for seed in a.seeds:
        base = dict(data=a.data, epochs=a.epochs, imgsz=a.imgsz, batch=a.batch, device=a.device, seed=seed,
                    project=str(Path(a.project).resolve()), exist_ok=True, plots=False, workers=2)
        tag = "" if a.teacher == TEACHER else f"-{Path(a.teacher).stem}"  # other teachers: other run names
        tag += "" if a.teacher_epochs == a.epochs else f"-e{a.teacher_epochs}"
        ld = "" if (a.ld_weight, a.ld_T) == (0.25, 15.0) else f"-w{a.ld_weight}-T{a.ld_T}"
        teacher = train_or_reuse(a.teacher, {**base, "epochs": a.teacher_epochs}, f"teacher{tag}-s{seed}")
        for label, cfg, extra in rows:
            extra = dict(extra)
            if extra.pop("distill", False):
                extra["distill_model"] = teacher
            distilled = "distill_model" in extra  # only these depend on the teacher and the LD settings
            ld_name = f"{LD_TAG}{ld}" if extra.get("ld_weight") else ""
            name = f"{label.replace(' ', '')}{tag if distilled else ''}{ld_name}-s{seed}"
            best = teacher if label == "teacher" else train_or_reuse(cfg, {**base, **extra}, name)
            results[label].append(scores(evaluate(best, base, ext.HSD, project=base["project"], name="val",
                                                  exist_ok=True)))
        write_table(a, argv, rows, results, info, lat)  # after every seed, so a cut-short run still reports


def write_table(a, argv, rows: list, results: dict, info: dict, lat: dict) -> None:
    seeds = a.seeds[: len(next(iter(results.values())))]
    lines = [f"# HSD ablation on {a.data} ({datetime.date.today()})", "",
             f"Command: `{command_line('hsd_ablation.py', argv)}`", "",
             f"From scratch, {a.epochs} epochs, {a.imgsz} px, batch {a.batch}, seeds {seeds} (of {a.seeds} asked); "
             "mean ± std over seeds. Latency: ONNX Runtime CPU, batch 1, 640 px, median of 50 interleaved runs, "
             f"ratio to YOLO11n in the same run. CDR@0.5: image-level correct-detection rate at score 0.5. Teacher "
             f"{a.teacher} ({a.teacher_epochs} epochs); LD weight {a.ld_weight}, temperature {a.ld_T}.", "",
             "| model | params | GFLOPs | latency x YOLO11n | mAP50-95 | CDR@0.5 | per seed mAP50-95 |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for label, cfg, _ in rows:
        r = np.array(results[label])
        lines.append(f"| {label} | {info[cfg]['params']:,} | {info[cfg]['GFLOPs']:.2f} | "
                     f"{lat[cfg] / lat['yolo11n.yaml']:.2f} | {r[:, 0].mean():.3f} ± {r[:, 0].std():.3f} | "
                     f"{r[:, 1].mean():.3f} ± {r[:, 1].std():.3f} | {', '.join(f'{x:.3f}' for x in r[:, 0])} |")
    write_report(a.out, lines)


if __name__ == "__main__":
    main()
