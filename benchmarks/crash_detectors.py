"""Detectors for benchmarks/crash_measurement.py: the trained ones (GJADet, YOLO26n on `crash-sequence` frames, trained
here unless a finished run is on disk), how a detector spec tracks a sequence, and how its tracks are scored.

    python benchmarks/crash_detectors.py [--models gjadet yolo26n] [--epochs 20]   # train (or reuse) the runs

Specs: 'truth' (the true boxes + noise, `TruthDetector`, through `track_markers`), 'classical'
(`ext.tools.marker_flow`: saddle points, cornerSubPix, Lucas-Kanade; no network), 'gjadet' / 'yolo26n' (the runs
below, trained if missing; `track_markers` with ByteTrack at imgsz 320) or a path to a checkpoint.
"""

from __future__ import annotations

import argparse
import csv
import time
from pathlib import Path

import cv2
import numpy as np
import torch
from matplotlib.figure import Figure

from ext.data.synth_sequence import TruthDetector
from ext.defaults import ext_default
from ext.tools import track_markers
from ext.tools.marker_flow import measure_rows, read_rows, track_flow
from ext.tools.relink import relink
from runs import train_or_reuse

ROOT = Path(__file__).resolve().parents[1]
MODELS = {"gjadet": "gjadet-n.yaml", "yolo26n": "yolo26n.yaml"}
RELINK = ext_default("relink")  # `fdet track relink=` for every detector, the classical tracker's rows too
TRAIN = dict(data="crash-sequence", epochs=20, imgsz=320, batch=8, nbs=8, device="cpu", seed=0, workers=0,
             exist_ok=True, plots=False, project=str(ROOT / "runs" / "bench-crash"))


def trained(model: str, epochs: int = TRAIN["epochs"]) -> str:
    """best.pt of `model` ('gjadet' / 'yolo26n') trained on crash-sequence with TRAIN (reused when finished)."""
    return train_or_reuse(MODELS[model], {**TRAIN, "epochs": epochs}, f"{model}-e{epochs}")


def weights(spec: str, epochs: int) -> str | None:
    """The checkpoint a spec names (trained when it is 'gjadet' / 'yolo26n' and missing); None for truth/classical."""
    if spec in ("truth", "classical"):
        return None
    return trained(spec, epochs) if spec in MODELS else str(spec)


def run(spec: str, best: str | None, frames: Path, truth: dict, out: Path, noise: float, seed: int):
    """Track one sequence with a detector; (rows as `marker_flow.read_rows` gives them, frames, seconds spent on
    detection, tracking and sub-pixel refinement)."""
    n = len(list(frames.glob("*.png")))
    start = time.perf_counter()
    if spec == "classical":
        rows, n = track_flow(cv2.imread(str(f), cv2.IMREAD_GRAYSCALE) for f in sorted(frames.glob("*.png")))
        return relink(rows, RELINK), n, time.perf_counter() - start
    det = TruthDetector(truth, noise, 100 + seed) if spec == "truth" else best
    kw = {} if spec == "truth" else {"imgsz": TRAIN["imgsz"]}
    res = track_markers(det, frames, out=out, relink=RELINK, **kw)
    return read_rows(res["csv"]), n, time.perf_counter() - start


