"""The synthetic crash sequence: the pulse's closed form, the truth it returns, and that it renders what it says."""

from __future__ import annotations

import hashlib

import cv2
import numpy as np
import pytest

from ext.data.generators import generate
from ext.data.synth_sequence import TRAIN_SEEDS, Pulse, SequenceConfig, body_motion, render_sequence, training_config
from ext.tools.subpixel import refine_centres


def test_closed_form_motion_integrates_its_acceleration():
    p = Pulse()
    t = np.linspace(0, 0.06, 120001)
    x, v, a = body_motion(t, p)
    dt = t[1] - t[0]
    assert np.abs(p.v0 + np.concatenate([[0], np.cumsum((a[1:] + a[:-1]) / 2) * dt]) - v).max() < 1e-3
    assert np.abs(np.concatenate([[0], np.cumsum((v[1:] + v[:-1]) / 2) * dt]) - x).max() < 1e-6
    assert a.min() == -p.peak and v[-1] == pytest.approx(p.v0 - 2 * p.peak * p.T / np.pi)  # a half-sine drop


def test_render_truth_and_determinism(tmp_path):
    cfg = SequenceConfig(frames=12, size=320, body_markers=4, occlusions=1, seed=3)
    truth = render_sequence(cfg, tmp_path / "a")
    again = render_sequence(cfg, tmp_path / "b")
    assert truth["centres"].shape == (12, 6, 2) and truth["visible"].shape == (12, 6)
    assert (tmp_path / "a" / "011.png").read_bytes() == (tmp_path / "b" / "011.png").read_bytes()
    assert np.array_equal(truth["visible"], again["visible"]) and (~truth["visible"][:, :4]).sum() >= 1
    ra, rb = truth["reference"]
    d = np.hypot(*(truth["centres"][:, ra] - truth["centres"][:, rb]).T) * cfg.mm_per_px
    assert np.allclose(d, cfg.reference_mm)
    moved = truth["centres"][-1, :4, 0] - truth["centres"][0, :4, 0]
    assert np.allclose(moved, (truth["x_mm"][-1] - truth["x_mm"][0]) / cfg.mm_per_px)
    # each visible marker is drawn where the truth says: its saddle point is found there
    img = cv2.imread(str(tmp_path / "a" / "005.png"), cv2.IMREAD_GRAYSCALE)
    k = np.flatnonzero(truth["visible"][5])
    c = truth["centres"][5, k]
    found, ok = refine_centres(img, np.concatenate([c - 9, c + 9], 1))
    assert ok.all() and np.abs(found - c).max() < 0.2


def test_crush_shortens_the_body_by_a_known_amount(tmp_path):
    """crush=0.1: the front column of markers moves 90 % of the rear's displacement, so their distance shrinks by
    10 % of it; the references stay put."""
    truth = render_sequence(SequenceConfig(frames=30, occlusions=0, crush=0.1, seed=4), tmp_path)
    c, x = truth["centres"], (truth["x_mm"] - truth["x_mm"][0]) / truth["mm_per_px"]
    rear = np.argmin(c[0, :6, 0])
    front = np.argmax(c[0, :6, 0])
    np.testing.assert_allclose(c[:, rear, 0] - c[0, rear, 0], x, atol=1e-9)
    np.testing.assert_allclose(c[:, front, 0] - c[0, front, 0], 0.9 * x, atol=1e-9)
    np.testing.assert_allclose(c[:, 6:], c[:1, 6:].repeat(30, 0))


def test_defaults_render_the_frames_they_did_before_the_hard_cases(tmp_path):
    """The hard-case options are off by default and draw from their own generator: a default sequence is pixel for
    pixel what the renderer gave before they existed (hash of three frames recorded from that version, numpy 1.x /
    OpenCV 4.x of this environment)."""
    render_sequence(SequenceConfig(frames=20, size=320, body_markers=5, seed=3), tmp_path)
    pixels = b"".join(cv2.imread(str(tmp_path / f"{i:03d}.png"), cv2.IMREAD_UNCHANGED).tobytes() for i in (0, 10, 19))
    assert hashlib.sha256(pixels).hexdigest() == "d8d00e1ff5ba5a393e59f9a48e0a6fa76c3bc6e0a18e155d7ac919c31bbbde9c"


def _frames(folder, n):
    return np.stack([cv2.imread(str(folder / f"{i:03d}.png"), cv2.IMREAD_GRAYSCALE) for i in range(n)]).astype(float)


