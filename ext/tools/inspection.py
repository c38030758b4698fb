"""`fdet inspect`: a verdict per image and per train from a fault detector, with a CSV and an HTML report.

For every image of a folder (sub-folders are trains: `source/<train>/<frame>.jpg`; images directly in `source` form
one train named after it) or every frame of a video (the video is the train), the model predicts (sliced when
`slice=` is given, see ext/deploy/predict.py) and the image is a **fault** when at least one box of a
fault class scores at least `conf` (default 0.5, the threshold of HSD's image-level rates), else **normal**.
Fault classes: `faults=[...]` (names or ids), else the class names that mark a fault state (`broken`, `missing`,
`fault`, `_f`, ...; `ext.metrics.fault_class_ids`).

Written to the run folder (`out`, else `project/name` as `yolo` does, default runs/detect/inspect, inspect2, ...):
- `inspection.csv`: one row per image: image (path relative to source), train, verdict (fault / normal /
  unreadable), faults (count), boxes (all boxes at conf), top_fault (class and score of the best fault box),
  truth (fault / normal from `labels=`, else empty). Rows are written as images are done.
- `faults.csv`: one row per fault box: image, train, class, score, x1, y1, x2, y2 (px of the original image).
- `report.html`: one self-contained page (images inline): flagged images first, each with its thumbnail and boxes,
  a crop of each fault, a filter by class, the per-train table and, with `labels=`, the image-level FDR / MDR / CDR
  of the verdicts. Rewritten every `REPORT_EVERY` images and when the run stops for any reason (Ctrl-C too), so
  an interrupted run leaves a valid partial report that says how far it got.

`labels=FOLDER`: YOLO label files mirroring the source (`<labels>/<relative path>.txt`, or `<labels>/<stem>.txt`);
an image without a file has no objects. Truth per image: fault when it has a box of a fault class.
Unreadable images are skipped and listed (never a crash halfway); an empty source is an error before any work.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from ultralytics.data.utils import IMG_FORMATS
from ultralytics.utils import TQDM

from ..data.labels import read_boxes
from ..metrics import fault_class_ids
from .common import load_model, run_dir
from .inspection_report import crop_uri, thumbnail_uri, write_report

REPORT_EVERY = 25  # images between report rewrites
VIDEO_SUFFIXES = {".mp4", ".avi", ".mov", ".mkv", ".m4v", ".mpg", ".mpeg", ".wmv", ".webm"}


@dataclass
class Verdict:
    """One image: where it is, what was decided, and what the report shows."""

    image: str  # path relative to the source (video frames: <video stem>/frame_000123)
    train: str
    verdict: str  # 'fault', 'normal' or 'unreadable'
    faults: list = field(default_factory=list)  # (class name, score, [x1, y1, x2, y2] px), best first
    boxes: int = 0
    truth: str = ""  # 'fault' / 'normal' with labels=, else ''
    thumb: str = ""  # data URI of the annotated image
    crops: list = field(default_factory=list)  # data URIs, one per fault


def frames(source: str | Path) -> tuple[int, object]:
    """(number of images, iterator of (relative name, train, image BGR uint8 or None when unreadable)) of a folder
    (sub-folders = trains), an image or a video (the video is the train; frames named <stem>/frame_000000).

    Raises:
        FileNotFoundError: no such source. ValueError: a folder without images, a video without frames.
    """
    src = Path(source)
    if not src.exists():
        raise FileNotFoundError(f"source '{source}' not found")
    if src.is_file() and src.suffix.lower() in VIDEO_SUFFIXES:
        cap = cv2.VideoCapture(str(src))
        ok, img = cap.read()
        if not ok:
            raise ValueError(f"source '{source}': no frame could be read from this video")

        def video():
            ok_, img_, i = ok, img, 0
            while ok_:
                yield f"{src.stem}/frame_{i:06d}", src.stem, img_
                ok_, img_ = cap.read()
                i += 1
            cap.release()

        return int(cap.get(cv2.CAP_PROP_FRAME_COUNT)), video()
    files = [src] if src.is_file() else sorted(p for p in src.rglob("*") if p.suffix.lower()[1:] in IMG_FORMATS)
    if not files:
        raise ValueError(f"source '{source}' holds no images ({', '.join(sorted(IMG_FORMATS))})")
    root = src.parent if src.is_file() else src

    def images():
        for p in files:
            rel = p.relative_to(root)
            yield rel.as_posix(), rel.parts[0] if len(rel.parts) > 1 else root.name, cv2.imread(str(p))

    return len(files), images()


def truth_of(labels: Path, rel: str, faults: list[int]) -> str:
    """'fault' when the YOLO label file of image `rel` has a box of a fault class, else 'normal'."""
    f = labels / Path(rel).with_suffix(".txt")
    f = f if f.is_file() else labels / f"{Path(rel).stem}.txt"
    classes = read_boxes(f, 1, 1)[:, 0].astype(int)  # no file: no objects
    return "fault" if set(classes.tolist()) & set(faults) else "normal"


def rates(verdicts: list[Verdict]) -> dict | None:
    """Image-level rates of the verdicts against the labels, as fractions of all readable images (HSD's
    convention): FDR = flagged but normal, MDR = fault but not flagged, CDR = 1 - FDR - MDR; None without labels."""
    done = [v for v in verdicts if v.truth]
    if not done:
        return None
    n = len(done)
    false = sum(v.verdict == "fault" and v.truth == "normal" for v in done)
    missed = sum(v.verdict != "fault" and v.truth == "fault" for v in done)
    return {"images": n, "faulty": sum(v.truth == "fault" for v in done), "false": false, "missed": missed,
            "FDR": false / n, "MDR": missed / n, "CDR": 1 - (false + missed) / n}


def judge(result, rel: str, train: str, faults: list[int], conf: float) -> Verdict:
    """Verdict of one Ultralytics `Results` (boxes in px of the original image)."""
    data = result.boxes.data.cpu().numpy() if result.boxes is not None else np.zeros((0, 6))
    data = data[data[:, 4] >= conf]
    hits = sorted((row for row in data if int(row[5]) in faults), key=lambda r: -r[4])
    found = [(result.names[int(r[5])], float(r[4]), [round(float(x), 1) for x in r[:4]]) for r in hits]
    return Verdict(rel, train, "fault" if found else "normal", found, len(data))


def inspect_frames(model, source, labels=None, faults=None, out=None, conf: float = 0.5, project=None, name=None,
                   exist_ok: bool = False, **predict_kwargs) -> dict:
    """Inspect every image of `source` (folder or video) and write the CSVs and the HTML report (module docstring).

    Args:
        model: checkpoint path or Ultralytics `Model`. source: folder of images (sub-folders = trains) or video.
        labels: folder of YOLO label files for the image-level rates. faults: fault classes (names or ids).
        out: run folder; None = `project/name` (`run_dir`; default a new `runs/detect/inspect*`).
        conf: score threshold of a fault box. project, name, exist_ok: Ultralytics' run-folder keys.
        predict_kwargs: Ultralytics predict keys and ours (`imgsz`, `slice`, `slice_overlap`, `device`, ...).

    Returns:
        dict(csv, faults_csv, report, images, flagged, unreadable, complete, rates)

    Raises:
        ValueError: the model has no fault class (pass faults=...), an empty source. FileNotFoundError: missing
            source, model or labels folder.
    """
    model = load_model(model)
    fault_ids = fault_class_ids(model.names, faults)
    if not fault_ids:
        raise ValueError(f"no fault class among {list(model.names.values())}: pass faults=[name, ...]")
    if labels is not None and not Path(labels).is_dir():
        raise FileNotFoundError(f"labels folder '{labels}' not found")
    total, stream = frames(source)  # errors about the source before any file is written
    out = run_dir("inspect", out, project, name, exist_ok)
    paths = {"csv": out / "inspection.csv", "faults_csv": out / "faults.csv", "report": out / "report.html"}
    meta = {"model": str(getattr(model, "ckpt_path", None) or model.model_name), "source": str(source),
            "conf": conf, "faults": [model.names[i] for i in fault_ids], "slice": predict_kwargs.get("slice", 0)}
    verdicts: list[Verdict] = []
    complete = False
    with open(paths["csv"], "w", newline="") as f_img, open(paths["faults_csv"], "w", newline="") as f_box:
        rows, boxes = csv.writer(f_img), csv.writer(f_box)
        rows.writerow(["image", "train", "verdict", "faults", "boxes", "top_fault", "truth"])
        boxes.writerow(["image", "train", "class", "score", "x1", "y1", "x2", "y2"])
        try:
            for k, (rel, train, img) in enumerate(TQDM(stream, total=total, desc="fdet inspect", unit="image")):
                if img is None:
                    v = Verdict(rel, train, "unreadable")
                else:
                    r = model.predict(img, conf=conf, verbose=False, **predict_kwargs)[0]
                    v = judge(r, rel, train, fault_ids, conf)
                    v.truth = truth_of(Path(labels), rel, fault_ids) if labels is not None else ""
                    v.thumb = thumbnail_uri(r.plot(conf=True, line_width=max(2, round(max(img.shape[:2]) / 400))))
                    v.crops = [crop_uri(img, box) for _, _, box in v.faults]
                verdicts.append(v)
                top = f"{v.faults[0][0]} {v.faults[0][1]:.3f}" if v.faults else ""
                rows.writerow([v.image, v.train, v.verdict, len(v.faults), v.boxes, top, v.truth])
                boxes.writerows([v.image, v.train, c, f"{s:.4f}", *b] for c, s, b in v.faults)
                f_img.flush(), f_box.flush()
                if (k + 1) % REPORT_EVERY == 0:
                    write_report(paths["report"], verdicts, meta, rates(verdicts), complete=False)
            complete = True
        finally:  # any stop, Ctrl-C included, leaves a valid report of what was done
            write_report(paths["report"], verdicts, meta, rates(verdicts), complete=complete)
    return {**paths, "images": len(verdicts), "flagged": sum(v.verdict == "fault" for v in verdicts),
            "unreadable": [v.image for v in verdicts if v.verdict == "unreadable"], "complete": complete,
            "rates": rates(verdicts)}
