"""Crash-marker tracking with Ultralytics' built-in trackers (ByteTrack by default), trajectories and displacements.

The detection source is pluggable:
  - a model (checkpoint path or Ultralytics `Model`): `model.track(source, stream=True, persist=True, tracker=...)`,
    Ultralytics' own tracking mode (its predictor, NMS and tracking callbacks);
  - a detector callable `detector(frame) -> Results`, frame (H, W, 3) uint8 BGR, `Results` with `boxes` (N, 6)
    [x1, y1, x2, y2, conf, cls] in pixels of that frame: frames are read by Ultralytics' `load_inference_source` and
    the results go through the same Ultralytics tracking callbacks (`on_predict_start`,
    `on_predict_postprocess_end`, with persist=True) that `model.track` registers, so the tracker sees exactly what it
    would see behind a real model. This is how tests feed known boxes.

`persist=True` keeps one tracker across the frames of a folder (without it Ultralytics resets the tracker whenever the
image path changes, i.e. on every image of a folder). Each call starts fresh trackers.
Frames of a folder are read in sorted file-name order: name them with zero-padded numbers (000.png, 001.png, ...).

Outputs (in `out`): `trajectories.csv` with one row per tracked box and frame,
  frame (0-based index of the processed frame), track_id (int), class (class name), cx, cy (box centre, pixels of
  the original frame), x, y (the marker centre refined to its saddle point, `subpixel.py`; the box centre where that
  fails) and refined (1 / 0); and `displacement.png`: per track, the distance |(cx, cy) - (cx, cy) at the track's
  first frame| in pixels over frames, one line per track. With a scale key (`mm_per_px`, `marker_mm` or `ref_mm`)
  and `fps`, also the kinematics in mm and s (`measure.py`).
Nothing downloads: trackers whose YAML asks for an external ReID model file that is not on disk are refused.
"""

from __future__ import annotations

import csv
from collections import defaultdict
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch
from matplotlib.figure import Figure
from ultralytics.data import load_inference_source
from ultralytics.engine.model import Model
from ultralytics.trackers.track import TRACKER_MAP, on_predict_postprocess_end, on_predict_start
from ultralytics.utils import TQDM, YAML, IterableSimpleNamespace
from ultralytics.utils.checks import check_yaml

from .common import count_frames, load_model, run_dir
from .deformation import identities, write_identities
from .measure import KEYS, check_units, steady, write_kinematics
from .relink import relink as relink_rows
from .subpixel import refine_centres

COLUMNS = ("frame", "track_id", "class", "cx", "cy", "x", "y", "refined")


def tracker_config(tracker: str) -> SimpleNamespace:
    """Load a tracker YAML (a built-in name such as 'bytetrack.yaml' / 'botsort.yaml', or a path) as a namespace.

    Raises:
        ValueError: unknown tracker type, or a ReID model file that is not on disk (it would be downloaded).
    """
    cfg = IterableSimpleNamespace(**YAML.load(check_yaml(tracker)))
    if cfg.tracker_type not in TRACKER_MAP:
        raise ValueError(f"tracker '{tracker}': tracker_type '{cfg.tracker_type}' not in {sorted(TRACKER_MAP)}")
    reid = getattr(cfg, "model", "auto")
    if getattr(cfg, "with_reid", False) and reid != "auto" and not Path(str(reid)).is_file():
        raise ValueError(f"tracker '{tracker}' needs the ReID model '{reid}', not found (nothing is downloaded)")
    return cfg


def _keep(result, conf: float, classes) -> object:
    """Return `result` restricted to boxes with conf >= `conf` and, when given, cls in `classes` (int or list)."""
    boxes = result.boxes
    if boxes is None or len(boxes) == 0:
        return result
    b = boxes.cpu().numpy()
    mask = b.conf >= conf
    if classes is not None:
        mask &= np.isin(b.cls, [classes] if np.isscalar(classes) else list(classes))
    return result[torch.as_tensor(np.flatnonzero(mask))]


