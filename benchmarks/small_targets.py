"""Small dense targets: the box-distribution start (`dfl_prior`) and direct regression (`reg_max: 1`) on every
family, against YOLO11n / YOLO26n at equal budgets over several seeds, with AP per class; writes a table to docs/.

    python benchmarks/small_targets.py [--data rail-tracks] [--epochs 60] [--imgsz 320] [--batch 16]
                                       [--seeds 0 1 2] [--rows LABEL ...] [--out docs/small_targets_<data>.md]
    python benchmarks/small_targets.py --sizes [--data rail-tracks]  # -> docs/small_targets_<data>_sizes.md

'HSD student' rows are the paper's student (hsd-paper-n.yaml, the plain depthwise-separable stack); 'HSD student,
shortcuts' is the package's default student (hsd-n.yaml, the same layers with identity shortcuts).
Rows per family (HSD student, HSD teacher, GJADet): '16 bins, uniform' (dfl_prior=0: Ultralytics' start, today's
rows), '16 bins, prior' (the YAML default, dfl_prior 2.0 cells: ext/nn/box_prior.py) and 'reg_max 1' (the same
YAML with direct regression). End-to-end rows (`end2end: True`) and distilled students are opt-in through --rows:
'HSD student, 16 bins, prior, dis' / ', LD' / ', dis + LD' learn from the 'HSD teacher, 16 bins, prior' run of the
same seed (Ultralytics' feature distillation `dis` 6.0; HSD's LD, weight 0.25, temperature 15); ', inherit...' rows
start the student from that teacher's backbone (the same design: Ultralytics' `pretrained=` transfers its tensors,
the inheriting strategy of ICD, Kang et al., NeurIPS 2021), 'inherit' alone without distillation, 'inherit + gated
LD' with LD only where the teacher's box is the closer to the ground truth (`ld_gate`), 'inherit + LD 30 epochs'
with LD in the first 30 epochs only (`ld_epochs`); 'GJADet, 16 bins,
prior, gjr_beta 0' / ', BCE' change GJADet's classification loss (the other GJADet rows: GJR with the paper's
quality-focal element, gjr_beta 2; 'gjr_beta 0', GJR's reweighting over BCE, is the default). '..., YOLO26 backbone'
rows (opt-in) put both families on YOLO26's backbone (hsd-yolo26.yaml, hsd-teacher-yolo26.yaml, gjadet-yolo26.yaml)
with the package defaults. Every run trains from
scratch with the family's trainer and defaults, the same epochs, image size, batch and seed, and is reused when
finished (restartable); each best.pt is validated with the HSD validator (mAP50-95, per-class mAP50-95, image-level
CDR at score 0.5) and its metrics recorded in benchmarks/results/small_targets_<data>.json (committed: a new
checkout rebuilds the table without the run folders). The table is rewritten after every run.
"""

from __future__ import annotations

import datetime
import zlib
from pathlib import Path

import numpy as np
from PIL import Image
from ultralytics.utils import YAML

import ext
from ext.data import resolve_data
from ext.data.labels import read_boxes
from ext.models.report import evaluate
from ext.nn.tasks import load_model_yaml
from ext.paths import models_dir

from runs import Record, command_line, cpu_description, finished, train_or_reuse, training_parser, write_report

# family, model YAML, training keys of every row of the family. The GJADet rows keep GJR's quality-focal element
# (gjr_beta 2, the paper's), as they were recorded before the package default became gjr_beta 0 (docs/design.md);
# cls_loss and rfs pinned to what the GJADet family trained with then (the YOLO26 row: the default, GJR over BCE)
GJADET_THEN = {"cls_loss": "gjr", "rfs": 0.0}
FAMILIES = [("HSD student", "hsd-paper-n.yaml", {}), ("HSD teacher", "hsd-teacher-n.yaml", {}),
            ("GJADet", "gjadet-n.yaml", {**GJADET_THEN, "gjr_beta": 2.0})]
