"""The classical marker tracker (ext/tools/marker_flow.py): it finds quadrant markers and nothing else, recovers a
clean sequence's true centres under one id each, takes the camera's shake out with the references, and writes what
track_markers writes."""

from __future__ import annotations

import csv

import cv2
import numpy as np
import pytest

from ext.data.synth_sequence import SequenceConfig, render_sequence
from ext.tools.marker_flow import detect_markers, read_rows, track_flow, track_markers_flow
from ext.tools.track import COLUMNS


@pytest.fixture(scope="module")
def clean(tmp_path_factory):
    folder = tmp_path_factory.mktemp("seq")
    cfg = SequenceConfig(frames=14, size=320, body_markers=4, occlusions=1, reference_mm=400.0, seed=5)
    return folder, render_sequence(cfg, folder)


def test_detects_markers_not_corners_or_debris(clean):
    folder, truth = clean
    img = cv2.imread(str(folder / "000.png"), cv2.IMREAD_GRAYSCALE)
    cv2.rectangle(img, (250, 20), (300, 60), 30, -1)  # a dark box: four L-corners
    cv2.circle(img, (200, 40), 9, 60, -1)  # a debris disk
    found = detect_markers(np.float32(img))
    true = truth["centres"][0, truth["visible"][0]]
    assert len(found) == len(true)
    assert np.abs(np.sort(found, 0) - np.sort(true, 0)).max() < 0.25


def test_tracks_a_clean_sequence_to_its_true_centres_one_id_per_marker(clean):
    folder, truth = clean
    rows, n = track_flow(cv2.imread(str(f), cv2.IMREAD_GRAYSCALE) for f in sorted(folder.glob("*.png")))
    assert n == 14
    c = truth["centres"]
    # tolerance from the truth: a tenth of the motion blur of the fastest frame plus the noise's share of a pixel
    blur = truth["v_mm_s"].max() / truth["mm_per_px"] * 0.25 / truth["fps"]
    tol = 0.1 * blur + 0.15
    ids, hits = {}, set()
    for f, tid, _, _, _, x, y, refined, _ in rows:
        e = np.hypot(*(c[f] - (x, y)).T)
        m = int(np.argmin(e))
        assert e[m] < tol and refined == 1
        ids.setdefault(m, set()).add(tid)
        hits.add((f, m))
    assert hits == set(zip(*np.nonzero(truth["visible"])))  # every visible marker in every frame, nothing else
    assert all(len(v) == 1 for v in ids.values()) and len(ids) == 6  # ids survive the debris


def test_writes_what_track_markers_writes(clean, tmp_path):
    folder, truth = clean
    res = track_markers_flow(folder, out=tmp_path / "o", fps=truth["fps"], mm_per_px=truth["mm_per_px"])
    with open(res["csv"], newline="") as fh:
        assert tuple(next(csv.reader(fh))) == COLUMNS
    rows = read_rows(res["csv"])
    assert len(rows) == truth["visible"].sum() and res["tracks"] == 6
    assert res["kinematics"]["measured"] == 6 and (tmp_path / "o" / "kinematics.csv").is_file()
    with pytest.raises(TypeError, match="measurement keys"):
        track_markers_flow(folder, out=tmp_path / "p", conf=0.5)
    with pytest.raises(ValueError, match="box sides"):
        track_markers_flow(folder, out=tmp_path / "q", fps=1000, marker_mm=20)
