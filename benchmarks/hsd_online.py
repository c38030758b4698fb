"""HSD in one run (`distill_model=<teacher YAML>`: the teacher's neck and head trained beside the student on its
backbone, LD online) against the student trained alone, at the same epochs, at twice and three times them (more than
the one run's cost), against the teacher, and against the two-run recipe (teacher, then the student from its backbone
with LD, with LD also on the valuable localization region `ld_vlr=0.25`, with CrossKD `ld_cross=True`, or alone; or from
a teacher trained twice as long, the setting of a teacher trained once and reused for many students);
paired seeds; mAP50-95, the student's share of the teacher's, training time; writes a table to docs/.

    python benchmarks/hsd_online.py [--data rail-tracks] [--epochs 60] [--batch 16] [--nbs 64] [--seeds 0 1 2]
                                    [--rows LABEL ...] [--out docs/hsd_online_<data>.md]

Every run trains from scratch with the HSD trainer and defaults, the same image size, batch and seed, and is reused
when finished (restartable); its metrics (validation of best.pt with the package's `model_row`) and its training
time (the last `time` of results.csv) are recorded in benchmarks/results/hsd_online_<data>.json, so a new checkout
rebuilds the table without the run folders. `--eval-data` validates on another set (a held-out set larger than the
val split that picked best.pt; recorded apart). Two processes with other --seeds can share the record (one per core).
"""

from __future__ import annotations

import csv
import datetime
from pathlib import Path

import numpy as np

from ext.models.report import model_row
from runs import Record, command_line, cpu_description, train_or_reuse, training_parser, write_report

STUDENT, TEACHER = "hsd-n.yaml", "hsd-teacher-n.yaml"
ROWS = {  # label: (model YAML, training keys, epochs multiplier); "teacher" in the keys: that row's run of the seed
    "teacher": (TEACHER, {}, 1),
    "student alone": (STUDENT, {}, 1),
    "student, one run (online LD)": (STUDENT, {"distill_model": TEACHER}, 1),
    "student, one run, no LD": (STUDENT, {"distill_model": TEACHER, "ld_weight": 0.0}, 1),
    "student, one run (online LD), aux_weight=0.25": (STUDENT, {"distill_model": TEACHER, "aux_weight": 0.25}, 1),
    "student alone, 2x epochs": (STUDENT, {}, 2),
    # the teacher's plus the recipe's 2x student epochs (200 + 400 on fault-synth): its equal-epochs comparison
    "student alone, 3x epochs": (STUDENT, {}, 3),
    "student, two runs (inherit + LD)": (STUDENT, {"teacher": "pretrained+distill_model"}, 1),
    # the recipe's student trained twice as long (400 epochs, early stopping as the 2x student alone)
    "student, two runs (inherit + LD), 2x epochs": (STUDENT, {"teacher": "pretrained+distill_model"}, 2),
    "student, two runs (inherit + LD + VLR)": (STUDENT, {"teacher": "pretrained+distill_model", "ld_vlr": 0.25}, 1),
    "student, two runs (inherit + CrossKD)": (STUDENT, {"teacher": "pretrained+distill_model", "ld_cross": True}, 1),
    "student, two runs (inherit alone)": (STUDENT, {"teacher": "pretrained"}, 1),
    # a teacher trained twice as long, once, and reused: the user's setting of many students per teacher
    "teacher, 2x epochs": (TEACHER, {}, 2),
    "student, two runs (2x teacher, inherit + LD)": (STUDENT, {"teacher": "pretrained+distill_model",
                                                               "teacher_row": "teacher, 2x epochs"}, 1),
}
DEFAULT_ROWS = ["teacher", "student alone", "student, one run (online LD)", "student alone, 2x epochs"]


def train_seconds(best: str) -> float:
    """Training time of a run in seconds: the last `time` of its results.csv (validation included)."""
    rows = list(csv.DictReader(open(Path(best).parents[1] / "results.csv")))
    return float(rows[-1]["time"]) if rows else float("nan")


def run_name(label: str, seed: int, nbs: int) -> str:
    return "".join(c for c in label.title() if c.isalnum()) + f"-s{seed}" + ("" if nbs == 64 else f"-nbs{nbs}")


