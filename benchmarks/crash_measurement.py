"""Crash measurement on synthetic sequences with known truth: marker-centre error (sub-pixel refinement against the
box centre), scale from the two reference markers, displacement and peak-deceleration errors; writes a table.

    python benchmarks/crash_measurement.py [--seeds 0 1 2] [--box-noise 1.0] [--window 9]
                                           [--out docs/crash_measurement.md]

The detections are the true boxes of the visible markers moved by Gaussian noise of --box-noise px (centre and
side), what a detector's boxes look like; no network is involved, so the table measures the measurement, not the
detector. Everything else is what `fdet track ... fps= mm_per_px=` runs: `ext.tools.track_markers` (Ultralytics'
ByteTrack, sub-pixel centres or box centres, gaps filled, Savitzky-Golay kinematics). Sequences:
`ext.data.synth_sequence` (a 40 g, 30 ms half-sine pulse at 1000 fps, 2 mm per px, debris hiding markers for 1-5
frames).
"""

from __future__ import annotations

import argparse
import csv
import datetime
import shutil
import tempfile
from pathlib import Path

import numpy as np

from ext.data.synth_sequence import SequenceConfig, TruthDetector, render_sequence
from ext.tools import track_markers

from runs import command_line, write_report

CRUSH = 0.1  # the body's front markers travel 10 % less than its rear ones (a known deformation)


def read(file: Path) -> list[dict]:
    with open(file, newline="") as f:
        return list(csv.DictReader(f))


def owner(truth: dict, frame: int, x: float, y: float) -> int:
    """The true marker nearest to (x, y) in `frame`."""
    return int(np.argmin(np.hypot(*(truth["centres"][frame] - (x, y)).T)))