UNIFORM, PRIOR, DIRECT = {"dfl_prior": 0.0}, {}, {}  # training keys of the three variants
ROWS = [  # label, model YAML, YAML overrides, training arguments; default rows
    ("YOLO11n", "yolo11n.yaml", {}, {}),
    ("YOLO11n + prior", "yolo11n.yaml", {}, {"dfl_prior": 2.0}),
    ("YOLO26n", "yolo26n.yaml", {}, {}),
    *((f"{name}, {variant}", cfg, yaml, {**fam, **args}) for name, cfg, fam in FAMILIES for variant, yaml, args in
      [("16 bins, uniform", {}, UNIFORM), ("16 bins, prior", {}, PRIOR), ("reg_max 1", {"reg_max": 1}, DIRECT)]),
]
TEACHER = "HSD teacher, 16 bins, prior"  # distils the student rows that name it, seed by seed
UNRECORDED = "not recorded (runs before the record kept the CPU)"
LD = {"ld_weight": 0.25, "ld_T": 15.0}
KD = {"dis": {"dis": 6.0, "ld_weight": 0.0}, "LD": {"dis": 0.0, **LD}, "dis + LD": {"dis": 6.0, **LD},
      # inherit: the student starts from the teacher's backbone (same design; Ultralytics' `pretrained`)
      "inherit": {"inherit": True, "distill": False}, "inherit + LD": {"inherit": True, "dis": 0.0, **LD},
      "inherit + dis + LD": {"inherit": True, "dis": 6.0, **LD},
      # LD only where the teacher's box is the closer to the truth (ld_gate: ext/models/hsd/distill.py)
      "inherit + gated LD": {"inherit": True, "dis": 0.0, "ld_gate": True, **LD},
      # LD in the first 30 epochs only (ld_epochs; half of the default 60): early-stopped distillation
      "inherit + LD 30 epochs": {"inherit": True, "dis": 0.0, "ld_epochs": 30, **LD},
      # the class-logit KL at the student's foreground anchors (ld_cls, column clskd_loss), with and without LD
      "inherit + class KD": {"inherit": True, "dis": 0.0, **LD, "ld_weight": 0.0, "ld_cls": 1.0},
      "inherit + LD + class KD": {"inherit": True, "dis": 0.0, "ld_cls": 1.0, **LD}}  # distilled rows: training keys
OPT_IN = [  # --rows only
    ("YOLO11n, reg_max 1", "yolo11n.yaml", {"reg_max": 1}, {}),
    *((f"{name}, {variant}, end2end", cfg, {"end2end": True, **yaml}, fam) for name, cfg, fam in FAMILIES
      for variant, yaml in [("16 bins, prior", {}), ("reg_max 1", {"reg_max": 1})]),
    *((f"HSD student, 16 bins, prior, {kd}", "hsd-paper-n.yaml", {}, {"teacher": TEACHER, **args}) for kd, args in
      KD.items()),
    # GJADet's classification loss: GJR's reweighting over plain BCE (gjr_beta 0, the package default since
    # 2026-12-04: docs/design.md) and BCE, Ultralytics' loss
    ("GJADet, 16 bins, prior, gjr_beta 0", "gjadet-n.yaml", {}, {**GJADET_THEN, "gjr_beta": 0.0}),
    ("GJADet, 16 bins, prior, BCE", "gjadet-n.yaml", {}, {"cls_loss": "bce", "rfs": 0.0}),
]


def _head_swaps() -> list:
    """Where the student loses to its teacher: each half of the student (HKN neck, HKH head) with the other half
    of the teacher (PAFPN neck, Detect head), the same backbone, 16 bins with the prior; and the student with
    identity shortcuts around its depthwise-separable blocks (HKN residual, HKH shortcut)."""
    return [("HSD student, HKN + Detect", "hsd-paper-n.yaml", head_with("hsd-paper.yaml", "Detect", ["nc"]), {}),
            ("HSD student, shortcuts", "hsd-n.yaml", {}, {}),
            *((f"HSD student, shortcuts, {kd}", "hsd-n.yaml", {}, {"teacher": TEACHER, **args})
              for kd, args in KD.items()),
            ("HSD student, PAFPN + HKH", "hsd-teacher-n.yaml", head_with("hsd-teacher.yaml", "HKH",
                                                                         ["nc", 3, 256]), {}),
            # box distillation (what a direct-regression student gets from a 16-bin teacher: GIoU to the teacher's
            # boxes at the student's foreground anchors, ld_weight 0.25 = the ground-truth box term's gain)
            ("HSD student, shortcuts, reg_max 1", "hsd-n.yaml", {"reg_max": 1}, {}),
            ("HSD student, shortcuts, reg_max 1, box KD", "hsd-n.yaml", {"reg_max": 1},
             {"teacher": TEACHER, "dis": 0.0, **LD}),
            # which shortcut carries the student's gain: each alone (the other off, as in the paper's student)
            ("HSD student, HKN residual only", "hsd-n.yaml",
             head_with("hsd.yaml", "HKH", ["nc", 3, 256, False], old="HKH"), {}),
            ("HSD student, HKH shortcut only", "hsd-n.yaml",
             head_with("hsd.yaml", "HKN", [256, True, True, True, False], old="HKN"), {})]


