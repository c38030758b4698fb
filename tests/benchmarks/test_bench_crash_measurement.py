"""benchmarks/crash_measurement.py with detectors in the loop: the options, the reuse of recorded trained rows, and the
scoring (benchmarks/crash_detectors.py) against hand-made tracks of a tiny sequence."""

from __future__ import annotations

import numpy as np
import pytest

import crash_detectors
import crash_measurement
from ext.data.synth_sequence import HARD, SequenceConfig, render_sequence
from ext.defaults import ext_default
from runs import Record

SG = {"sg_window": 9, "sg_order": 3}  # the Savitzky-Golay keys the scoring measures with


def test_options_pick_detectors_and_cases():
    a = crash_measurement.parser().parse_args(["--detector", "classical", "--detector", "runs/x/best.pt", "--hard"])
    assert a.detector == ["classical", "runs/x/best.pt"] and a.hard and a.epochs == crash_detectors.TRAIN["epochs"]
    assert crash_measurement.cases(a.hard)["hard"] == {"crush": crash_measurement.CRUSH, **HARD}
    plain = crash_measurement.parser().parse_args([])
    assert plain.detector == [] and list(crash_measurement.cases(plain.hard)) == ["clean"]
    assert crash_detectors.weights("classical", 20) is None and crash_detectors.weights("a/b.pt", 20) == "a/b.pt"


def test_recorded_trained_rows_are_reused_without_weights(tmp_path, monkeypatch):
    a = crash_measurement.parser().parse_args(["--detector", "gjadet", "--seeds", "4", "--record",
                                               str(tmp_path / "r.json")])
    key = crash_measurement.record_key(a)
    assert key["epochs"] == crash_detectors.TRAIN["epochs"] and key["window"] == ext_default("sg_window")
    metrics = {c: float(i) for i, c in enumerate(crash_measurement.COLS)} | {"rear": [None, 1.0]}
    Record(a.record).put("gjadet|clean|4", key, metrics)

    def no_training(*args):
        raise AssertionError("a recorded row was trained again")

    monkeypatch.setattr(crash_measurement, "weights", no_training)
    monkeypatch.setattr(crash_measurement, "render_sequence", lambda cfg, out: {"seed": cfg.seed})
    res, (rear, truth) = crash_measurement.detectors(a, tmp_path)
    assert res == {"gjadet": {"clean": [metrics]}} and rear == {"gjadet": [None, 1.0]} and truth == {"seed": 4}
    lines = "\n".join(crash_measurement.detector_lines(a, res, "p.png"))
    assert "| gjadet | clean | 0 | 1 | 2 | 3 | 4 | 5 | 6 |" in lines  # the recorded figures, in COLS order
    assert "displacement 6 mm (6; target <= 1: NOT met, worst seed NOT met)" in lines
    assert "ID switches 5 (5; 0: NOT met)" in lines


@pytest.fixture(scope="module")
def sequence(tmp_path_factory):
    cfg = SequenceConfig(frames=50, size=320, body_markers=4, occlusions=0, reference_mm=400.0, seed=2)
    return cfg, render_sequence(cfg, tmp_path_factory.mktemp("seq"))


def test_score_of_exact_tracks_and_of_a_switch(sequence, tmp_path):
    cfg, truth = sequence
    c = truth["centres"]
    rows = [(f, m + 1, "point", x + 0.5, y, x, y, 1, float("nan")) for f in range(cfg.frames)
            for m, (x, y) in enumerate(c[f])]
    s = crash_detectors.score(rows, cfg.frames, truth, cfg, SG, tmp_path / "a")
    assert s["median px"] == 0 and s["box px"] == pytest.approx(0.5) and s["recall %"] == 100
    assert s["ID switches"] == 0 and s["false"] == 0 and s["peak markers"] == 4
    assert s["disp mm"] < 0.05 and s["peak %"] < 2  # only the Savitzky-Golay filter's own error is left
    switched = [(f, 99 if (m == 1 and f >= 30) else m, *r[2:]) for r in rows for f, m in [r[:2]]]
    far = [(0, 50, "point", 1.0, 1.0, 1.0, 1.0, 1, float("nan"))]  # nowhere near a marker: a false detection
    s2 = crash_detectors.score(switched + far, cfg.frames, truth, cfg, SG, tmp_path / "b")
    assert s2["ID switches"] == 1 and s2["false"] == 1 and s2["recall %"] == 100
    half = [r for r in rows if r[0] % 2 == 0]
    assert crash_detectors.score(half, cfg.frames, truth, cfg, SG, tmp_path / "c")["recall %"] == pytest.approx(50)
