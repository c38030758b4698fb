"""Deformation between chosen marker pairs and what the tracker did to identities, for `fdet track`.

`pairs=[[a, b], ...]` (track ids, as in trajectories.csv) gives, per pair and frame where both markers are known
(each track's gaps up to `max_gap` filled as for the kinematics), their distance in mm (the scale of
`measure.scale_per_frame`) and its change from the first such frame; `deformation.csv` (frame, time_s, pair, distance_mm, change_mm),
`deformation.png` (change against time) and `deformation_summary.csv` (pair, frames, initial_mm, max_change_mm
(largest |change|, signed), at_s) are written.

`identities` lists, per track id, its first and last frame, frames seen, frames missing inside it, the longest
gap, and a suspected earlier id: a track that starts within `reach` frames after another ended, within two marker
sides of where it ended, is most likely the same marker that came back under a new id (an ID switch the tracker
did not repair). Written as `tracks.csv`; the counts go to the run's summary.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from .kinematics import distance, fill_gaps


def positions(track: dict, n_frames: int, max_gap: int) -> np.ndarray:
    """(n_frames, 2) refined centre of a track (px), NaN where unknown; gaps of at most `max_gap` frames filled as the
    kinematics fill them (`kinematics.fill_gaps`, within each part a longer gap leaves)."""
    out = np.full((n_frames, 2), np.nan)
    f = track["frame"].astype(int)
    for idx in np.split(np.arange(len(f)), np.flatnonzero(np.diff(f) > max_gap + 1) + 1):
        full, xy = fill_gaps(f[idx], np.asarray(track["xy"], float)[idx])
        out[full] = xy
    return out


def check_pairs(pairs) -> list[tuple[int, int]]:
    """`pairs` as a list of (a, b) track ids. Raises ValueError naming the key for anything else."""
    if pairs is None:
        return []
    if not (isinstance(pairs, (list, tuple)) and pairs and all(
            isinstance(p, (list, tuple)) and len(p) == 2 and all(isinstance(i, int) for i in p) for p in pairs)):
        raise ValueError(f"pairs={pairs}: give track id pairs, e.g. pairs=[[3,7],[3,9]]")
    return [(int(a), int(b)) for a, b in pairs]


def write_deformation(tracks: dict, pairs: list[tuple[int, int]], scale: np.ndarray, fps: float, max_gap: int,
                      out: Path) -> dict:
    """Write deformation.csv, deformation_summary.csv and deformation.png for `pairs` (module docstring).

    Args:
        tracks: {track_id: dict(frame (N,), xy (N, 2) px, ...)}. scale: (F,) mm per px per frame. fps: frames/s.

    Raises:
        ValueError: a pair names a track id that was not tracked, or the two markers never share a frame.
    """
    n = len(scale)
    rows, summary, fig = [], [], Figure(figsize=(8, 4.5), dpi=100, layout="tight")
    ax = fig.add_subplot()
    for a, b in pairs:
        missing = [i for i in (a, b) if i not in tracks]
        if missing:
            raise ValueError(f"pairs: track id(s) {missing} not tracked; tracks are {sorted(tracks)}")
        d = distance(positions(tracks[a], n, max_gap), positions(tracks[b], n, max_gap)) * scale
        frames = np.flatnonzero(np.isfinite(d))
        if not len(frames):
            raise ValueError(f"pairs: markers {a} and {b} are never seen in the same frame")
        change = d[frames] - d[frames[0]]
        k = int(np.argmax(np.abs(change)))
        name = f"{a}-{b}"
        summary.append((name, len(frames), f"{d[frames[0]]:.4f}", f"{change[k]:.4f}", f"{frames[k] / fps:.6g}"))
        rows += [(int(f), f"{f / fps:.6g}", name, f"{d[f]:.4f}", f"{c:.4f}") for f, c in zip(frames, change)]
        ax.plot(frames / fps, change, lw=1.2, label=name)
    ax.set(xlabel="time (s)", ylabel="change of distance (mm)", title="deformation between marker pairs")
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    out.mkdir(parents=True, exist_ok=True)
    files = {"csv": out / "deformation.csv", "summary": out / "deformation_summary.csv",
             "plot": out / "deformation.png"}
    with open(files["csv"], "w", newline="") as fh:
        csv.writer(fh).writerows([("frame", "time_s", "pair", "distance_mm", "change_mm"), *sorted(rows)])
    with open(files["summary"], "w", newline="") as fh:
        csv.writer(fh).writerows([("pair", "frames", "initial_mm", "max_change_mm", "at_s"), *summary])
    fig.savefig(files["plot"])
    return files


def identities(tracks: dict, reach: int = 30) -> list[dict]:
    """Per track id: first, last, seen, missing (frames inside the track without it), longest_gap and
    `after` (the id this track most likely continues, or None); see the module docstring."""
    info = []
    for tid, t in sorted(tracks.items()):
        f = t["frame"].astype(int)
        gaps = np.diff(f) - 1 if len(f) > 1 else np.zeros(1, int)
        info.append(dict(id=tid, first=int(f[0]), last=int(f[-1]), seen=len(f), missing=int(gaps.sum()),
                         longest_gap=int(gaps.max()), start=t["xy"][0], end=t["xy"][-1],
                         side=float(np.median(t["side"])), after=None))
    for t in info:
        ended = [o for o in info if o is not t and 0 < t["first"] - o["last"] <= reach
                 and np.hypot(*(t["start"] - o["end"])) <= 2 * max(t["side"], o["side"])]
        if ended:
            t["after"] = min(ended, key=lambda o: np.hypot(*(t["start"] - o["end"])))["id"]
    return info


def write_identities(info: list[dict], file: Path) -> dict:
    """Write tracks.csv; return dict(file, tracks, suspected_switches, missing_frames)."""
    with open(file, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(("track_id", "first_frame", "last_frame", "seen", "missing", "longest_gap", "continues_id"))
        w.writerows((t["id"], t["first"], t["last"], t["seen"], t["missing"], t["longest_gap"],
                     "" if t["after"] is None else t["after"]) for t in info)
    return {"file": file, "tracks": len(info), "suspected_switches": sum(t["after"] is not None for t in info),
            "missing_frames": sum(t["missing"] for t in info)}
