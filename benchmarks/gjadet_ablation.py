"""GJADet ablation: the plain base (gjadet-pafpn-n.yaml: GJADet's layers and box start, Ultralytics' PAFPN) + BCE,
YOLOv8n + BCE, + Ultralytics' class weighting (cls_pw), + adaptive neck, + GJR, neck + GJR (and PAFPN + QFL, GJR
without its reweighting; with --variants also EQFL, repeat-factor sampling and the plain base widened to the
adaptive neck's latency, benchmarks/gjadet_neck.py), at equal
budgets over several seeds; writes a table to docs/. With --longtail, instead: YOLO26n against the GJADet default
with BCE, GJR, GJR beta=0, EQFL and repeat-factor sampling (meant for crash-synth-500, ~10x the optimizer steps).

    python benchmarks/gjadet_ablation.py [--data crash-synth] [--epochs 30] [--imgsz 320] [--batch 8] [--nbs 8]
                                         [--seeds 0 1 2] [--device cpu] [--out docs/gjadet_benchmark_<data>.md]
                                         [--variants | --longtail] [--rows LABEL ...] [--report-only]
    python benchmarks/gjadet_ablation.py --counts [--data crash-synth-500] [--rfs 1.0]  # -> docs/..._counts.md

The plain model is Ultralytics' YOLOv8n (the PAFPN that gjadet.yaml extends, same backbone and head); the
adaptive-neck model is gjadet-n.yaml. Every run uses CIoU, `val=False` (no per-epoch validation, so best.pt is the
last epoch: no selection on the validation set) and is restartable (finished runs are reused). Each best.pt is
validated with the GJADet validator: mAP50-95, precision, AP of the rare / common class groups (share of training
instances < 5 % / 5-25 %), COCO AP_small, per-class AP. Latency: ONNX Runtime CPU, batch 1, 640 px, median of 50
interleaved runs, relative to the plain model in the same run (benchmarks/latency.py). The table is rewritten after
every run, so a run cut short still reports; the metrics of finished runs are kept in
benchmarks/results/gjadet_ablation_<data>.json (committed), so a new checkout rebuilds the table without the runs.
"""

from __future__ import annotations

import datetime
import tempfile
from pathlib import Path

import numpy as np
from ultralytics.utils import YAML

import ext
from ext.data import resolve_data
from ext.data.repeat_factor import image_share, repeat_factors
from ext.metrics.longtail import class_groups, group_of, train_instance_counts
from ext.models.report import evaluate

from gjadet_neck import PARTS, variants, write_yamls, yaml_path
from latency import export, measure
from runs import Record, command_line, cpu_description, train_or_reuse, training_parser, write_report

