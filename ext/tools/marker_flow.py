"""Classical crash-marker tracking without a network, the way photogrammetry tools work: quadrant markers found as
saddle points of the image, refined with OpenCV's `cornerSubPix`, checked for their 2x2 checkerboard pattern,
followed frame to frame with pyramidal Lucas-Kanade (`calcOpticalFlowPyrLK`) and re-anchored on the detections; it
writes the same `trajectories.csv` as `track_markers` and measures with the same code (`measure.write_kinematics`).

Detection (`detect_markers`): the Gaussian-smoothed frame's Hessian (`cv2.Sobel` second derivatives) has a negative
determinant at an X-corner; local maxima of -det(H) (`cv2.dilate`) above `min_saddle` are refined with `cornerSubPix`
and kept when the brightness on a ring around them is a checkerboard: its second angular harmonic (two bright and two
dark quadrants) carries at least `min_pattern` of the ring's variance and `min_contrast` grey levels (an edge, a
corner of the body or debris does not). Tracking (`track_flow`): each track is moved by Lucas-Kanade (with a
forward-backward check), candidates are assigned to the tracks' predictions (Hungarian, within `gate` px), a track
whose marker is not found (debris) waits `max_lost` frames at its constant-velocity prediction for it to come back
under the same id, and a detection nobody claims starts a track. A camera that shakes moves the reference markers:
with `ref_ids`, `measure.steady` subtracts their mean motion from every track, so displacements are measured against
the scene, as in `track_markers`.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from scipy.optimize import linear_sum_assignment
from ultralytics.data import load_inference_source

from .common import run_dir
from .deformation import identities, write_identities
from .measure import KEYS, check_units, steady, write_kinematics
from .relink import relink as relink_rows
from .track import by_track, plot_displacement, read_csv, write_csv

__all__ = ("FlowConfig", "detect_markers", "measure_rows", "read_rows", "track_flow", "track_markers_flow")
CRITERIA = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 40, 1e-3)


@dataclass
class FlowConfig:
    """Settings of the classical tracker (pixels and grey levels of the full frame)."""

    sigma: float = 1.5  # Gaussian smoothing before the Hessian, px
    min_saddle: float = 200.0  # smallest -det(Hessian) of the smoothed frame, grey levels^2 / px^4
    win: int = 4  # cornerSubPix half window, px (about a third of the smallest marker's diameter)
    ring: float = 4.0  # radius of the pattern check, px (inside the smallest marker)
    min_pattern: float = 0.6  # share of the ring's variance in its second angular harmonic
    min_contrast: float = 30.0  # amplitude of that harmonic, grey levels
    gate: float = 8.0  # px between a track's prediction and the candidate it takes (grows by 2 px per lost frame)
    max_lost: int = 8  # frames a track waits for its marker
    lk_win: int = 15  # Lucas-Kanade window side, px
    lk_levels: int = 3  # pyramid levels
    fb_max: float = 0.5  # forward-backward error above which a Lucas-Kanade step is refused, px


def _pattern(gray: np.ndarray, pts: np.ndarray, cfg: FlowConfig) -> np.ndarray:
    """(N,) bool: the ring of radius cfg.ring around each (N, 2) point is a 2x2 checkerboard."""
    if not len(pts):
        return np.zeros(0, bool)
    a = np.linspace(0, 2 * np.pi, 32, endpoint=False)
    mx = (pts[:, :1] + cfg.ring * np.cos(a)[None]).astype(np.float32)
    my = (pts[:, 1:] + cfg.ring * np.sin(a)[None]).astype(np.float32)
    p = cv2.remap(gray, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE).astype(np.float64)
    p -= p.mean(1, keepdims=True)
    c2 = np.abs(p @ np.exp(-2j * a)) * 2 / len(a)  # amplitude of cos(2 theta + phi)
    var = (p**2).mean(1)
    return (c2**2 / 2 >= cfg.min_pattern * np.maximum(var, 1e-9)) & (c2 >= cfg.min_contrast)


def _refine(gray: np.ndarray, pts: np.ndarray, cfg: FlowConfig) -> tuple[np.ndarray, np.ndarray]:
    """cornerSubPix from (N, 2) starts; (refined (N, 2), ok (N,): inside the frame, moved < win px, pattern found)."""
    if not len(pts):
        return pts.reshape(0, 2), np.zeros(0, bool)
    h, w = gray.shape
    m = cfg.win + 2
    inside = (pts[:, 0] >= m) & (pts[:, 0] < w - m) & (pts[:, 1] >= m) & (pts[:, 1] < h - m)
    out = pts.astype(np.float64).copy()
    if inside.any():
        start = pts[inside].reshape(-1, 1, 2).astype(np.float32)
        out[inside] = cv2.cornerSubPix(gray, start, (cfg.win, cfg.win), (-1, -1), CRITERIA).reshape(-1, 2)
    ok = inside & (np.hypot(*(out - pts).T) < cfg.win) & _pattern(gray, out, cfg)
    return out, ok


def detect_markers(gray: np.ndarray, cfg: FlowConfig = FlowConfig()) -> np.ndarray:
    """Quadrant-marker centres in one frame.

    Args:
        gray: (H, W) float32 grey frame (grey levels 0-255).
    Returns:
        (N, 2) float64 x, y sub-pixel centres (pixel centres at integer coordinates, OpenCV's convention).
    """
    s = cv2.GaussianBlur(gray, (0, 0), cfg.sigma)
    dxx, dyy, dxy = (cv2.Sobel(s, cv2.CV_32F, dx, dy, ksize=3) for dx, dy in ((2, 0), (0, 2), (1, 1)))
    resp = dxy * dxy - dxx * dyy  # -det(Hessian): positive at a saddle
    peak = (resp >= cv2.dilate(resp, np.ones((5, 5), np.uint8))) & (resp > cfg.min_saddle)
    ys, xs = np.nonzero(peak)
    pts, ok = _refine(gray, np.stack([xs, ys], 1).astype(np.float64), cfg)
    pts = pts[ok]
    keep = []  # peaks of one marker refined to the same point: keep one
    for i, p in enumerate(pts):
        if all(np.hypot(*(p - pts[j])) > 2 for j in keep):
            keep.append(i)
    return pts[keep]


def track_flow(frames, cfg: FlowConfig = FlowConfig()) -> tuple[list[tuple], int]:
    """Track quadrant markers over an iterable of frames ((H, W) or (H, W, 3) BGR uint8).

    Returns:
        (rows (frame, track_id, 'point', cx, cy, x, y, refined, side) as `track.collect_tracks` gives them, with
        (cx, cy) the detection or Lucas-Kanade point before refinement, (x, y) the refined centre, refined 1 and side
        NaN (no box); the number of frames). Track ids start at 1.
    """
    rows, tracks, prev, n, last_id = [], {}, None, 0, 0  # tracks: id -> dict(p position, v px/frame, lost frames)
    lk = dict(winSize=(cfg.lk_win, cfg.lk_win), maxLevel=cfg.lk_levels, criteria=CRITERIA)
    for f, frame in enumerate(frames):
        n = f + 1
        gray = np.float32(frame if frame.ndim == 2 else cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY))
        det = detect_markers(gray, cfg)
        ids = list(tracks)
        pred = np.array([tracks[i]["p"] + tracks[i]["v"] * (1 + tracks[i]["lost"]) for i in ids]).reshape(-1, 2)
        flow, flow_ok = pred.copy(), np.zeros(len(ids), bool)
        if prev is not None and ids:
            p0 = np.array([tracks[i]["p"] for i in ids], np.float32).reshape(-1, 1, 2)
            live = np.array([tracks[i]["lost"] == 0 for i in ids])
            p1, st, _ = cv2.calcOpticalFlowPyrLK(prev, np.uint8(np.clip(gray, 0, 255)), p0, None, **lk)
            back, st2, _ = cv2.calcOpticalFlowPyrLK(np.uint8(np.clip(gray, 0, 255)), prev, p1, None, **lk)
            fb = np.hypot(*(back - p0).reshape(-1, 2).T)
            good = live & (st.ravel() == 1) & (st2.ravel() == 1) & (fb < cfg.fb_max)
            flow[good] = p1.reshape(-1, 2)[good]
            refined, ok = _refine(gray, flow[good], cfg)
            flow[np.flatnonzero(good)[ok]] = refined[ok]
            flow_ok[np.flatnonzero(good)[ok]] = True
            pred[good] = p1.reshape(-1, 2)[good]
        taken, claimed = {}, set()
        if ids and len(det):
            cost = np.hypot(*(pred[:, None] - det[None]).transpose(2, 0, 1))
            gates = np.array([cfg.gate + 2 * tracks[i]["lost"] for i in ids])[:, None]
            r, c = linear_sum_assignment(np.where(cost <= gates, cost, 1e6))
            for a, b in zip(r, c):
                if cost[a, b] <= gates[a, 0]:
                    taken[ids[a]], claimed = (det[b], det[b]), claimed | {b}
        for k, i in enumerate(ids):
            if i not in taken and flow_ok[k] and all(np.hypot(*(flow[k] - det[b])) > 2 for b in claimed):
                taken[i] = (pred[k], flow[k])  # the Lucas-Kanade point and its refinement
        for b in set(range(len(det))) - claimed:
            if all(np.hypot(*(det[b] - p[0])) > 2 for p in taken.values()):
                last_id += 1  # never an id of a track given up earlier
                tracks[last_id] = {"p": det[b], "v": np.zeros(2), "lost": 0}
                taken[last_id] = (det[b], det[b])
        for i in list(tracks):
            t = tracks[i]
            if i in taken:
                start, p = taken[i]
                t["v"] = (p - t["p"]) / (1 + t["lost"]) if f > 0 and "seen" in t else t["v"]
                t.update(p=p, lost=0, seen=True)
                rows.append((f, i, "point", float(start[0]), float(start[1]), float(p[0]), float(p[1]), 1,
                             float("nan")))
            elif t["lost"] < cfg.max_lost:
                t["lost"] += 1
            else:
                del tracks[i]
        prev = np.uint8(np.clip(gray, 0, 255))
    return rows, n


def read_rows(file: str | Path) -> list[tuple]:
    """`trajectories.csv` (of `track_markers` or `track_flow`) back as rows (frame, track_id, class, cx, cy, x, y,
    refined, side); side is NaN (the CSV has no box size)."""
    with open(file, newline="") as fh:
        return [(int(r["frame"]), int(r["track_id"]), r["class"], *(float(r[k]) for k in ("cx", "cy", "x", "y")),
                 int(r["refined"]), float("nan")) for r in csv.DictReader(fh)]


def measure_rows(rows: list[tuple], n_frames: int, out: str | Path, refined_only: bool = True,
                 **keys) -> dict | None:
    """Kinematics of rows in mm and s with `measure.write_kinematics` (keys: `measure.KEYS`; `marker_mm` needs box
    sides, which rows from `track_flow` or a CSV lack), after `measure.steady(rows, ref_ids)` when `ref_ids` is given.
    With `refined_only`, rows whose centre was not refined (a box centre, pixels off: a box on debris, a blurred marker)
    are dropped and their frames filled like hidden ones (`max_gap`). None without a scale key."""
    units = check_units(keys, None)
    if units is None:
        return None
    if units.scale_key == "marker_mm":
        raise ValueError("marker_mm needs box sides: use mm_per_px or ref_mm with these rows")
    rows = [r for r in rows if r[7]] if refined_only else rows
    rows = steady(rows, units.ref_ids) if units.ref_ids else rows
    return write_kinematics(by_track(rows), units, n_frames, Path(out))


def track_markers_flow(source, out=None, cfg: FlowConfig = FlowConfig(), relink: int = 30, **keys) -> dict:
    """`track_markers` with the classical tracker: frames of `source` (folder, glob or video) through `track_flow`;
    writes trajectories.csv, displacement.png, tracks.csv and, with a scale key, the kinematics (`measure_rows`).
    Identities are repaired as `track_markers` does (`relink.py`; `relink=0` keeps the tracker's ids).

    Returns:
        dict(csv, plot, tracks (distinct ids), kinematics (dict or None), identities) as `track_markers` does.
    """
    unknown = set(keys) - set(KEYS)
    if unknown:
        raise TypeError(f"track_markers_flow takes the measurement keys {KEYS}; got {sorted(unknown)}")
    save_dir = run_dir("track", out, None, None, False)
    frames = (im for _, images, _ in load_inference_source(source) for im in images)
    rows, n = track_flow(frames, cfg)
    rows = relink_rows(rows, int(relink))
    csv_file = write_csv(rows, save_dir / "trajectories.csv")
    plot = plot_displacement(read_csv(csv_file), save_dir / "displacement.png")
    ids = write_identities(identities(by_track(rows)) if rows else [], save_dir / "tracks.csv")
    measured = measure_rows(rows, n, save_dir, **keys) if rows else None
    return {"csv": csv_file, "plot": plot, "tracks": len({r[1] for r in rows}), "kinematics": measured,
            "identities": ids}
