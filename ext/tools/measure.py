"""From tracked marker centres to kinematics in millimetres and seconds, for `fdet track` (`track_markers`).

Keys (cfg/default.yaml): `fps`, one scale key at most (`mm_per_px` fixed; `marker_mm`, the marker diameter, for a
scale per frame from the detected boxes; `ref_mm` with `ref_ids`, the distance between two reference markers, for a
scale per frame from their centres; `ref_ids` with another scale key: fixed reference markers), `sg_window`
(Savitzky-Golay window, frames), `sg_order` (its polynomial order) and `max_gap`. With `ref_ids`, positions are
measured against the reference markers, fixed in the scene (`steady`: a shaking camera's motion taken out) before
anything else. `check_units` checks
them before any work; `write_kinematics` writes, per track and frame, `kinematics.csv` (units in the header),
`displacement_mm.png`, `velocity.png`, `acceleration.png` and `summary.csv` (per track: frames, gaps filled,
peak deceleration and when, final displacement); with `pairs`, the deformation between those markers
(`deformation.py`).

A track's missing frames (a marker hidden by debris) are filled with a local cubic (`kinematics.fill_gaps`) when at
most `max_gap` in a row; a longer gap splits the track into parts, each measured on its own (named `<id>` and `<id>.1`, `<id>.2`, ...).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from matplotlib.figure import Figure

from ..defaults import or_default
from .deformation import check_pairs, write_deformation
from .kinematics import Kinematics, fill_gaps, kinematics, scale_from_reference

KEYS = ("fps", "mm_per_px", "marker_mm", "ref_mm", "ref_ids", "sg_window", "sg_order", "max_gap", "pairs")
CSV_COLUMNS = ("frame", "time_s", "track", "class", "x_px", "y_px", "refined", "mm_per_px", "disp_mm", "vx_mm_s",
               "vy_mm_s", "ax_mm_s2", "ay_mm_s2")


@dataclass
class Units:
    """Resolved measurement settings: fps (> 0), how the scale is found ('mm_per_px', 'marker_mm' or 'ref_mm') and
    its value, the reference track ids (two with ref_mm; any with another scale key), the filter's window and
    polynomial order and the longest filled gap."""

    fps: float
    scale_key: str
    scale_value: float
    ref_ids: tuple[int, ...] | None = None  # fixed reference markers: the camera's motion is taken out with them
    window: int = 9
    order: int = 3  # Savitzky-Golay polynomial order
    max_gap: int = 5
    pairs: tuple = ()  # (a, b) track ids whose distance is measured (deformation.py)


def steady(rows: list[tuple], ref_ids) -> list[tuple]:
    """Rows with the camera's motion taken out: per frame, the mean displacement of the reference tracks `ref_ids`
    (markers fixed in the scene; each from its position in the first frame all of them share, else its own first
    frame) is subtracted from every position; frames without a reference take the shift interpolated linearly between
    the nearest frames with one. Rows (frame, track_id, class, cx, cy, x, y, refined, side) as `track.collect_tracks`
    and `marker_flow.track_flow` give them; returns new rows.

    Raises:
        ValueError: none of `ref_ids` has a row.
    """
    pos = {int(i): {r[0]: np.array(r[5:7], float) for r in rows if r[1] == int(i)} for i in ref_ids}
    pos = {i: p for i, p in pos.items() if p}
    if not pos:
        raise ValueError(f"ref_ids={list(ref_ids)}: no rows of these reference tracks")
    common = sorted(set.intersection(*(set(p) for p in pos.values())))
    base = {i: p[common[0]] if common else p[min(p)] for i, p in pos.items()}
    known = sorted(set().union(*(set(p) for p in pos.values())))
    shift = np.array([np.mean([p[f] - base[i] for i, p in pos.items() if f in p], 0) for f in known])
    out = []
    for r in rows:
        d = [np.interp(r[0], known, shift[:, k]) for k in (0, 1)]
        out.append((*r[:3], r[3] - d[0], r[4] - d[1], r[5] - d[0], r[6] - d[1], *r[7:]))
    return out


def video_fps(source) -> float:
    """Frames per second stored in a video file, 0 when `source` is not a readable video."""
    p = Path(str(source))
    if not p.is_file():
        return 0.0
    cap = cv2.VideoCapture(str(p))
    fps = cap.get(cv2.CAP_PROP_FPS) if cap.isOpened() else 0.0
    cap.release()
    return float(fps) if fps and np.isfinite(fps) and fps > 0 else 0.0


def check_units(keys: dict, source) -> Units | None:
    """The measurement settings from the keys, or None when no scale key asks for millimetres.

    Raises:
        ValueError: two scale keys at once, `ref_mm` without two `ref_ids`, a scale without `fps` (and no video to
            read it from), or a window / gap out of range; each message names the key.
    """
    given = {k: float(keys.get(k) or 0) for k in ("mm_per_px", "marker_mm", "ref_mm")}
    if any(v < 0 for v in given.values()):
        raise ValueError(f"scale keys must be positive: {given}")
    chosen = [k for k, v in given.items() if v > 0]
    if len(chosen) > 1:
        raise ValueError(f"{' and '.join(chosen)} both set the scale: give one of mm_per_px, marker_mm, ref_mm")
    ref_ids = keys.get("ref_ids")
    if ref_ids is not None and not chosen:
        raise ValueError("ref_ids (fixed reference markers) is given without a scale key: give ref_mm (the distance "
                         "between the two reference markers in mm), mm_per_px or marker_mm, and fps")
    pairs = check_pairs(keys.get("pairs"))
    if pairs and not chosen:
        raise ValueError("pairs measures distances in mm: give a scale key (mm_per_px, marker_mm or ref_mm) and fps")
    if not chosen:
        return None
    if chosen[0] == "ref_mm":
        if not (isinstance(ref_ids, (list, tuple)) and len(ref_ids) == 2 and all(isinstance(i, int) for i in ref_ids)):
            raise ValueError(f"ref_mm needs ref_ids=[a,b], the track ids of the two reference markers, got {ref_ids}")
    elif ref_ids is not None and not (isinstance(ref_ids, (list, tuple)) and ref_ids
                                      and all(isinstance(i, int) for i in ref_ids)):
        raise ValueError(f"ref_ids: give the track ids of the fixed reference markers, e.g. [3, 7]; got {ref_ids}")
    ref_ids = tuple(int(i) for i in ref_ids) if ref_ids is not None else None
    fps = float(keys.get("fps") or 0) or video_fps(source)
    if fps <= 0:
        raise ValueError(f"{chosen[0]} asks for millimetres and seconds: give fps=... (frames per second; "
                         "read from the file only for videos)")
    window, order, gap = (int(or_default(keys.get(k), k)) for k in ("sg_window", "sg_order", "max_gap"))
    if window < 5 or not 2 <= order < window or gap < 0:
        raise ValueError(f"sg_window={window} must be >= 5 frames, sg_order={order} from 2 (an acceleration) to "
                         f"sg_window - 1, and max_gap={gap} >= 0")
    return Units(fps, chosen[0], given[chosen[0]], ref_ids, window=window, order=order, max_gap=gap, pairs=tuple(pairs))


def parts(frames: np.ndarray, max_gap: int) -> list[np.ndarray]:
    """Split sorted frame numbers where more than `max_gap` frames in a row are missing; index arrays per part."""
    cut = np.flatnonzero(np.diff(frames) > max_gap + 1) + 1
    return np.split(np.arange(len(frames)), cut)


def scale_per_frame(units: Units, tracks: dict, n_frames: int) -> np.ndarray:
    """(n_frames,) mm per pixel: fixed, from the markers' median box size, or from the two reference tracks."""
    if units.scale_key == "mm_per_px":
        return np.full(n_frames, units.scale_value)
    out = np.full(n_frames, np.nan)
    if units.scale_key == "marker_mm":
        sides = [[] for _ in range(n_frames)]
        for t in tracks.values():
            for f, side in zip(t["frame"], t["side"]):
                sides[int(f)].append(side)
        out = np.array([units.scale_value / np.median(s) if s else np.nan for s in sides])
    else:
        a, b = (tracks.get(i) for i in units.ref_ids)
        if a is None or b is None:
            raise ValueError(f"ref_ids={list(units.ref_ids)}: track ids not found; tracks are {sorted(tracks)}")
        pa, pb = np.full((n_frames, 2), np.nan), np.full((n_frames, 2), np.nan)
        pa[a["frame"].astype(int)], pb[b["frame"].astype(int)] = a["xy"], b["xy"]
        out = scale_from_reference(pa, pb, units.scale_value)
    good = np.isfinite(out)
    if not good.any():
        raise ValueError(f"{units.scale_key}: no frame gives a scale (are the markers detected?)")
    return np.interp(np.arange(n_frames), np.flatnonzero(good), out[good])  # frames without one: nearest known


