"""Sliced against unsliced inference on full frames with small parts: recall, precision and time per frame.

    python benchmarks/slicing.py [--model best.pt] [--data fault-frames] [--imgsz 320] [--frames 32]
                                 [--inspect 100] [--out docs/slicing.md]

The model (default: the HSD teacher of `benchmarks/small_targets.py --data fault-synth --epochs 30 --batch 8
--nbs 8`, trained on fault-synth at 320 px, where the parts are half their 640 px size, reused when finished)
predicts every validation frame of `--data` (fault-frames: 1400 x 1024 px, parts 20-50 px) once per row, rows
interleaved frame by frame so that a busy machine slows them alike. Rows: unsliced at --imgsz (the frame
letterboxed: parts shrink 4.4x at 320), sliced with 640 px tiles (0.2 overlap: 6 tiles of a 1400x1024 frame; at
320 px input the parts come back to the training scale), with and without the full-frame pass, 800 px tiles (0.25
overlap: 4 tiles), and unsliced at 2x --imgsz for reference. A ground-truth box is found when a prediction of its
class with score >= 0.25 overlaps it with IoU >= 0.5 (greedy, best score first; `recall`); `precision` is the
share of predictions that found one. Time per frame: median wall time of `model.predict` (ms), with its ratio to
the unsliced row. With --inspect N, also `fdet inspect` (sliced) over N generated frames: wall time and flags.

With --tfds, the same on the 4 real full frames of tfds-undercarriage (1400 x 1024): their small parts (Bolt, Nut,
Screw, Plug, 10-70 px) are labelled only in the 8 crops, which are cut from the frames at full resolution; each
crop is found in its frame by OpenCV's template matching (normalised correlation, >= 0.99 required) and its boxes
shifted into the frame. An HSD teacher trained on the 8 crops at 320 px (the parts at about their size; each crop
16 times an epoch, 60 epochs) then predicts the frames unsliced and sliced at 320 px (320 px tiles) and at 640 px
(1024 px tiles); ratios against the unsliced row at the same input size. The parts are the pixels it was trained
on, so this measures the scale effect on real images, not generalisation (12 images are far too few).
"""

from __future__ import annotations

import argparse
import datetime
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import torch
from ultralytics.utils.metrics import box_iou

import ext
from ext.data import resolve_data
from ext.data.generators import generate
from ext.data.labels import read_boxes
from ext.tools import inspect_frames

from runs import command_line, train_or_reuse, write_report

TEACHER = ("hsd-teacher-n.yaml", dict(data="fault-synth", epochs=30, imgsz=320, batch=8, nbs=8, device="cpu", seed=0,
                                      project=str(Path("runs/bench-small/fault-synth").resolve()), exist_ok=True,
                                      plots=False, workers=2), "HSDteacher_16bins_prior-s0-nbs8")


def rows(imgsz: int) -> list[tuple[str, dict]]:
    """(label, predict keys) of every row."""
    return [
        (f"unsliced, {imgsz} px", dict(imgsz=imgsz)),
        (f"slice=640 (overlap 0.2) + full frame, {imgsz} px", dict(imgsz=imgsz, slice=640, slice_overlap=0.2)),
        (f"slice=640 (overlap 0.2), {imgsz} px", dict(imgsz=imgsz, slice=640, slice_overlap=0.2, slice_full=False)),
        (f"slice=800 (overlap 0.25), {imgsz} px", dict(imgsz=imgsz, slice=800, slice_overlap=0.25, slice_full=False)),
        (f"unsliced, {2 * imgsz} px (reference)", dict(imgsz=2 * imgsz)),
    ]


def labels_of(label_file: Path, w: int, h: int) -> torch.Tensor:
    """[M, 5] (class, x1, y1, x2, y2 px) of a YOLO label file (the package's reader, polygons boxed)."""
    return torch.from_numpy(read_boxes(label_file, w, h)).float()


def matches(pred: torch.Tensor, gt: torch.Tensor, iou: float = 0.5) -> int:
    """Ground-truth boxes found by `pred` [N, 6] (x1, y1, x2, y2, score, class): greedy by score, one each."""
    if not len(pred) or not len(gt):
        return 0
    ious = box_iou(pred[:, :4], gt[:, 1:])
    ious[pred[:, 5:6] != gt[:, 0][None]] = 0
    taken, found = set(), 0
    for i in pred[:, 4].argsort(descending=True).tolist():
        j = next((j for j in ious[i].argsort(descending=True).tolist() if ious[i, j] >= iou and j not in taken), None)
        if j is not None:
            taken.add(j)
            found += 1
    return found


