"""Crash-marker tracking: IDs and trajectories on a synthetic sequence with known motion, and the `fdet track` path."""

from __future__ import annotations

import csv

import cv2
import numpy as np
import pytest
import torch

from ext.tools import track_markers
from ext.tools.track import COLUMNS, read_csv

FRAMES, SIZE = 30, 320


def checkerboard(side: int, squares: int = 4) -> np.ndarray:
    """A (side, side) uint8 black/white checkerboard marker."""
    cell = np.indices((squares, squares)).sum(0) % 2
    return cv2.resize((cell * 255).astype(np.uint8), (side, side), interpolation=cv2.INTER_NEAREST)


def make_sequence(folder, seed: int = 0):
    """Write FRAMES 320x320 frames of 7 markers (16-24 px) moving at constant velocity plus small noise.

    Returns:
        centres (FRAMES, 7, 2) true marker centres in pixels, sides (7,) marker sides in pixels.
    """
    rng = np.random.default_rng(seed)
    sides = rng.integers(16, 25, 7)
    grid = [(30 + 50 * i, 70 + 110 * j) for j in range(2) for i in range(4)][:7]  # top-left corners, 2 rows
    start = np.array(grid, float) + rng.uniform(-3, 3, (7, 2))
    velocity = np.array([3.0, 1.0]) + rng.uniform(-0.3, 0.3, (7, 2))  # a vehicle moving right, px / frame
    background = cv2.GaussianBlur(rng.integers(90, 150, (SIZE, SIZE, 3)).astype(np.uint8), (5, 5), 0)
    centres = np.zeros((FRAMES, 7, 2))
    for t in range(FRAMES):
        frame = background.copy()
        tl = np.round(start + velocity * t + rng.normal(0, 0.5, (7, 2))).astype(int)  # rendered top-left
        for k, ((x, y), s) in enumerate(zip(tl, sides)):
            frame[y : y + s, x : x + s] = checkerboard(int(s))[..., None]
            centres[t, k] = (x + s / 2, y + s / 2)
        cv2.imwrite(str(folder / f"{t:03d}.png"), frame)
    return centres, sides


class StubDetector:
    """Returns the true boxes of each frame in turn (plus 0.3 px noise) as Ultralytics `Results`."""

    def __init__(self, centres, sides, seed: int = 1):
        self.centres, self.sides, self.t = centres, sides, 0
        self.rng = np.random.default_rng(seed)

    def __call__(self, frame: np.ndarray):
        from ultralytics.engine.results import Results

        assert frame.shape == (SIZE, SIZE, 3)
        c = self.centres[self.t] + self.rng.normal(0, 0.3, self.centres[self.t].shape)
        half = self.sides[:, None] / 2
        boxes = np.concatenate([c - half, c + half, np.full((len(c), 1), 0.9), np.zeros((len(c), 1))], 1)
        self.t += 1
        return Results(frame, path="", names={0: "point"}, boxes=torch.tensor(boxes, dtype=torch.float32))


def test_track_keeps_ids_and_trajectories(tmp_path):
    frames = tmp_path / "frames"
    frames.mkdir()
    centres, sides = make_sequence(frames)
    res = track_markers(StubDetector(centres, sides), frames, out=tmp_path / "out")
    assert res["csv"].is_file() and res["plot"].is_file() and cv2.imread(str(res["plot"])) is not None
    with open(res["csv"]) as f:
        assert tuple(next(csv.reader(f))) == COLUMNS
    tracks = read_csv(res["csv"])  # {id: (N, 3) frame, cx, cy}
    rows = [(tid, int(f), np.array([cx, cy])) for tid, t in tracks.items() for f, cx, cy in t]
    owners = []
    for k in range(centres.shape[1]):
        ids, errors = [], []
        for tid, f, p in rows:  # the tracked box of marker k in frame f: the one within 6 px of its true centre
            d = np.linalg.norm(p - centres[f, k])
            if d < 6:
                ids.append(tid)
                errors.append(d)
        assert ids, f"marker {k} never tracked"
        owner = max(set(ids), key=ids.count)
        assert ids.count(owner) >= 0.9 * FRAMES, f"marker {k} kept its id in {ids.count(owner)}/{FRAMES} frames"
        assert max(errors) <= 2.0, f"marker {k}: trajectory off by {max(errors):.2f} px"
        owners.append(owner)
    assert len(set(owners)) == len(owners)  # one id per marker
    assert res["tracks"] == len(tracks) >= centres.shape[1]


def test_track_detector_filters_and_bad_tracker(tmp_path):
    frames = tmp_path / "frames"
    frames.mkdir()
    centres, sides = make_sequence(frames)
    res = track_markers(StubDetector(centres, sides), frames, out=tmp_path / "o", classes=[1])
    assert res["tracks"] == 0 and res["plot"].is_file()  # every stub box is class 0
    with pytest.raises(TypeError, match="conf, classes"):
        track_markers(StubDetector(centres, sides), frames, out=tmp_path / "o", imgsz=64)
    bad = tmp_path / "reid.yaml"
    bad.write_text("tracker_type: botsort\nwith_reid: True\nmodel: missing-reid.pt\n")
    with pytest.raises(ValueError, match="nothing is downloaded"):
        track_markers(StubDetector(centres, sides), frames, tracker=str(bad), out=tmp_path / "o")


def test_fdet_track_smoke(tmp_path, hsd_tiny_run):
    from ext.cli import main

    frames = tmp_path / "frames"
    frames.mkdir()
    rng = np.random.default_rng(0)
    for t in range(5):
        cv2.imwrite(str(frames / f"{t:03d}.png"), rng.integers(0, 255, (64, 64, 3), dtype=np.uint8))
    out = tmp_path / "out"
    model = hsd_tiny_run / "weights" / "best.pt"
    assert main(["track", f"model={model}", f"source={frames}", f"out={out}", "imgsz=64", "conf=0.01"]) == 0
    assert (out / "trajectories.csv").is_file() and (out / "displacement.png").is_file()
    with open(out / "trajectories.csv") as f:
        assert tuple(next(csv.reader(f))) == COLUMNS
    assert main(["track", f"model={model}", f"source={frames}", "outt=x"]) == 2  # unknown key


def test_fdet_track_run_folder_and_refused_keys(tmp_path, hsd_tiny_run, monkeypatch, capsys):
    """`project=`/`name=` choose the run folder; a key track cannot use (a training key, an inspection key) is refused
    by name before any work."""
    from ext.cli import main

    frames = tmp_path / "frames"
    frames.mkdir()
    for t in range(3):
        cv2.imwrite(str(frames / f"{t:03d}.png"), np.full((64, 64, 3), 40 * t, np.uint8))
    monkeypatch.chdir(tmp_path)
    args = ["track", f"model={hsd_tiny_run / 'weights' / 'best.pt'}", f"source={frames}", "imgsz=64"]
    crash = tmp_path / "crash"
    assert main([*args, f"project={crash}", "name=sled_7"]) == 0
    assert (crash / "sled_7" / "trajectories.csv").is_file()
    for key in ("epochs=3", "faults=[bolt]", "ld_weight=0.5"):
        assert main([*args, key, f"project={crash}", "name=refused"]) == 2
        assert f"'{key.split('=')[0]}' is not a valid 'fdet track' key" in capsys.readouterr().err
    assert not (crash / "refused").exists()