def write_kinematics(tracks: dict, units: Units, n_frames: int, out: Path) -> dict:
    """Measure every track of at least `units.window` frames; write the CSV, plots and summary into `out`.

    Args:
        tracks: {track_id: dict(frame (N,), xy (N, 2) px, side (N,) px box side, refined (N,) bool, cls str)}.
        units: from `check_units`. n_frames: frames processed. out: folder.

    Returns:
        dict(csv, summary, plots, measured: number of track parts measured, deformation: files or None).
    """
    scale = scale_per_frame(units, tracks, n_frames)
    rows, summary, curves = [], [], {}
    for tid, t in sorted(tracks.items()):
        for p, idx in enumerate(parts(t["frame"], units.max_gap)):
            name = f"{tid}" if p == 0 else f"{tid}.{p}"
            if len(idx) < units.window:
                summary.append((name, t["cls"], len(idx), 0, "", "", "too short"))
                continue
            frames, xy = fill_gaps(t["frame"][idx], t["xy"][idx])
            refined = np.interp(frames, t["frame"][idx], t["refined"][idx].astype(float)) == 1
            k: Kinematics = kinematics(xy, units.fps, scale[frames.astype(int)], window=units.window,
                                       polyorder=units.order)
            disp = np.hypot(*k.displacement.T)
            peak, when = k.peak_deceleration()
            summary.append((name, t["cls"], len(frames), len(frames) - len(idx), f"{peak:.6g}",
                            f"{frames[0] / units.fps + when:.6g}", f"{disp[-1]:.6g}"))
            curves[name] = (frames / units.fps, disp, np.hypot(*k.velocity.T), np.hypot(*k.acceleration.T))
            for i, f in enumerate(frames):
                rows.append((int(f), f"{f / units.fps:.6g}", name, t["cls"], f"{xy[i, 0]:.3f}", f"{xy[i, 1]:.3f}",
                             int(refined[i]), f"{scale[int(f)]:.6g}", f"{disp[i]:.4f}",
                             *(f"{v:.6g}" for v in (*k.velocity[i], *k.acceleration[i]))))
    out.mkdir(parents=True, exist_ok=True)
    csv_file, summary_file = out / "kinematics.csv", out / "summary.csv"
    with open(csv_file, "w", newline="") as fh:
        csv.writer(fh).writerows([CSV_COLUMNS, *sorted(rows, key=lambda r: (r[0], r[2]))])
    with open(summary_file, "w", newline="") as fh:
        csv.writer(fh).writerows([("track", "class", "frames", "filled", "peak_decel_mm_s2", "peak_time_s",
                                   "final_disp_mm"), *summary])
    plots = [_plot(curves, i, label, out / f"{stem}.png") for i, (stem, label) in enumerate(
        [("displacement_mm", "displacement (mm)"), ("velocity", "speed (mm/s)"), ("acceleration", "|a| (mm/s^2)")],
        start=1)]
    res = {"csv": csv_file, "summary": summary_file, "plots": plots, "measured": len(curves), "deformation": None}
    if units.pairs:
        res["deformation"] = write_deformation(tracks, list(units.pairs), scale, units.fps, units.max_gap, out)
    return res


def _plot(curves: dict, i: int, label: str, file: Path) -> Path:
    """One line per track part of column `i` of its curves against time (matplotlib, no pyplot)."""
    fig = Figure(figsize=(8, 4.5), dpi=100, layout="tight")
    ax = fig.add_subplot()
    for name, c in curves.items():
        ax.plot(c[0], c[i], lw=1.2, label=f"id {name}")
    if 0 < len(curves) <= 15:
        ax.legend(fontsize=7, ncol=3)
    ax.set(xlabel="time (s)", ylabel=label, title=f"{len(curves)} tracks")
    ax.grid(alpha=0.3)
    fig.savefig(file)
    return file
