"""The synthetic crash sequence: the pulse's closed form, the truth it returns, and that it renders what it says."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from ext.data.synth_sequence import Pulse, SequenceConfig, body_motion, render_sequence
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