def track_with_detector(detector, source, tracker: str = "bytetrack.yaml", conf: float = 0.1, classes=None,
                        vid_stride: int = 1):
    """Yield tracked `Results`, one per frame of `source`, for a detector callable (see the module notes).

    The detector's results are filtered (conf >= `conf`, the same low default as `model.track`; `classes`), then
    passed through Ultralytics' tracking callbacks on a minimal predictor stand-in; yielded results carry
    `boxes.id` when tracks are confirmed.
    """
    cfg = tracker_config(tracker)
    if getattr(cfg, "with_reid", False) and getattr(cfg, "model", "auto") == "auto":
        raise ValueError(f"tracker '{tracker}' uses with_reid + model=auto (the detector's own features): "
                         "that needs a real model, not a detector callable")
    dataset = load_inference_source(source, vid_stride=vid_stride)
    predictor = SimpleNamespace(
        args=SimpleNamespace(mode="track", task="detect", tracker=tracker),
        dataset=dataset,
        device=torch.device("cpu"),
        model=SimpleNamespace(model=None),
        results=[],
    )
    on_predict_start(predictor, persist=True)
    if hasattr(type(predictor.trackers[0]), "setup_predictor"):
        raise ValueError(f"tracker type '{cfg.tracker_type}' needs a real model's predictor; use a model")
    for paths, images, _ in dataset:
        for path, image in zip(paths, images):
            result = detector(image)
            result.path = result.path or path
            predictor.results = [_keep(result, conf, classes)]
            on_predict_postprocess_end(predictor, persist=True)
            yield predictor.results[0]


def collect_tracks(results, subpixel: bool = True) -> tuple[list[tuple], int]:
    """Rows (frame, track_id, class name, cx, cy, x, y, refined, side) from an iterable of tracked `Results`, and the
    number of frames; frame = its position, (cx, cy) the box centre, (x, y) the marker centre refined to sub-pixel
    (`subpixel.refine_centres`; the box centre with refined=0 where that fails or `subpixel` is off), side the
    box's mean side (px)."""
    rows, n = [], 0
    for frame, r in enumerate(results):
        n = frame + 1
        boxes = r.boxes
        if boxes is None or not boxes.is_track or len(boxes) == 0:
            continue
        ids = boxes.id.int().tolist()
        xywh, xyxy = boxes.xywh.cpu().numpy(), boxes.xyxy.cpu().numpy()
        refined, ok = refine_centres(r.orig_img, xyxy) if subpixel else (xywh[:, :2], np.zeros(len(ids), bool))
        for tid, c, (cx, cy, w, h), (x, y), good in zip(ids, boxes.cls.int().tolist(), xywh, refined, ok):
            rows.append((frame, tid, r.names.get(c, str(c)), float(cx), float(cy), float(x), float(y), int(good),
                         float((w + h) / 2)))
    return rows, n