def score_rows(model, frames, table) -> tuple[dict, int]:
    """Predict every (image BGR, ground truth [M, 5]) of `frames` once per row of `table`, rows interleaved per frame
    after an untimed warm-up on the first frame; ({label: found, pred, ms per frame}, ground-truth boxes)."""
    stats = {label: {"found": 0, "pred": 0, "ms": []} for label, _ in table}
    n_gt = 0
    for k, (img, gt) in enumerate(frames):
        if k == 0:  # warm-up, untimed
            for _, keys in table:
                model.predict(img, verbose=False, device="cpu", **keys)
        n_gt += len(gt)
        for label, keys in table:
            t = time.perf_counter()
            pred = model.predict(img, conf=0.25, verbose=False, device="cpu", **keys)[0].boxes.data.cpu()
            stats[label]["ms"].append((time.perf_counter() - t) * 1e3)
            stats[label]["found"] += matches(pred, gt)
            stats[label]["pred"] += len(pred)
    return stats, n_gt


def tfds_frames(root: Path) -> list[tuple[Path, torch.Tensor]]:
    """(full frame, [M, 5] small-part boxes in frame px) of tfds-undercarriage, from its crops' labels."""
    out = {}
    for crop in sorted((root / "images" / "train").glob("sample*_*.jpg")):
        frame = crop.with_name(crop.stem.split("_")[0] + ".jpg")
        full, part = cv2.imread(str(frame), 0), cv2.imread(str(crop), 0)
        _, score, _, (x, y) = cv2.minMaxLoc(cv2.matchTemplate(full, part, cv2.TM_CCOEFF_NORMED))
        if score < 0.99:
            raise RuntimeError(f"{crop.name} not found in {frame.name} (correlation {score:.3f})")
        gt = labels_of(root / "labels" / "train" / f"{crop.stem}.txt", part.shape[1], part.shape[0])
        gt[:, 1:] += torch.tensor([x, y, x, y], dtype=torch.float32)
        out.setdefault(frame, []).append(gt)
    return [(f, torch.cat(g)) for f, g in out.items()]


def tfds_model(root: Path) -> str:
    """An HSD teacher trained on the 8 crops of tfds-undercarriage (reused when finished)."""
    import yaml

    folder = Path("runs/bench-slicing").resolve()
    folder.mkdir(parents=True, exist_ok=True)
    files = sorted((root / "images" / "train").glob("sample*_*.jpg"))
    crops, once = folder / "tfds-crops.txt", folder / "tfds-crops-val.txt"
    crops.write_text("".join(f"{p}\n" for p in files) * 16)  # 16 passes an epoch: 16 optimizer steps, not 1
    once.write_text("".join(f"{p}\n" for p in files))
    data = folder / "tfds-crops.yaml"
    names = yaml.safe_load((root / "data.yaml").read_text())["names"]
    data.write_text(yaml.safe_dump({"path": str(root), "train": str(crops), "val": str(once), "names": names}))
    args = dict(data=str(data), epochs=60, imgsz=320, batch=8, nbs=8, device="cpu", seed=0, project=str(folder),
                exist_ok=True, plots=False, workers=0)
    return train_or_reuse("hsd-teacher-n.yaml", args, "tfds-crops-teacher")


def tfds_table(imgsz: int) -> list[str]:
    """Recall and time per frame, unsliced and sliced, on the 4 real frames (see the module docstring)."""
    root = Path(resolve_data("tfds-undercarriage")).parent
    frames_, best = tfds_frames(root), tfds_model(root)
    model = ext.HSD(best)
    sliced, big = dict(imgsz=imgsz, slice=320, slice_overlap=0.2), 2 * imgsz
    table = [(f"unsliced, {imgsz} px", dict(imgsz=imgsz)),
             (f"slice=320 (overlap 0.2), {imgsz} px", {**sliced, "slice_full": False}),
             (f"slice=320 (overlap 0.2) + full frame, {imgsz} px", sliced),
             (f"unsliced, {big} px", dict(imgsz=big)),
             (f"slice=1024 (overlap 0.2: 2 tiles), {big} px", dict(imgsz=big, slice=1024, slice_overlap=0.2,
                                                                   slice_full=False))]
    stats, n_gt = score_rows(model, ((cv2.imread(str(f)), gt) for f, gt in frames_), table)
    return table_lines(f"tfds-undercarriage: model `{best}`, {len(frames_)} full frames, {n_gt} small parts "
                       "(located through their crops).", table, stats, n_gt, per_size=True)