def test_flicker_scales_each_frame_by_its_gain(tmp_path):
    base = dict(frames=8, size=320, body_markers=4, occlusions=0, seed=2)
    render_sequence(SequenceConfig(**base), tmp_path / "a")
    truth = render_sequence(SequenceConfig(**base, flicker=0.2), tmp_path / "b")
    a, b = _frames(tmp_path / "a", 8), _frames(tmp_path / "b", 8)
    ratio = b.mean((1, 2)) / a.mean((1, 2))  # the same scene and noise, only the lighting differs
    assert np.ptp(ratio) > 0.1 and np.abs(ratio - truth["gain"]).max() < 0.02
    assert np.abs(truth["gain"] - 1).max() <= 0.2


def test_shake_moves_everything_the_references_too(tmp_path):
    base = dict(frames=10, size=320, body_markers=4, occlusions=0, reference_mm=400.0, seed=6)
    truth = render_sequence(SequenceConfig(**base, shake=2.0), tmp_path)
    still = render_sequence(SequenceConfig(**base), tmp_path / "s")
    np.testing.assert_allclose(truth["centres"] - still["centres"], truth["shake"][:, None].repeat(6, 1))
    refs = truth["centres"][:, list(truth["reference"])]
    assert np.ptp(refs[:, 0, 0]) > 1 and np.ptp(refs[:, 0, 1]) > 1  # the fixed markers move in the image
    assert np.allclose(refs[:, 0] - refs[:, 1], refs[0, 0] - refs[0, 1])  # by the same offset
    img = cv2.imread(str(tmp_path / "007.png"), cv2.IMREAD_GRAYSCALE)
    found, ok = refine_centres(img, np.concatenate([refs[7] - 9, refs[7] + 9], 1))
    assert ok.all() and np.abs(found - refs[7]).max() < 0.2  # drawn where the (shaken) truth says


def test_markers_enter_and_leave_the_frame(tmp_path):
    cfg = SequenceConfig(frames=30, size=320, body_markers=4, occlusions=0, x_start=0.0, spacing=300.0, seed=1)
    truth = render_sequence(cfg, tmp_path)
    c, r = truth["centres"][..., 0], truth["diameters"] / 2 + 3
    entering = np.flatnonzero(c[0, :4] < r[:4])  # the rear column starts with its window cut by the left edge
    leaving = np.flatnonzero(c[-1, :4] + r[:4] >= cfg.size)  # the front column ends past the right edge
    assert len(entering) == 2 and len(leaving) == 2
    assert not truth["visible"][0, entering].any() and truth["visible"][-1, entering].all()
    assert truth["visible"][0, leaving].all() and not truth["visible"][-1, leaving].any()
    img = cv2.imread(str(tmp_path / "029.png"), cv2.IMREAD_GRAYSCALE).astype(float)
    y = int(truth["centres"][-1, leaving[0], 1])
    assert img[y - 8:y + 8, -8:].std() < 10  # nothing of the gone marker is drawn at the edge


def test_marker_sizes_are_drawn_as_given(tmp_path):
    cfg = SequenceConfig(frames=2, size=320, body_markers=4, occlusions=0, noise=0.0, marker_d_range=(10.0, 28.0),
                         blur_exposure=0.0, reference_mm=400.0, seed=9)
    truth = render_sequence(cfg, tmp_path)
    d = truth["diameters"]
    assert d.min() >= 10 and d.max() <= 28 and np.ptp(d) > 5
    img = cv2.imread(str(tmp_path / "000.png"), cv2.IMREAD_GRAYSCALE).astype(float)
    assert truth["visible"][0].all()
    for (x, y), dk in zip(truth["centres"][0], d):
        win = img[int(y) - 18:int(y) + 19, int(x) - 18:int(x) + 19]
        area = (np.abs(win - np.median(win)) > 60).sum()  # black and white quadrants against the body / floor
        assert abs(area / (np.pi * dk**2 / 4) - 1) < 0.2


def test_training_frames_are_labelled_where_the_markers_are(tmp_path):
    out = generate("crash-sequence", tmp_path, 3, 1, imgsz=320, seed=0)
    assert out["counts"]["train"]["point"] > 0
    for lab in sorted((tmp_path / "labels" / "train").glob("*.txt")):
        img = cv2.imread(str(tmp_path / "images" / "train" / f"{lab.stem}.jpg"), cv2.IMREAD_GRAYSCALE)
        xywh = np.loadtxt(lab, ndmin=2)[:, 1:] * 320
        boxes = np.concatenate([xywh[:, :2] - xywh[:, 2:] / 2, xywh[:, :2] + xywh[:, 2:] / 2], 1)
        found, ok = refine_centres(img, boxes)
        assert ok.mean() >= 0.5 and np.hypot(*(found - xywh[:, :2])[ok].T).max() < 0.5  # blur can defeat a few
    assert training_config(np.random.default_rng(0), 320).seed >= TRAIN_SEEDS > 1000  # never a test seed
