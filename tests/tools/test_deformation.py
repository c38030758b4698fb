"""Deformation between marker pairs and the identity report (`fdet track ... pairs=`): hand-made tracks with known
distances and gaps, and a synthetic crash sequence read from a video file."""

from __future__ import annotations

import csv

import cv2
import numpy as np
import pytest

from ext.data.synth_sequence import SequenceConfig, TruthDetector, render_sequence
from ext.tools import track_markers
from ext.tools.deformation import check_pairs, identities, positions, write_deformation
from ext.tools.measure import check_units


def track(frames, xy, side=10.0):
    frames = np.asarray(frames)
    return {"frame": frames, "xy": np.asarray(xy, float), "side": np.full(len(frames), side),
            "refined": np.ones(len(frames), bool), "cls": "point"}


def test_positions_fill_short_gaps_only():
    t = track([0, 2, 6], [[0, 0], [2, 4], [10, 4]])
    p = positions(t, 8, max_gap=1)
    np.testing.assert_allclose(p[:3], [[0, 0], [1, 2], [2, 4]])  # one missing frame filled
    assert np.isnan(p[3:6]).all() and np.isnan(p[7]).all()  # three missing frames are not


def test_deformation_of_a_stretching_pair(tmp_path):
    """a fixed at the origin, b at 10 + f px: distance (10 + f) * 0.5 mm, change 0.5 f mm, largest at the end."""
    f = np.arange(20)
    tracks = {1: track(f, np.zeros((20, 2))), 2: track(f, np.stack([10.0 + f, np.zeros(20)], 1))}
    files = write_deformation(tracks, [(1, 2)], np.full(20, 0.5), 1000.0, 5, tmp_path)
    rows = list(csv.DictReader(open(files["csv"])))
    np.testing.assert_allclose([float(r["distance_mm"]) for r in rows], (10 + f) * 0.5)
    np.testing.assert_allclose([float(r["change_mm"]) for r in rows], 0.5 * f)
    (s,) = csv.DictReader(open(files["summary"]))
    assert (s["pair"], s["frames"], float(s["initial_mm"]), float(s["max_change_mm"]), float(s["at_s"])) == \
        ("1-2", "20", 5.0, 9.5, 0.019)
    assert files["plot"].stat().st_size > 0
    with pytest.raises(ValueError, match=r"track id\(s\) \[9\] not tracked"):
        write_deformation(tracks, [(1, 9)], np.full(20, 0.5), 1000.0, 5, tmp_path)


def test_identities_flag_a_marker_back_under_a_new_id():
    tracks = {1: track(range(10), [[50, 50]] * 10),  # ends at frame 9 at (50, 50)
              2: track(range(12, 20), [[52, 50]] * 8),  # starts 3 frames later 2 px away: the same marker
              3: track([0, 1, 5, 6], [[300, 300]] * 4)}  # a gap of 3 frames, elsewhere
    info = {t["id"]: t for t in identities(tracks)}
    assert info[2]["after"] == 1 and info[1]["after"] is None and info[3]["after"] is None
    assert (info[3]["missing"], info[3]["longest_gap"], info[3]["seen"]) == (3, 3, 4)


def test_pairs_are_checked_before_any_work():
    assert check_pairs([[3, 7], [3, 9]]) == [(3, 7), (3, 9)]
    with pytest.raises(ValueError, match="pairs="):
        check_pairs([3, 7])
    with pytest.raises(ValueError, match="give a scale key"):
        check_units({"pairs": [[3, 7]], "fps": 1000.0}, "frames")


def test_video_file_with_a_pair_against_the_truth(tmp_path):
    """The crash sequence written as a video (fps read from the file): a body marker against a fixed reference
    marker; their distance changes by the body's displacement."""
    frames_dir = tmp_path / "frames"
    cfg = SequenceConfig(frames=40, occlusions=0, seed=2)
    truth = render_sequence(cfg, frames_dir)
    video = tmp_path / "crash.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), cfg.fps, (cfg.size, cfg.size))
    for f in sorted(frames_dir.glob("*.png")):
        writer.write(cv2.imread(str(f)))
    writer.release()
    first = track_markers(TruthDetector(truth, 0.5, 0), video, out=tmp_path / "a")
    rows = list(csv.DictReader(open(first["csv"])))
    assert {int(r["frame"]) for r in rows} == set(range(40))  # every frame of the video read
    assert first["identities"]["suspected_switches"] == 0 and first["identities"]["tracks"] == 8

    def id_near(x, y):
        return int(min((r for r in rows if r["frame"] == "0"), key=lambda r: np.hypot(float(r["cx"]) - x,
                                                                                     float(r["cy"]) - y))["track_id"])

    body, ref = id_near(*truth["centres"][0, 0]), id_near(*truth["centres"][0, truth["reference"][0]])
    res = track_markers(TruthDetector(truth, 0.5, 0), video, out=tmp_path / "b", mm_per_px=cfg.mm_per_px,
                        pairs=[[body, ref]])
    assert res["kinematics"] is not None  # fps came from the video file
    got = np.array([float(r["distance_mm"]) for r in csv.DictReader(open(res["kinematics"]["deformation"]["csv"]))])
    want = np.hypot(*(truth["centres"][:, 0] - truth["centres"][:, truth["reference"][0]]).T) * cfg.mm_per_px
    assert np.abs(got - want).max() < 1.0  # mm, while the body moves 205 mm