PLAIN, NECK = "yolov8n.yaml", "gjadet-n.yaml"
BASE = "gjadet-pafpn-n.yaml"  # the plain base: GJADet's backbone, box start and trainer with Ultralytics' PAFPN
VARIANT_DIR = "runs/gjadet-neck"  # the neck variants' YAMLs, as benchmarks/gjadet_neck.py writes them
WIDE = str(yaml_path("plain PAFPN, neck x1.1 wide", VARIANT_DIR))  # the base widened past the adaptive neck's latency
ONE_PART = {p: str(yaml_path(f"adaptive ({p})", VARIANT_DIR)) for p in PARTS}  # the adaptive neck with one part only
ROWS = [  # label, model, extra training arguments; rows of the GJADet family (gjadet-*.yaml, the plain base too) pin
    # rfs to what they were trained with (the family default changed; 0 and 0.3 repeat no image of crash-synth,
    # crash-synth-500 and rail-tracks)
    # YOLOv8n's layers with GJADet's box start (dfl_prior 2)
    ("plain base + BCE", BASE, {"cls_loss": "bce", "rfs": 0.0}),
    ("PAFPN + BCE", PLAIN, {"cls_loss": "bce"}),  # Ultralytics' YOLOv8n: its own uniform box start
    ("PAFPN + BCE + cls_pw=1", PLAIN, {"cls_loss": "bce", "cls_pw": 1.0}),
    ("adaptive neck + BCE", NECK, {"cls_loss": "bce", "rfs": 0.0}),
    ("PAFPN + QFL", PLAIN, {"cls_loss": "qfl"}),  # GJR's element loss without its reweighting: a diagnostic row
    ("PAFPN + GJR", PLAIN, {"cls_loss": "gjr", "gjr_beta": 2.0}),  # GJR as published: quality-focal element
    ("adaptive neck + GJR", NECK, {"cls_loss": "gjr", "gjr_beta": 2.0, "rfs": 0.0}),
]
VARIANTS = [  # opt-in (--variants): what was tried to close GJR's gap to BCE
    ("PAFPN + GJR, beta=0", PLAIN, {"cls_loss": "gjr", "gjr_beta": 0.0}),  # GJR's reweighting over plain BCE
    # QFL's loss is ~10x below BCE's at cls=0.5
    ("PAFPN + GJR, cls=2", PLAIN, {"cls_loss": "gjr", "gjr_beta": 2.0, "cls": 2.0}),
    ("adaptive neck + GJR, beta=0", NECK, {"cls_loss": "gjr", "gjr_beta": 0.0, "rfs": 0.0}),
    # the closest prior art to GJR (EFL paper, CVPR 2022)
    ("adaptive neck + EQFL", NECK, {"cls_loss": "eqfl", "rfs": 0.3}),
    ("adaptive neck + BCE, rfs=0.3", NECK, {"cls_loss": "bce", "rfs": 0.3}),  # what the field does on the data side
    # the plain neck widened to the adaptive one's latency
    ("plain base x1.1 wide + BCE", WIDE, {"cls_loss": "bce", "rfs": 0.0}),
    ("plain base + BCE, rfs=0.3", BASE, {"cls_loss": "bce", "rfs": 0.3}),  # does the neck pay once the data side does
    # crash-synth-lt at rfs 0.3: 603 images an epoch for 512 (1.18x the steps); 25 epochs ~ 30 of 512 (0.98x)
    ("adaptive neck + BCE, rfs=0.3, 25 epochs", NECK, {"cls_loss": "bce", "rfs": 0.3, "epochs": 25}),
    ("adaptive neck + GJR, beta=0, rfs=0.3", NECK, {"cls_loss": "gjr", "gjr_beta": 0.0, "rfs": 0.3}),  # both sides
    # #32 item 2: statistics and suppression also at the assigner's candidates (anchors inside a ground-truth box)
    ("adaptive neck + GJR, beta=0, candidates", NECK,
     {"cls_loss": "gjr", "gjr_beta": 0.0, "gjr_region": "candidates", "rfs": 0.0}),
    ("adaptive neck + GJR, beta=0, candidates, rfs=0.3", NECK,
     {"cls_loss": "gjr", "gjr_beta": 0.0, "gjr_region": "candidates", "rfs": 0.3}),
    # #32 item 2, EQL-style ignoring: rare classes (< 5 % of the foreground anchors) lose their negatives there
    ("adaptive neck + EQL", NECK, {"cls_loss": "eql", "rfs": 0.0}),
    ("adaptive neck + EQL, rfs=0.3", NECK, {"cls_loss": "eql", "rfs": 0.3}),
    # rfs 1.0 also repeats the parts of crash-synth and crash-synth-500 (in 31-54 % of the images); "equal steps":
    # epochs cut to the optimizer steps of the other rows (equal_step_epochs), so only the sampling differs
    ("adaptive neck + GJR, beta=0, rfs=1.0, equal steps", NECK,
     {"cls_loss": "gjr", "gjr_beta": 0.0, "rfs": 1.0, "equal_steps": True}),
    ("plain base + BCE, rfs=1.0, equal steps", BASE, {"cls_loss": "bce", "rfs": 1.0, "equal_steps": True}),
    # GJR against BCE on the plain neck at the default sampling: does the loss pay without the neck
    ("plain base + GJR, beta=0, rfs=1.0, equal steps", BASE,
     {"cls_loss": "gjr", "gjr_beta": 0.0, "rfs": 1.0, "equal_steps": True}),
    # #32 item 2: the default with its reweighting paused for the first 5 epochs (`gjr_warmup`)
    ("adaptive neck + GJR, beta=0, rfs=1.0, equal steps, warm-up 5", NECK,
     {"cls_loss": "gjr", "gjr_beta": 0.0, "rfs": 1.0, "equal_steps": True, "gjr_warmup": 5}),
    # #32 item 3: which attention part carries the adaptive neck's gain (against 'adaptive neck + BCE')
    *((f"adaptive neck, {p} attention only + BCE", ONE_PART[p], {"cls_loss": "bce", "rfs": 0.0}) for p in PARTS),
]
LONGTAIL = [  # --longtail: the GJADet default against YOLO26n and the field's long-tail answers, on a larger set
    ("YOLO26n", "yolo26n.yaml", {"cls_loss": "bce"}),
    ("GJADet + BCE", NECK, {"cls_loss": "bce", "rfs": 0.0}),
    ("GJADet + GJR", NECK, {"cls_loss": "gjr", "gjr_beta": 2.0, "rfs": 0.0}),
    ("GJADet + GJR, beta=0", NECK, {"cls_loss": "gjr", "gjr_beta": 0.0, "rfs": 0.0}),
    ("GJADet + EQFL", NECK, {"cls_loss": "eqfl", "rfs": 0.0}),
    # rfs 0.3 repeats no image of crash-synth-500 (its rarest class is in 35 % of the images); at 1.0, 78 % of the
    # images repeat (up to 1.7x), so an epoch has 722 images for 512: 1.41x the steps of the other rows
    ("GJADet + BCE, rfs=1.0", NECK, {"cls_loss": "bce", "rfs": 1.0}),
    # the same at the other rows' optimizer steps: 21 epochs of 722 images ~ 30 of 512 (1,895 against 1,920 steps)
    ("GJADet + BCE, rfs=1.0, 21 epochs", NECK, {"cls_loss": "bce", "rfs": 1.0, "epochs": 21}),
]
COLS = ("mAP50-95", "precision", "AP rare", "AP common", "AP small")