TEACHER26 = "HSD teacher, YOLO26 backbone"  # distils the 'HSD student, YOLO26 backbone, ...' rows



def _yolo26_backbone() -> list:
    """Both families on YOLO26's backbone (C3k2, residual SPPF, C2PSA) instead of YOLOv8's C2f one: the student
    alone and with its teacher (the same backbone), GJADet with its default loss (GJR over BCE); compare with
    'HSD student, shortcuts...', 'HSD teacher, 16 bins, prior' and 'GJADet, 16 bins, prior, gjr_beta 0'."""
    return [(TEACHER26, "hsd-teacher-yolo26-n.yaml", {}, {}),
            ("HSD student, YOLO26 backbone", "hsd-yolo26-n.yaml", {}, {}),
            # the same at hsd.yaml's width 256 (0.601x YOLO26n's parameters: over the 0.6x budget)
            ("HSD student, YOLO26 backbone, width 256", "hsd-yolo26-n.yaml", at_width("hsd-yolo26.yaml", 224, 256), {}),
            *((f"HSD student, YOLO26 backbone, {kd}", "hsd-yolo26-n.yaml", {}, {"teacher": TEACHER26, **KD[kd]})
              for kd in ("dis", "inherit", "inherit + LD")),
            ("GJADet, YOLO26 backbone", "gjadet-yolo26-n.yaml", {}, {})]


def head_rows(cfg: str) -> list[list]:
    """The `head` rows of our model YAML `cfg` (a file name in cfg/models), each as a list."""
    return [list(row) for row in YAML.load(models_dir() / cfg)["head"]]


def at_width(cfg: str, old: int, new: int) -> dict:
    """`{"head": ...}`: the head rows of our `cfg` with every width argument `old` (full-scale channels) as `new`."""
    return {"head": [[*row[:3], [new if a == old else a for a in row[3]]] for row in head_rows(cfg)]}


def head_with(cfg: str, module: str, args: list, old: str | None = None) -> dict:
    """`{"head": ...}`: the head rows of our `cfg` with the row of module `old` (default: the last row, the
    detection head) built as `module` with `args` instead, from the same sources; e.g. the student's HKN with
    Ultralytics' Detect head instead of HKH, or HKH without its shortcuts."""
    head = head_rows(cfg)
    i = next(i for i, row in enumerate(head) if row[2] == old) if old else len(head) - 1
    head[i] = [head[i][0], head[i][1], module, args]
    return {"head": head}


def model_file(cfg: str, overrides: dict, folder: Path) -> str:
    """`cfg` itself without overrides; else a YAML with them written under `folder` (scale kept), its path."""
    if not overrides:
        return cfg
    d = {k: v for k, v in load_model_yaml(cfg).items() if k != "yaml_file"}
    d.update(overrides)
    tag = "-".join(f"{k}{v}" if not isinstance(v, (list, dict)) else f"{k}{zlib.crc32(repr(v).encode()):08x}"
                   for k, v in overrides.items()).replace("_", "").replace(" ", "")
    path = folder / f"{Path(cfg).stem}-{tag}.yaml"
    folder.mkdir(parents=True, exist_ok=True)
    YAML.save(path, d)
    return str(path)


def run_name(label: str, seed: int) -> str:
    """A file-name form of a row label: 'HSD student, 16 bins, prior' -> 'HSDstudent_16bins_prior-s0'."""
    return "_".join(part.replace(" ", "") for part in label.split(",")) + f"-s{seed}"


def concentric_iou(w, h, side):
    """IoU of a w x h box with a side x side square of the same centre (arrays broadcast), in any one unit."""
    inter = np.minimum(w, side) * np.minimum(h, side)
    return inter / (w * h + side**2 - inter)


