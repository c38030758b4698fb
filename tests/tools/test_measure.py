"""Kinematics in mm and s from tracked markers (`fdet track ... fps= mm_per_px=`): on a synthetic crash sequence with
known truth, through Ultralytics' tracker; and the keys' checks before any work."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from ext.data.synth_sequence import SequenceConfig, TruthDetector, render_sequence
from ext.tools import track_markers
from ext.tools.measure import check_units, parts, steady


@pytest.fixture(scope="module")
def sequence(tmp_path_factory):
    folder = tmp_path_factory.mktemp("seq")
    return folder, render_sequence(SequenceConfig(frames=50, occlusions=3, seed=1), folder)


def test_kinematics_of_a_known_crash_pulse(sequence, tmp_path):
    folder, truth = sequence
    res = track_markers(TruthDetector(truth, 1.0, 0), folder, out=tmp_path / "o", fps=truth["fps"],
                        mm_per_px=truth["mm_per_px"], sg_window=9)
    k = res["kinematics"]
    assert k["csv"].is_file() and all(p.is_file() for p in k["plots"])
    rows = list(csv.DictReader(open(k["csv"])))
    assert {"time_s", "disp_mm", "vx_mm_s", "ax_mm_s2"} <= set(rows[0])
    summary = {r["track"]: r for r in csv.DictReader(open(k["summary"]))}
    # each marker is one track (no id switch, hidden frames of up to 5 filled), found by its first position
    ids = {}
    for r in rows:
        f, xy = int(r["frame"]), np.array([float(r["x_px"]), float(r["y_px"])])
        m = int(np.argmin(np.hypot(*(truth["centres"][f] - xy).T)))
        ids.setdefault(m, set()).add(r["track"])
    assert sorted(ids) == list(range(8)) and all(len(v) == 1 for v in ids.values())
    assert len(summary) == 8 and sum(int(r["filled"]) for r in summary.values()) == (~truth["visible"]).sum()
    body = [summary[next(iter(ids[m]))] for m in range(6)]
    peaks = np.array([float(r["peak_decel_mm_s2"]) for r in body])
    assert np.abs(peaks / 4.0e5 - 1).max() < 0.05  # the 40 g pulse, within 5 %
    final = np.array([float(r["final_disp_mm"]) for r in body])
    assert np.abs(final - (truth["x_mm"][-1] - truth["x_mm"][0])).max() < 1.0  # mm
    still = [summary[next(iter(ids[m]))] for m in (6, 7)]  # the fixed references
    assert all(float(r["final_disp_mm"]) < 0.5 for r in still)


def test_scale_from_reference_markers(sequence, tmp_path):
    folder, truth = sequence
    first = track_markers(TruthDetector(truth, 1.0, 0), folder, out=tmp_path / "a")  # pixels only: find the reference ids
    assert first["kinematics"] is None
    rows = list(csv.DictReader(open(first["csv"])))
    refs = truth["centres"][0, list(truth["reference"])]
    ref_ids = [int(min(rows, key=lambda r: np.hypot(float(r["x"]) - x, float(r["y"]) - y))["track_id"])
               for x, y in refs]
    res = track_markers(TruthDetector(truth, 1.0, 0), folder, out=tmp_path / "b", fps=truth["fps"], ref_mm=800.0,
                        ref_ids=ref_ids)
    scale = np.array([float(r["mm_per_px"]) for r in csv.DictReader(open(res["kinematics"]["csv"]))])
    assert np.abs(scale / truth["mm_per_px"] - 1).max() < 1e-3


@pytest.mark.parametrize("keys, match", [
    ({"mm_per_px": 0.5, "ref_mm": 800.0, "ref_ids": [1, 2], "fps": 1000}, "both set the scale"),
    ({"ref_mm": 800.0, "fps": 1000}, "ref_ids"),
    ({"ref_ids": [1, 2]}, "without a scale key"),
    ({"ref_ids": [1, 2.5], "mm_per_px": 0.5, "fps": 1000}, "ref_ids: give the track ids"),
    ({"mm_per_px": 0.5}, "fps"),
    ({"mm_per_px": 0.5, "fps": 1000, "sg_window": 3}, "sg_window"),
    ({"mm_per_px": 0.5, "fps": 1000, "sg_order": 1}, "sg_order"),
    ({"mm_per_px": 0.5, "fps": 1000, "sg_window": 9, "sg_order": 9}, "sg_order"),
])
def test_bad_measurement_keys_stop_before_any_work(keys, match, tmp_path):
    with pytest.raises(ValueError, match=match):
        track_markers(lambda frame: None, tmp_path, out=tmp_path / "never", **keys)
    assert not (tmp_path / "never").exists()
    assert check_units({}, tmp_path) is None  # no scale key: pixels only


def test_gaps_split_tracks_past_max_gap():
    frames = np.array([0, 1, 2, 5, 6, 14, 15])
    assert [p.tolist() for p in parts(frames, max_gap=2)] == [[0, 1, 2, 3, 4], [5, 6]]
    assert [p.tolist() for p in parts(frames, max_gap=7)] == [[0, 1, 2, 3, 4, 5, 6]]


def test_fdet_track_measurement_keys(tmp_path, hsd_tiny_run, capsys):
    """The keys through `fdet track`: missing fps stops with exit 2 and nothing written; footage in which the model
    tracks nothing ends with a clear error, after the (empty) trajectories are written."""
    import cv2

    from ext.cli import main

    frames = tmp_path / "frames"
    frames.mkdir()
    for t in range(3):
        cv2.imwrite(str(frames / f"{t:03d}.png"), np.full((64, 64, 3), 127, np.uint8))
    model = hsd_tiny_run / "weights" / "best.pt"
    args = ["track", f"model={model}", f"source={frames}", "imgsz=64", "mm_per_px=0.5"]
    assert main([*args, f"out={tmp_path / 'a'}"]) == 2
    assert "fps" in capsys.readouterr().err and not (tmp_path / "a").exists()
    assert main([*args, "fps=1000", "conf=0.99", f"out={tmp_path / 'b'}"]) == 2
    assert "no markers were tracked" in capsys.readouterr().err and (tmp_path / "b" / "trajectories.csv").is_file()


def test_steady_removes_the_reference_motion():
    shift = np.array([[0, 0], [1.5, -0.5], [-2.0, 1.0], [0.5, 0.25]])
    rows = []
    for f, d in enumerate(shift):
        rows += [(f, 1, "point", 10 + d[0], 50 + d[1], 10 + d[0], 50 + d[1], 1, 9.0),
                 (f, 2, "point", 90 + d[0], 50 + d[1], 90 + d[0], 50 + d[1], 1, 9.0),
                 (f, 3, "point", 30 + 4 * f + d[0], 20 + d[1], 30 + 4 * f + d[0], 20 + d[1], 1, 9.0)]
    out = steady(rows, [1, 2])
    body = np.array([r[5:7] for r in out if r[1] == 3])
    np.testing.assert_allclose(body, np.stack([30 + 4 * np.arange(4.0), np.full(4, 20.0)], 1))
    assert out[0][2] == "point" and out[0][7:] == (1, 9.0)
    gaps = [r for r in rows if not (r[1] == 1 and r[0] == 2) and not (r[1] in (1, 2) and r[0] == 1)]
    body = np.array([r[5:7] for r in steady(gaps, [1, 2]) if r[1] == 3])  # frame 1: no reference, interpolated;
    np.testing.assert_allclose(body[[0, 2, 3]], [[30, 20], [38, 20], [42, 20]])  # frame 2: reference 2 alone
    np.testing.assert_allclose(body[1], [34 + 1.5 - (-2.0 + 0) / 2, 20 - 0.5 - (1.0 + 0) / 2])
    with pytest.raises(ValueError, match="no rows of these reference tracks"):
        steady(rows, [7])


def test_ref_ids_take_a_shaking_camera_out(tmp_path):
    """`ref_ids` with `mm_per_px`: positions against the fixed reference markers, so the camera's 3 px shake leaves
    the references still and the body's displacement true."""
    folder = tmp_path / "f"
    truth = render_sequence(SequenceConfig(frames=40, occlusions=0, shake=3.0, seed=2), folder)
    keys = dict(fps=truth["fps"], mm_per_px=truth["mm_per_px"])
    shaken = track_markers(TruthDetector(truth, 0.0, 0), folder, out=tmp_path / "a", **keys)
    rows = list(csv.DictReader(open(shaken["csv"])))
    refs = [int(min(rows, key=lambda r: np.hypot(float(r["x"]) - x, float(r["y"]) - y))["track_id"])
            for x, y in truth["centres"][0, list(truth["reference"])]]
    steadied = track_markers(TruthDetector(truth, 0.0, 0), folder, out=tmp_path / "b", ref_ids=refs, **keys)

    def largest_disp(res, ids) -> float:  # mm, over the frames of the tracks `ids`
        return max(float(r["disp_mm"]) for r in csv.DictReader(open(res["kinematics"]["csv"]))
                   if int(r["track"].split(".")[0]) in ids)

    shake_mm = np.abs(truth["shake"] - truth["shake"][0]).max() * truth["mm_per_px"]
    assert largest_disp(shaken, refs) > 0.5 * shake_mm > 1.0  # the shake shows on markers fixed in the scene
    assert largest_disp(steadied, refs) < 0.2  # mm: taken out
    body = max(truth["centres"][0, :truth["reference"][0]].tolist(), key=lambda c: c[0])  # a front body marker
    bid = int(min(rows, key=lambda r: np.hypot(float(r["x"]) - body[0], float(r["y"]) - body[1]))["track_id"])
    final = {r["track"]: float(r["final_disp_mm"]) for r in csv.DictReader(open(steadied["kinematics"]["summary"]))}
    travel = truth["x_mm"][-1] - truth["x_mm"][0]
    assert abs(final[str(bid)] - travel) < 0.5  # mm, the body's true travel (crush 0: every body marker travels it)


def test_sg_keys_set_the_filter(sequence, tmp_path):
    """`sg_window` / `sg_order` are the Savitzky-Golay filter's: a track's acceleration in kinematics.csv is SciPy's
    second derivative of its positions at that window and order."""
    from scipy.signal import savgol_filter

    folder, truth = sequence
    res = track_markers(TruthDetector(truth, 1.0, 0), folder, out=tmp_path / "o", fps=truth["fps"], mm_per_px=2.0,
                        sg_window=15, sg_order=4)
    rows = [r for r in csv.DictReader(open(res["kinematics"]["csv"])) if r["track"] == "1"]
    x = np.array([float(r["x_px"]) for r in rows]) * 2.0
    ax = np.array([float(r["ax_mm_s2"]) for r in rows])

    def off(order: int) -> float:  # largest difference to SciPy at that order, mm/s^2 (positions have 3 decimals)
        return np.abs(ax - savgol_filter(x, 15, order, deriv=2, delta=1 / truth["fps"], mode="interp")).max()

    assert len(rows) > 15 and off(4) < 0.002 * np.abs(ax).max() and 10 * off(4) < off(3)