def recorded(e: dict) -> dict:
    """What the record keeps of an evaluation (`evaluate` with the GJADet validator): the COLS values as 'row', the
    per-class mAP50-95 by class name and this machine."""
    row = [e["mAP50-95"], e["precision"], *(float(e["extra"][k]) for k in ("AP_rare", "AP_common", "AP_small"))]
    return {"row": row, "per_class": e["per_class"], "machine": cpu_description()}


def train_label_files(data: str) -> tuple[dict, list[Path]]:
    """(the data YAML of catalog entry or path `data`, its training split's YOLO label files, sorted)."""
    d = YAML.load(resolve_data(data))
    return d, sorted((Path(d["path"]) / "labels" / Path(d["train"]).name).glob("*.txt"))


def image_classes(files: list[Path]) -> list[np.ndarray]:
    """Per YOLO label file, the class ids of its boxes (int array)."""
    return [np.array([int(line.split()[0]) for line in f.read_text().splitlines() if line.strip()], dtype=int)
            for f in files]


def equal_step_epochs(data: str, epochs: int, batch: int, rfs: float) -> int:
    """Epochs of repeat-factor sampling at threshold `rfs` with about the optimizer steps of `epochs` plain epochs:
    epochs * ceil(N / batch) / ceil(L / batch), rounded, where N is the training split and L an rfs epoch."""
    d, files = train_label_files(data)
    length = round(repeat_factors(image_classes(files), len(d["names"]), rfs).sum())
    return max(1, round(epochs * -(-len(files) // batch) / -(-length // batch)))


def counts_report(a, argv) -> list[str]:
    """Per class of the training split: boxes, share of the boxes, group (what the validator's AP rare / common
    average over), images with the class and their share (what repeat-factor sampling reads), the class's repeat
    factor at `--rfs`; below, how many images repeat and the length of an rfs epoch."""
    d, files = train_label_files(a.data)
    per_image = image_classes(files)
    nc = len(d["names"])
    counts, share = train_instance_counts(files, nc), image_share(per_image, nc)
    group = group_of(class_groups(counts))
    r = repeat_factors(per_image, nc, a.rfs)
    lines = [f"# Training classes of {a.data} ({datetime.date.today()})", "",
             f"Command: `{command_line('gjadet_ablation.py', argv)}`", "",
             f"{len(files)} training images, {counts.sum()} boxes. Group: share of the boxes < 5 % rare, 5-25 % "
             f"common, else frequent (ext.metrics.longtail). Repeat factor at rfs={a.rfs}: max(1, sqrt(t / image "
             "share)) (ext.data.repeat_factor; an image takes the largest of its classes').", "",
             "| class | boxes | share of boxes | group | images | share of images | repeat factor |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for c, name in sorted(d["names"].items()):
        lines.append(f"| {name} | {counts[c]} | {counts[c] / max(counts.sum(), 1):.1%} | {group[c]} | "
                     f"{round(share[c] * len(files))} | {share[c]:.1%} | {max(1.0, np.sqrt(a.rfs / share[c])):.2f} |"
                     if share[c] > 0 else f"| {name} | 0 | 0.0 % | {group[c]} | 0 | 0.0 % | - |")
    lines += ["", f"At rfs={a.rfs}: {(r > 1).mean():.0%} of the images repeat (factor up to {r.max():.2f}); an epoch "
              f"holds {round(r.sum())} images for {len(files)} ({r.sum() / max(len(files), 1):.2f}x the steps)."]
    return lines


def main(argv=None) -> None:
    ap = training_parser(__doc__.splitlines()[0], data="crash-synth", epochs=30, batch=8, project=None)
    ap.add_argument("--nbs", type=int, default=None, help="nominal batch size (default: --batch, a step per batch)")
    ap.add_argument("--variants", action="store_true", help="also run the GJR variants (VARIANTS) after the rows")
    ap.add_argument("--longtail", action="store_true", help="only the LONGTAIL rows (YOLO26n, GJADet with BCE, GJR, "
                    "GJR beta=0, EQFL, repeat-factor sampling); use with --data crash-synth-500")
    ap.add_argument("--rows", nargs="+", default=None, help="only these row labels (of ROWS, VARIANTS or LONGTAIL), "
                    "in this order")
    ap.add_argument("--report-only", action="store_true", help="train nothing: table of the recorded runs only")
    ap.add_argument("--record", default=None, help="metrics of finished runs (default "
                    "benchmarks/results/gjadet_ablation_<data>.json, committed)")
    ap.add_argument("--counts", action="store_true", help="train nothing: the training split's class counts, "
                    "groups and repeat factors at --rfs")
    ap.add_argument("--rfs", type=float, default=1.0, help="repeat-factor threshold of the --counts report")
    a = ap.parse_args(argv)
    if a.counts:
        write_report(a.out or f"docs/gjadet_benchmark_{Path(a.data).stem}_counts.md", counts_report(a, argv))
        return
    rows = LONGTAIL if a.longtail else ROWS + VARIANTS if a.variants else ROWS
    if a.rows:  # any row of any list, in the order given
        known = {r[0]: r for r in ROWS + VARIANTS + LONGTAIL}
        unknown = set(a.rows) - set(known)
        if unknown:
            ap.error(f"unknown rows {sorted(unknown)}; valid: {list(known)}")
        rows = [known[label] for label in a.rows]
    if any(r[1].startswith(VARIANT_DIR) for r in rows):  # the neck variants' YAMLs, as gjadet_neck.py writes them
        write_yamls(variants([1.1]), Path(VARIANT_DIR))
    record = Record(a.record or Path(__file__).parent / "results" / f"gjadet_ablation_{Path(a.data).stem}.json")
    a.out = a.out or f"docs/gjadet_benchmark_{Path(a.data).stem}.md"
    project = str(Path(a.project or f"runs/bench-gjadet-{Path(a.data).stem}").resolve())
    with tempfile.TemporaryDirectory() as tmp:  # latency first: the same for every seed
        lat = measure({c: export(c, 640, Path(tmp))[0] for c in dict.fromkeys([PLAIN] + [r[1] for r in rows])},
                      640, runs=50)
    results = {label: [] for label, _, _ in rows}
    per_class = {label: [] for label, _, _ in rows}
    for seed in a.seeds:
        base = dict(data=a.data, epochs=a.epochs, imgsz=a.imgsz, batch=a.batch, nbs=a.nbs or a.batch,
                    device=a.device, seed=seed, project=project, exist_ok=True, plots=False, val=False, workers=2,
                    iou_loss="ciou")
        for label, cfg, extra in rows:
            name = f"{label.replace(' ', '')}-s{seed}"
            if extra.get("equal_steps"):
                extra = {k: v for k, v in extra.items() if k != "equal_steps"}
                extra["epochs"] = equal_step_epochs(a.data, a.epochs, a.batch, extra["rfs"])
            key = dict(epochs=extra.get("epochs", a.epochs), imgsz=a.imgsz, batch=a.batch, nbs=base["nbs"])
            metrics = record.get(name, key)
            if metrics is None and a.report_only:
                continue
            if metrics is None:
                best = train_or_reuse(cfg, {**base, **extra}, name)
                metrics = recorded(evaluate(best, base, ext.GJADet, project=base["project"], name="val", exist_ok=True))
                record.put(name, key, metrics)
            results[label].append(metrics["row"])
            per_class[label].append(metrics["per_class"])
            write_table(a, argv, rows, results, per_class, lat)
    if not any(results.values()):
        print("no recorded runs")


def write_table(a, argv, rows: list, results: dict, per_class: dict, lat: dict) -> None:
    """The markdown table of the runs done so far (rows with none left out; 'runs' says how many seeds each has)."""
    done = [r for r in rows if results[r[0]]]
    names = list(per_class[done[0][0]][0])
    lines = [f"# GJADet ablation on {a.data} ({datetime.date.today()})", "",
             f"Command: `{command_line('gjadet_ablation.py', argv)}`", "",
             f"From scratch, {a.epochs} epochs (unless the row says), {a.imgsz} px, batch {a.batch}, "
             f"nbs {a.nbs or a.batch}, CIoU, "
             f"last-epoch weights, seeds {a.seeds} (runs done per row in 'runs'); mean ± std over the seeds done "
             "(nan: empty class group). Latency: ONNX Runtime CPU, batch 1, 640 px, median of 50 interleaved runs, "
             f"ratio to the plain model ({PLAIN}), on {cpu_description()}.", "",
             "| model | latency x plain | " + " | ".join(COLS) + " | per seed mAP50-95 | per seed AP rare | runs |",
             "| --- | --- | " + " | ".join("---" for _ in COLS) + " | --- | --- | --- |"]
    for label, cfg, _ in done:
        r = np.array(results[label], dtype=float)
        cells = [f"{np.nanmean(r[:, i]):.3f} ± {np.nanstd(r[:, i]):.3f}" if np.isfinite(r[:, i]).any() else "nan"
                 for i in range(len(COLS))]
        lines.append(f"| {label} | {lat[cfg] / lat[PLAIN]:.2f} | " + " | ".join(cells) + " | "
                     + ", ".join(f"{x:.3f}" for x in r[:, 0]) + " | " + ", ".join(f"{x:.3f}" for x in r[:, 2])
                     + f" | {len(r)} |")
    lines += ["", "Per-class mAP50-95 (mean over seeds):", "",
              "| model | " + " | ".join(names) + " |", "| --- | " + " | ".join("---" for _ in names) + " |"]
    for label, _, _ in done:
        lines.append(f"| {label} | " + " | ".join(
            f"{np.mean([pc.get(n, np.nan) for pc in per_class[label]]):.3f}" for n in names) + " |")
    write_report(a.out, lines)


if __name__ == "__main__":
    main()