def sizes_report(a, argv) -> list[str]:
    """Per class of the training split, at the training size: median box in px, median largest side distance in
    cells of each level, and the IoU with which an anchor at the box centre starts (concentric square of side
    2 d cells): d = 7.5 (Ultralytics' uniform 16-bin start) and d = 2.0 (`dfl_prior` 2, a reg_max 1 head)."""
    d = YAML.load(resolve_data(a.data))
    root, boxes = Path(d["path"]), {}
    for img in sorted((root / d["train"]).glob("*")):
        w, h = Image.open(img).size
        k = a.imgsz / max(w, h)  # letterbox scale
        for c, x1, y1, x2, y2 in read_boxes(root / "labels" / Path(d["train"]).name / f"{img.stem}.txt", w, h):
            boxes.setdefault(int(c), []).append(((x2 - x1) * k, (y2 - y1) * k))
    strides = (8, 16, 32)
    lines = [f"# Object sizes against the box start, {a.data} ({datetime.date.today()})", "",
             f"Command: `{command_line('small_targets.py', argv)}`", "",
             f"Training split at {a.imgsz} px (letterbox). Distance: half the longer side, in cells of P3 / P4 / P5 "
             "(median). IoU at start: median IoU of the box with the square an anchor at its centre starts with, "
             "side 2 x 7.5 cells (Ultralytics' uniform 16-bin start) or 2 x 2.0 cells (`dfl_prior` 2.0, where a "
             "reg_max 1 head starts), at P3 / P4 / P5.", "",
             "| class | boxes | median w x h px | distance, cells | IoU at start, uniform | IoU at start, prior |",
             "| --- | --- | --- | --- | --- | --- |"]
    for c in sorted(boxes):
        wh = np.array(boxes[c])
        far = " / ".join(f"{np.median(wh.max(1) / 2 / st):.2f}" for st in strides)
        iou = {cells: " / ".join(f"{np.median(concentric_iou(wh[:, 0], wh[:, 1], 2 * cells * st)):.2f}"
                                 for st in strides) for cells in (7.5, 2.0)}
        lines.append(f"| {d['names'][c]} | {len(wh)} | {np.median(wh[:, 0]):.0f} x {np.median(wh[:, 1]):.0f} | "
                     f"{far} | {iou[7.5]} | {iou[2.0]} |")
    return lines


def recorded(e: dict) -> dict:
    """What the record keeps of an evaluation (`evaluate` with the HSD validator): mAP50-95 as 'map', CDR@0.5 as
    'cdr', per-class mAP50-95 by class name, the class names and this machine."""
    return {"map": e["mAP50-95"], "cdr": float(e["extra"].get("CDR@0.5", float("nan"))), "per_class": e["per_class"],
            "names": e["names"], "machine": cpu_description()}


def main(argv=None) -> None:
    ap = training_parser(__doc__.splitlines()[0], data="rail-tracks", epochs=60, batch=16,
                         project="runs/bench-small", out_help="default docs/small_targets_<data>.md")
    ap.add_argument("--nbs", type=int, default=64, help="nominal batch (Ultralytics' 64; 8 for the synthetic sets)")
    ap.add_argument("--rows", nargs="+", default=None, help="only these row labels (opt-in rows too)")
    ap.add_argument("--report-only", action="store_true", help="train nothing: table of the finished runs only")
    ap.add_argument("--record", default=None, help="metrics of finished runs (default "
                    "benchmarks/results/small_targets_<data>.json, committed)")
    ap.add_argument("--sizes", action="store_true", help="train nothing: object sizes against the box start")
    a = ap.parse_args(argv)
    if a.sizes:
        write_report(a.out or f"docs/small_targets_{Path(a.data).stem}_sizes.md", sizes_report(a, argv))
        return
    a.out = a.out or f"docs/small_targets_{Path(a.data).stem}.md"
    known = {label: row for label, *row in ROWS + OPT_IN + _head_swaps() + _yolo26_backbone()}
    unknown = set(a.rows or ()) - set(known)
    if unknown:
        ap.error(f"unknown rows {sorted(unknown)}; valid: {list(known)}")
    labels = a.rows or [label for label, *_ in ROWS]
    project = Path(a.project).resolve()
    results = {label: [] for label in labels}
    record = Record(a.record or Path(__file__).parent / "results" / f"small_targets_{Path(a.data).stem}.json")
    for seed in a.seeds:
        base = dict(data=a.data, epochs=a.epochs, imgsz=a.imgsz, batch=a.batch, nbs=a.nbs, device=a.device,
                    seed=seed, project=str(project / Path(a.data).stem), exist_ok=True, plots=False, workers=2)
        for label in labels:
            cfg, yaml, args = known[label]
            name = run_name(label, seed) + ("" if a.nbs == 64 else f"-nbs{a.nbs}")
            key = dict(epochs=a.epochs, imgsz=a.imgsz, batch=a.batch)
            metrics = record.get(name, key)
            if metrics is None:
                if a.report_only and not finished(base["project"], name, a.epochs):
                    continue
                if "teacher" in args:  # distilled rows: the teacher row's run of this seed, trained if missing
                    t_cfg, t_yaml, t_args = known[args["teacher"]]
                    t_name = run_name(args["teacher"], seed) + ("" if a.nbs == 64 else f"-nbs{a.nbs}")
                    t_best = train_or_reuse(model_file(t_cfg, t_yaml, project / "cfg"), {**base, **t_args}, t_name)
                    extra = {"pretrained": t_best} if args.get("inherit") else {}
                    if args.get("distill", True):
                        extra["distill_model"] = t_best
                    args = {**{k: v for k, v in args.items() if k not in ("teacher", "inherit", "distill")}, **extra}
                best = train_or_reuse(model_file(cfg, yaml, project / "cfg"), {**base, **args}, name)
                metrics = recorded(evaluate(best, base, ext.HSD, project=base["project"], name="val", exist_ok=True))
                record.put(name, key, metrics)
            results[label].append(metrics)
            write_table(a, argv, labels, results)  # after every run, so a cut-short benchmark still reports
    if not any(results.values()):
        print("no finished runs")