def score(rows: list[tuple], n: int, truth: dict, cfg, sg: dict, out: Path) -> dict:
    """Rows of one sequence against its truth.

    A row belongs to the visible true marker nearest its refined centre when within that marker's radius (else it is
    a false detection: a box on debris, on a hidden marker or on one outside the frame). Centre error: refined
    (x, y) and box (cx, cy) against the true centre, px. Recall: share of the (frame, marker) pairs visible in the
    truth with a row. ID switches: per marker seen in the truth, its track ids beyond one (a marker never tracked
    counts one). Kinematics (`marker_flow.measure_rows`, fixed mm_per_px, the camera's motion taken out with the
    reference markers' tracks, `steady`; unrefined centres dropped and filled): displacement, the largest error (mm)
    over body-marker tracks and frames of the displacement from the track's first frame; peak, the mean over body
    markers whose longest track covers the pulse of |peak deceleration / true - 1| in %.
    """
    c, d = truth["centres"], truth["diameters"]
    own, dist = [], []
    for r in rows:
        e = np.where(truth["visible"][r[0]], np.hypot(*(c[r[0]] - (r[5], r[6])).T), np.inf)
        own.append(int(np.argmin(e)))
        dist.append(float(e.min()))
    good = [i for i, r in enumerate(rows) if dist[i] <= d[own[i]] / 2]
    err = np.array([dist[i] for i in good])
    box = np.array([np.hypot(*(c[rows[i][0], own[i]] - rows[i][3:5])) for i in good])
    hit = {(rows[i][0], own[i]) for i in good}
    recall = np.mean([(f, m) in hit for f, m in zip(*np.nonzero(truth["visible"]))])
    ids = {}
    for i in good:
        ids.setdefault(own[i], []).append(rows[i][1])
    seen = set(np.flatnonzero(truth["visible"].any(0)))
    switches = sum(len(set(v)) - 1 for v in ids.values()) + len(seen - set(ids))
    main = {m: max(set(v), key=v.count) for m, v in ids.items()}  # each marker's longest track
    owner = {}  # track id -> the marker it follows most
    for i in good:
        owner.setdefault(rows[i][1], []).append(own[i])
    owner = {t: max(set(v), key=v.count) for t, v in owner.items()}
    refs = [main.get(m) for m in truth["reference"]]
    kin = measure_rows([rows[i] for i in good], n, out, ref_ids=refs if None not in refs else None,
                       fps=truth["fps"], mm_per_px=cfg.mm_per_px, **sg)
    body = truth["reference"][0]
    disp, parts = [], {}
    with open(kin["csv"], newline="") as fh:
        for r in csv.DictReader(fh):
            m = owner.get(int(r["track"].split(".")[0]))
            if m is not None and m < body:
                parts.setdefault(r["track"], []).append((int(r["frame"]), float(r["disp_mm"]), m))
    x = truth["x_mm"]
    for fd in parts.values():
        disp += [abs(v - truth["travel"][m] * abs(x[f] - x[fd[0][0]])) for f, v, m in fd]
    with open(kin["summary"], newline="") as fh:
        summary = {r["track"]: r for r in csv.DictReader(fh)}
    p = cfg.pulse
    half = sg["sg_window"] // 2
    need = set(range(int(p.t0 * truth["fps"]) - half, int((p.t0 + p.T) * truth["fps"]) + half + 1))
    peak = []
    for m in range(body):
        longest = max((k for k, fd in parts.items() if fd[0][2] == m), key=lambda k: len(parts[k]), default=None)
        if longest and need <= {f for f, _, _ in parts[longest]} and summary[longest]["peak_decel_mm_s2"]:
            peak.append(abs(float(summary[longest]["peak_decel_mm_s2"]) / (p.peak * truth["travel"][m]) - 1))
    return {"median px": float(np.median(err)) if len(err) else float("nan"),
            "p95 px": float(np.percentile(err, 95)) if len(err) else float("nan"),
            "box px": float(np.median(box)) if len(box) else float("nan"),
            "recall %": 100 * float(recall), "false": len(rows) - len(good), "ID switches": int(switches),
            "disp mm": float(max(disp)) if disp else float("nan"),
            "peak %": 100 * float(np.mean(peak)) if peak else float("nan"), "peak markers": len(peak),
            "rear": rear_track(rows, good, own, truth)}


def rear_track(rows, good, own, truth) -> list:
    """The rear-most body marker's x per frame (None where not tracked), for the plot."""
    body = truth["reference"][0]
    m = int(np.argmin(truth["centres"][0, :body, 0] / np.where(truth["inside"][0, :body], 1, np.inf)))
    x = [None] * len(truth["t"])
    for i in good:
        if own[i] == m:
            x[rows[i][0]] = rows[i][5]
    return x


def plot(truth: dict, tracks: dict, file: Path, title: str) -> Path:
    """Truth against each detector's trajectory (the rear body marker's x, px) and its error, per frame."""
    fig = Figure(figsize=(9, 6), dpi=100, layout="tight")
    ax, bx = fig.add_subplot(211), fig.add_subplot(212)
    m = int(np.argmin(truth["centres"][0, : truth["reference"][0], 0] /
                      np.where(truth["inside"][0, : truth["reference"][0]], 1, np.inf)))
    f = np.arange(len(truth["t"]))
    ax.plot(f, truth["centres"][:, m, 0], "k-", lw=2.5, alpha=0.4, label="truth")
    for k, (name, x) in enumerate(tracks.items()):
        x = np.array([np.nan if v is None else v for v in x], float)
        name = "stand-in (true boxes + noise)" if name == "truth" else name
        style = dict(marker="os^vxd"[k % 6], ms=6 - k, lw=0.8, mfc="none", label=name)  # lines that coincide show
        ax.plot(f, x, **style)
        bx.plot(f, x - truth["centres"][:, m, 0], **style)
    ax.set(ylabel="x of the rear body marker (px)", title=title)
    bx.set(xlabel="frame", ylabel="tracked - true x (px)")
    for a in (ax, bx):
        a.grid(alpha=0.3)
        a.legend(fontsize=8)
    fig.savefig(file)
    return file


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    ap.add_argument("--epochs", type=int, default=TRAIN["epochs"])
    a = ap.parse_args(argv)
    torch.set_num_threads(1)
    for m in a.models:
        print(m, trained(m, a.epochs), flush=True)


if __name__ == "__main__":
    main()