def main(argv=None) -> None:
    ap = training_parser(__doc__.splitlines()[0], data="rail-tracks", epochs=60, batch=16,
                         project="runs/bench-online",
                         out_help="default docs/hsd_online_<data>.md (with --eval-data: _eval-<set> added)")
    ap.add_argument("--nbs", type=int, default=64, help="nominal batch (Ultralytics' 64; 8 for the synthetic sets)")
    ap.add_argument("--rows", nargs="+", default=DEFAULT_ROWS, choices=list(ROWS), metavar="LABEL")
    ap.add_argument("--record", default=None, help="default benchmarks/results/hsd_online_<data>.json (committed)")
    ap.add_argument("--report-only", action="store_true", help="train nothing: the table of the recorded runs")
    ap.add_argument("--eval-data", default=None, help="validate best.pt on this set, not on --data's "
                    "val split (a larger held-out set, e.g. fault-synth-holdout: 256 images, none best.pt was picked on)")
    ap.add_argument("--patience", type=int, default=100, help="Ultralytics' early stopping on the val split, in "
                    "epochs without gain (0: off, every run trains all its epochs; recorded apart from 100)")
    a = ap.parse_args(argv)
    stem = Path(a.data).stem
    a.out = a.out or f"docs/hsd_online_{stem}{f'_eval-{Path(a.eval_data).stem}' if a.eval_data else ''}.md"
    record = Record(a.record or Path(__file__).parent / "results" / f"hsd_online_{stem}.json")
    labels = (["teacher"] if "teacher" not in a.rows else []) + a.rows  # the teacher: share and two-run recipe
    results = {label: [] for label in labels}
    needs_teacher = "teacher" in a.rows or any(  # a row that takes the weights of the --epochs teacher
        "teacher" in ROWS[label][1] and ROWS[label][1].get("teacher_row", "teacher") == "teacher" for label in a.rows)
    for seed in a.seeds:
        base = dict(data=a.data, imgsz=a.imgsz, batch=a.batch, nbs=a.nbs, device=a.device, seed=seed,
                    project=str(Path(a.project).resolve() / stem), exist_ok=True, plots=False, workers=2,
                    patience=a.patience)
        for label in labels:
            cfg, keys, mult = ROWS[label]
            epochs = a.epochs * mult
            name, key = run_name(label, seed, a.nbs), dict(epochs=epochs, imgsz=a.imgsz, batch=a.batch)
            key.update({"eval": a.eval_data} if a.eval_data else {})
            key.update({"patience": a.patience} if a.patience != 100 else {})
            metrics = record.get(name, key)
            if metrics is None and (a.report_only or (label == "teacher" and not needs_teacher)):
                continue  # the teacher is trained when asked for (--rows teacher) or for a row that takes it
            if metrics is None:
                keys = dict(keys)
                takes = keys.pop("teacher", "")  # the teacher's weights as these keys (train_hsd.py: both)
                if takes:
                    row = keys.pop("teacher_row", "teacher")
                    teacher = train_or_reuse(ROWS[row][0], {**base, "epochs": a.epochs * ROWS[row][2]},
                                             run_name(row, seed, a.nbs))
                    keys.update({k: teacher for k in takes.split("+")})
                best = train_or_reuse(cfg, {**base, **keys, "epochs": epochs}, name)
                evaluation = {**base, "data": a.eval_data} if a.eval_data else base
                metrics = {**model_row(label, best, evaluation, ("CDR@0.5",)), "seconds": train_seconds(best),
                           "machine": cpu_description()}
                record.put(name, key, metrics)
            results[label].append({**metrics, "seed": seed})
            write_table(a, argv, labels, results)


def write_table(a, argv, labels: list[str], results: dict) -> None:
    """The markdown table: mean ± std over the seeds done, the share of the teacher's mAP50-95 (pairwise by seed),
    training time against the student alone at the same epochs (or, without that row, the first student-alone row
    done, named in the header)."""
    teachers = {label: {r["seed"]: r for r in results.get(label, [])} for label, row in ROWS.items() if row[0] == TEACHER}
    done = [label for label in labels if label.startswith("student alone") and results[label]]
    ref = "student alone" if "student alone" in done else (done or ["student alone"])[0]  # the time unit
    alone = {r["seed"]: r["seconds"] for r in results.get(ref, [])}
    lines = [f"# HSD in one run on {a.data} ({datetime.date.today()})", "", f"Command: `{command_line('hsd_online.py', argv)}`",
             "", f"From scratch, {a.epochs} epochs (rows marked 2x: {2 * a.epochs}, 3x: {3 * a.epochs}), {a.imgsz} px, "
             f"batch {a.batch}, nbs {a.nbs}, seeds {a.seeds} (runs done: last column); "
             + (f"early stopping {f'after {a.patience} epochs without gain' if a.patience else 'off'}; ")
             + (f"validated on {a.eval_data} (best.pt picked on {a.data}'s val split); " if a.eval_data else "")
             + "mean ± std over the seeds done. Share: the row's mAP50-95 over the "
             f"teacher's (its own teacher's for a student of the 2x teacher), seed by seed. Time: training time over the {ref}'s, seed by seed (two runs: "
             "teacher + student); the CPU is shared with whatever else runs, so times are indicative. Machine: " + ", ".join(sorted({r["machine"] for v in results.values() for r in v})),
             "", f"| model | params | mAP50-95 | share of teacher | CDR@0.5 | time x {ref} | per seed mAP50-95 |"
             " runs |", "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for label in labels:
        rs = results[label]
        if not rs:
            continue
        teacher = teachers[ROWS[label][1].get("teacher_row", "teacher")]  # the row's own teacher (share, cost)
        m = np.array([r["mAP50-95"] for r in rs])
        share = np.array([r["mAP50-95"] / teacher[r["seed"]]["mAP50-95"] for r in rs if r["seed"] in teacher])
        cost = {r["seed"]: r["seconds"] + (teacher[r["seed"]]["seconds"] if "two runs" in label else 0) for r in rs
                if "two runs" not in label or r["seed"] in teacher}
        ratio = np.array([c / alone[k] for k, c in cost.items() if k in alone])
        cdr = np.array([r.get("CDR@0.5", np.nan) for r in rs])
        lines.append(f"| {label} | {rs[0]['params']:,} | {m.mean():.3f} ± {m.std():.3f} | "
                     f"{f'{share.mean():.0%}' if len(share) else '-'} | {np.nanmean(cdr):.2f} | "
                     f"{f'{ratio.mean():.2f}' if len(ratio) else '-'} | {', '.join(f'{x:.3f}' for x in m)} | "
                     f"{len(rs)} |")
    write_report(a.out, lines)


if __name__ == "__main__":
    main()