def write_table(a, argv, labels: list[str], results: dict) -> None:
    done = {k: v for k, v in results.items() if v}
    names = next(iter(done.values()))[0]["names"]
    lines = [f"# Small dense targets on {a.data} ({datetime.date.today()})", "",
             f"Command: `{command_line('small_targets.py', argv)}`", "",
             f"From scratch, {a.epochs} epochs, {a.imgsz} px, batch {a.batch}, nbs {a.nbs}, seeds {a.seeds} (runs "
             "done per row in the last column); mean ± std over the seeds done. Per-class columns: mAP50-95 of that "
             "class, mean over seeds (min over seeds in brackets). CDR@0.5: image-level correct-detection rate at "
             "score 0.5. "
             "'uniform': Ultralytics' box start (dfl_prior=0); 'prior': dfl_prior 2.0 cells (ext/nn/box_prior.py); "
             "'reg_max 1': direct regression. GJADet rows: GJR with the paper's quality-focal element (gjr_beta 2) "
             "unless named 'gjr_beta 0' (GJR over BCE, the package default) or 'BCE'. 'YOLO26 backbone' rows: "
             "hsd-yolo26 / hsd-teacher-yolo26 / gjadet-yolo26 (YOLO26's backbone rows) with the package defaults "
             "(GJADet: GJR over BCE); their HSD students learn from the 'HSD teacher, YOLO26 backbone' run of "
             "the same seed.", "",
             f"| model | mAP50-95 | {' | '.join(f'AP {n}' for n in names)} | CDR@0.5 | per seed mAP50-95 | runs | "
             "machine |",
             f"| --- | --- | {' | '.join('---' for _ in names)} | --- | --- | --- | --- |"]
    machines = sorted({r.get("machine", UNRECORDED) for rs in done.values() for r in rs})
    tag = {m: f"M{k + 1}" for k, m in enumerate(machines)}
    for label in labels:
        rs = results[label]
        if not rs:
            continue
        m = np.array([r["map"] for r in rs])
        cls = [np.array([r["per_class"].get(n, 0.0) for r in rs]) for n in names]
        cdr = np.array([r["cdr"] for r in rs])
        lines.append(f"| {label} | {m.mean():.3f} ± {m.std():.3f} | "
                     f"{' | '.join(f'{c.mean():.3f} ({c.min():.3f})' for c in cls)} | {cdr.mean():.2f} | "
                     f"{', '.join(f'{x:.3f}' for x in m)} | {len(rs)} | "
                     f"{', '.join(tag[r.get('machine', UNRECORDED)] for r in rs)} |")
    lines += ["", "Machines (seeds of one model do not reproduce across CPUs; compare rows on one machine): "
              + "; ".join(f"{tag[m]}: {m}" for m in machines) + "."]
    write_report(a.out, lines)


if __name__ == "__main__":
    main()