def write_csv(rows: list[tuple], file: Path) -> Path:
    """Write `trajectories.csv` (COLUMNS; positions with 3 decimals) sorted by frame then track id."""
    with open(file, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(COLUMNS)
        for frame, tid, name, cx, cy, x, y, good, _ in sorted(rows, key=lambda r: (r[0], r[1])):
            w.writerow((frame, tid, name, f"{cx:.3f}", f"{cy:.3f}", f"{x:.3f}", f"{y:.3f}", good))
    return file


def by_track(rows: list[tuple]) -> dict[int, dict]:
    """Rows grouped per track id, in frame order: {id: dict(frame, xy (refined), side, refined, cls)}."""
    out = defaultdict(list)
    for r in sorted(rows, key=lambda r: (r[1], r[0])):
        out[r[1]].append(r)
    return {tid: {"frame": np.array([r[0] for r in rs]), "xy": np.array([(r[5], r[6]) for r in rs]),
                  "side": np.array([r[8] for r in rs]), "refined": np.array([r[7] for r in rs], bool),
                  "cls": rs[0][2]} for tid, rs in out.items()}


def read_csv(file: str | Path) -> dict[int, np.ndarray]:
    """Read `trajectories.csv` into {track_id: (N, 3) float array of frame, cx, cy rows in frame order}."""
    tracks = defaultdict(list)
    with open(file, newline="") as f:
        for row in csv.DictReader(f):
            tracks[int(row["track_id"])].append((float(row["frame"]), float(row["cx"]), float(row["cy"])))
    return {k: np.array(sorted(v)) for k, v in tracks.items()}


def plot_displacement(tracks: dict[int, np.ndarray], file: Path) -> Path:
    """Plot each track's displacement |p(frame) - p(first frame)| in pixels over frames (matplotlib, no pyplot)."""
    fig = Figure(figsize=(8, 4.5), dpi=100, layout="tight")
    ax = fig.add_subplot()
    for tid, t in sorted(tracks.items()):
        ax.plot(t[:, 0], np.hypot(t[:, 1] - t[0, 1], t[:, 2] - t[0, 2]), lw=1.2, label=f"id {tid}")
    if not tracks:
        ax.text(0.5, 0.5, "no tracks", ha="center", va="center", transform=ax.transAxes)
    elif len(tracks) <= 15:
        ax.legend(fontsize=7, ncol=3)
    ax.set(xlabel="frame", ylabel="displacement from first position (px)", title=f"{len(tracks)} tracks")
    ax.grid(alpha=0.3)
    fig.savefig(file)
    return file


def track_markers(model_or_path, source, tracker: str = "bytetrack.yaml", out=None, subpixel: bool = True,
                  relink: int = 30, project=None, name=None, exist_ok: bool = False, **kwargs) -> dict:
    """Track markers over the frames of `source`; write `trajectories.csv` and `displacement.png` and, when a scale
    key is given, the kinematics in mm and s (`measure.py`: kinematics.csv, summary.csv, three plots).

    Args:
        model_or_path: checkpoint / YAML path, an Ultralytics `Model`, or a detector callable
            `frame (H, W, 3) uint8 BGR -> Results` (see the module notes).
        source: a folder of frames (sorted by name), a glob, or a video.
        tracker: Ultralytics tracker YAML: 'bytetrack.yaml' (default), 'botsort.yaml', or a path.
        out: output folder (created); None = `project/name` (`run_dir`; default a new `runs/detect/track*`).
        subpixel: refine marker centres to their saddle point (`subpixel.py`).
        relink: repair the tracker's identities (`relink.py`): duplicate tracks of one marker merged, a track that
            starts at most `relink` frames after another ended, where it ended, joined to it; 0 keeps the tracker's ids.
        project, name, exist_ok: Ultralytics' run-folder keys, when `out` is not given.
        **kwargs: the measurement keys (`measure.KEYS`: fps, mm_per_px, marker_mm, ref_mm, ref_ids (fixed reference
            markers: the camera's motion is taken out with them, `measure.steady`), sg_window, sg_order,
            max_gap, pairs), checked before any work; the rest go to `model.track` (conf, iou, imgsz, classes, device,
            vid_stride, ...). With a detector callable only conf (default 0.1), classes and vid_stride apply.

    Returns:
        dict(csv=Path, plot=Path, tracks=int number of distinct track ids, kinematics=dict or None,
        identities=dict(file (tracks.csv), tracks, suspected_switches, missing_frames)).
    """
    units = check_units({k: kwargs.pop(k) for k in KEYS if k in kwargs}, source)
    predict_kwargs = kwargs
    save_dir = run_dir("track", out, project, name, exist_ok)
    if callable(model_or_path) and not isinstance(model_or_path, (Model, str, Path)):
        unknown = set(predict_kwargs) - {"conf", "classes", "vid_stride", "verbose"}
        if unknown:
            raise TypeError(f"with a detector callable, track_markers takes conf, classes, vid_stride; got {unknown}")
        predict_kwargs.pop("verbose", None)
        conf = predict_kwargs.pop("conf", None)
        results = track_with_detector(model_or_path, source, tracker, conf=0.1 if conf is None else conf,
                                      **predict_kwargs)
    else:
        tracker_config(tracker)  # refuse ReID downloads before any work
        model = load_model(model_or_path)
        model.predictor = None  # fresh predictor, so persist=True does not reuse trackers of an earlier call
        results = model.track(source=source, stream=True, persist=True, tracker=tracker,
                              **{"verbose": False, **predict_kwargs})
    stride = int(predict_kwargs.get("vid_stride") or 1)
    total = count_frames(source)
    bar = TQDM(results, total=None if total is None else -(-total // stride), desc="fdet track", unit="frame")
    rows, n_frames = collect_tracks(bar, subpixel)
    rows = relink_rows(rows, int(relink))
    csv_file = write_csv(rows, save_dir / "trajectories.csv")
    tracks = read_csv(csv_file)
    plot = plot_displacement(tracks, save_dir / "displacement.png")
    ids = write_identities(identities(by_track(rows)) if rows else [], save_dir / "tracks.csv")
    measured = None
    if units is not None:
        if not rows:
            raise ValueError(f"no markers were tracked in {source}: nothing to measure (see {csv_file})")
        still = steady(rows, units.ref_ids) if units.ref_ids else rows  # the camera's shake out
        measured = write_kinematics(by_track(still), units, n_frames, save_dir)
    return {"csv": csv_file, "plot": plot, "tracks": len(tracks), "kinematics": measured, "identities": ids}