def measure(seed: int, noise: float, window: int, folder: Path) -> dict:
    """One sequence through `track_markers` three times (refined centres, box centres, scale from the references);
    centre errors, ID switches, scale, displacement and peak-deceleration errors against the truth."""
    cfg = SequenceConfig(seed=seed, crush=CRUSH)
    frames = folder / f"seq{seed}"
    truth = render_sequence(cfg, frames)
    units = {"fps": truth["fps"], "mm_per_px": cfg.mm_per_px, "sg_window": window}
    out = {}
    for name, subpixel in (("refined", True), ("box", False)):
        res = track_markers(TruthDetector(truth, noise, 100 + seed), frames, out=folder / f"{name}{seed}",
                            subpixel=subpixel, **units)
        rows = read(res["csv"])
        err = [np.hypot(float(r["x"]) - truth["centres"][int(r["frame"]), m, 0],
                        float(r["y"]) - truth["centres"][int(r["frame"]), m, 1])
               for r in rows for m in [owner(truth, int(r["frame"]), float(r["x"]), float(r["y"]))]]
        ids = {}
        for r in rows:
            ids.setdefault(owner(truth, int(r["frame"]), float(r["x"]), float(r["y"])), set()).add(r["track_id"])
        summary = {r["track"]: r for r in read(res["kinematics"]["summary"])}
        body = [(m, summary[min(ids[m])]) for m in range(truth["reference"][0]) if min(ids[m]) in summary]
        marker = {b["track"]: m for m, b in body}
        disp_err = {}  # per body-marker track: displacement error at every frame (from the track's first frame)
        for r in read(res["kinematics"]["csv"]):
            if r["track"] in marker:
                disp_err.setdefault(r["track"], []).append((int(r["frame"]), float(r["disp_mm"])))
        travel, x = truth["travel"], truth["x_mm"]
        worst = max(abs(d - travel[marker[t]] * abs(x[f] - x[fd[0][0]])) for t, fd in disp_err.items() for f, d in fd)
        out[name] = {
            "median px": float(np.median(err)), "p95 px": float(np.percentile(err, 95)),
            "refined %": 100 * float(np.mean([int(r["refined"]) for r in rows])),
            "ID switches": sum(len(v) - 1 for v in ids.values()) + len(set(range(len(truth["visible"][0]))) - set(ids)),
            "disp mm": float(worst),
            "peak %": float(100 * np.mean([float(r["peak_decel_mm_s2"]) / (cfg.pulse.peak * travel[m]) - 1
                                           for m, r in body])),
        }
        if subpixel:  # the scale from the two fixed reference markers, found by their first positions
            refs = [min(ids[m]) for m in truth["reference"]]
            first, last = 0, truth["reference"][0] - 1  # two body markers (a rigid pair) and the body against a
            pairs = [[int(min(ids[first])), int(refs[0])], [int(min(ids[first])), int(min(ids[last]))]]  # fixed one
            ref = track_markers(TruthDetector(truth, noise, 100 + seed), frames, out=folder / f"ref{seed}",
                                fps=truth["fps"], ref_mm=cfg.reference_mm, ref_ids=[int(i) for i in refs],
                                sg_window=window, pairs=pairs)
            scale = np.array([float(r["mm_per_px"]) for r in read(ref["kinematics"]["csv"])])
            out["scale %"] = float(100 * np.abs(scale / cfg.mm_per_px - 1).max())
            derr = []
            for r in read(ref["kinematics"]["deformation"]["csv"]):
                a, b = (first, truth["reference"][0]) if r["pair"] == f"{pairs[0][0]}-{pairs[0][1]}" else (first, last)
                c = truth["centres"][int(r["frame"])]
                derr.append(abs(float(r["distance_mm"]) - np.hypot(*(c[a] - c[b])) * cfg.mm_per_px))
            out["deformation mm"] = float(max(derr))
            out["plots"] = folder / f"ref{seed}"
    return out


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--box-noise", type=float, default=1.0, help="detection box noise, px (centre and side)")
    ap.add_argument("--window", type=int, default=9, help="Savitzky-Golay window, frames")
    ap.add_argument("--out", default="docs/crash_measurement.md")
    ap.add_argument("--plots", default="docs/img", help="where the first seed's plots are copied (crash_*.png)")
    a = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        runs = [measure(s, a.box_noise, a.window, Path(tmp)) for s in a.seeds]
        Path(a.plots).mkdir(parents=True, exist_ok=True)
        for stem in ("displacement_mm", "velocity", "acceleration", "deformation"):
            shutil.copy(runs[0]["plots"] / f"{stem}.png", Path(a.plots) / f"crash_{stem}.png")
    cols = ("median px", "p95 px", "refined %", "ID switches", "disp mm", "peak %")
    lines = [f"# Crash measurement on synthetic sequences ({datetime.date.today()})", "",
             f"Command: `{command_line('crash_measurement.py', argv)}`", "",
             f"Seeds {a.seeds}, 60 frames each; detection boxes: truth + N(0, {a.box_noise} px) (centre and side); "
             "`track_markers` with ByteTrack, fps 1000, mm_per_px 2, Savitzky-Golay window "
             f"{a.window} frames. Centre error: every tracked box and frame against its marker's true centre. "
             "ID switches: over the 8 markers, track ids beyond one per marker (markers never tracked count too); "
             "debris hides body markers for 1-5 frames 3 times a sequence. Displacement: largest error (mm) over "
             "the body markers and frames of the displacement from the track's first frame; peak: mean over the body "
             "markers of the peak-deceleration error (true peak 400,000 mm/s^2, 40 g, at the rear). The body "
             f"crushes: its front markers travel {100 * CRUSH:.0f} % less than the rear ones (truth per marker). Mean over seeds (min - max). Scale from the two reference markers "
             f"(ref_mm=800): largest error over frames {np.mean([r['scale %'] for r in runs]):.3g} % (mean over "
             "seeds). Deformation (`pairs=`, with that scale: the rear body marker against a fixed reference and "
             "against the front body marker, whose distance shrinks with the crush): largest error of the pair distance over pairs and frames "
             f"{np.mean([r['deformation mm'] for r in runs]):.3g} mm (mean over seeds; max "
             f"{np.max([r['deformation mm'] for r in runs]):.3g} mm). Plots of seed {a.seeds[0]} (refined centres, "
             f"scale from the references): `{a.plots}/crash_*.png`.", "",
             f"| centre | {' | '.join(cols)} |", f"| --- | {' | '.join('---' for _ in cols)} |"]
    for name in ("box", "refined"):
        cells = []
        for c in cols:
            v = np.array([r[name][c] for r in runs])
            cells.append(f"{v.mean():.3g} ({v.min():.3g} - {v.max():.3g})")
        lines.append(f"| {name} | {' | '.join(cells)} |")
    write_report(a.out, lines)


if __name__ == "__main__":
    main()