def table_lines(head: str, table, stats: dict, n_gt: int, per_size: bool = False) -> list[str]:
    """A markdown table: recall, precision and time per row, ratios to the first row (`per_size`: to the unsliced
    row at the same input size)."""
    lines = ["", head, "", "| row | recall | x unsliced | precision | ms / frame | x unsliced |",
             "| --- | --- | --- | --- | --- | --- |"]
    for label, keys in table:
        same = [k for k, kw in table if per_size and not kw.get("slice") and kw["imgsz"] == keys["imgsz"]]
        same = same or [table[0][0]]
        base = stats[same[0]]  # the unsliced row at the same input size
        base_recall, base_ms = base["found"] / max(n_gt, 1), np.median(base["ms"])
        s = stats[label]
        recall, ms = s["found"] / max(n_gt, 1), np.median(s["ms"])
        precision = s["found"] / s["pred"] if s["pred"] else float("nan")
        gain = f"{recall / base_recall:.2f}" if base_recall else "-"
        lines.append(f"| {label} | {recall:.3f} | {gain} | {precision:.3f} | {ms:.0f} | {ms / base_ms:.2f} |")
    return lines


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=None, help="checkpoint (default: fault-synth's HSD teacher, trained if absent)")
    ap.add_argument("--data", default="fault-frames")
    ap.add_argument("--imgsz", type=int, default=320)
    ap.add_argument("--frames", type=int, default=32, help="validation frames used")
    ap.add_argument("--inspect", type=int, default=100, help="frames for the `fdet inspect` timing (0 = skip)")
    ap.add_argument("--tfds", action="store_true", help="also the real frames of tfds-undercarriage (trains a model)")
    ap.add_argument("--out", default="docs/slicing.md")
    a = ap.parse_args(argv)
    best = a.model or train_or_reuse(TEACHER[0], TEACHER[1], TEACHER[2])
    model = ext.HSD(best) if a.model is None else ext.models.family_of(best)(best)
    root = Path(resolve_data(a.data)).parent
    images = sorted((root / "images" / "val").glob("*.jpg"))[: a.frames]
    table = rows(a.imgsz)
    h, w = cv2.imread(str(images[0])).shape[:2]
    frames_ = ((img, labels_of(root / "labels" / "val" / f"{f.stem}.txt", img.shape[1], img.shape[0]))
               for f in images for img in [cv2.imread(str(f))])
    stats, n_gt = score_rows(model, frames_, table)
    lines = [f"# Sliced inference on {a.data} ({datetime.date.today()})", "",
             f"Command: `{command_line('slicing.py', argv)}`", "",
             "Found: a prediction of the same class, score >= 0.25, IoU >= 0.5 (greedy, one each). Time: median of "
             "`model.predict` per frame on this machine's CPU, rows interleaved per frame."]
    lines += table_lines(f"{a.data}: model `{best}`; {len(images)} frames of {w} x {h} px, "
                         f"{n_gt} labelled parts.", table, stats, n_gt)
    if a.inspect:
        with tempfile.TemporaryDirectory() as tmp:
            generate("fault-frames", Path(tmp) / "set", 0, a.inspect, imgsz=1400, seed=1)
            t = time.perf_counter()
            split = Path(tmp) / "set"
            res = inspect_frames(model, split / "images" / "val", labels=split / "labels" / "val",
                                 out=Path(tmp) / "inspect", imgsz=a.imgsz, slice=640, slice_overlap=0.2)
            wall = time.perf_counter() - t
        r = res["rates"]
        lines += ["", f"`fdet inspect ... imgsz={a.imgsz} slice=640` over {res['images']} generated fault-frames "
                  f"(seed 1): {wall:.0f} s wall ({wall / res['images']:.2f} s per frame, report included), "
                  f"{res['flagged']} flagged; against the labels FDR {r['FDR']:.3f}, MDR {r['MDR']:.3f}, "
                  f"CDR {r['CDR']:.3f}."]
    if a.tfds:
        lines += tfds_table(a.imgsz)
    write_report(a.out, lines)


if __name__ == "__main__":
    main()
