"""Kinematics on known curves: derivatives of an analytic motion, the scale from two known points, distances."""

from __future__ import annotations

import numpy as np
import pytest

from ext.tools.kinematics import distance, fill_gaps, kinematics, scale_from_reference


def test_derivatives_of_a_known_motion():
    """x(t) = 500 t - 2000 t^2 mm (a constant 4000 mm/s^2 deceleration), y(t) = 20 sin(2 pi 5 t) mm, at 1000 fps,
    0.5 mm per pixel: velocity and acceleration match the analytic ones."""
    fps, scale = 1000.0, 0.5
    t = np.arange(200) / fps
    x, y = 500 * t - 2000 * t**2, 20 * np.sin(2 * np.pi * 5 * t)
    k = kinematics(np.stack([x, y], 1) / scale, fps, scale, window=11, polyorder=3)
    assert np.allclose(k.t, t)
    assert np.allclose(k.displacement[:, 0], x - x[0], atol=1e-6)
    assert np.allclose(k.velocity[:, 0], 500 - 4000 * t, atol=1e-6)
    assert np.allclose(k.acceleration[:, 0], -4000, atol=1e-4)
    vy = 20 * 2 * np.pi * 5 * np.cos(2 * np.pi * 5 * t)
    assert np.abs(k.velocity[:, 1] - vy).max() < 1e-3 * np.abs(vy).max()
    peak, when = k.peak_deceleration()
    assert peak == pytest.approx(np.hypot(4000, 20 * (2 * np.pi * 5) ** 2), rel=1e-2) and 0 <= when <= t[-1]


def test_smoothing_reduces_noise_on_velocity():
    rng = np.random.default_rng(0)
    fps = 500.0
    t = np.arange(300) / fps
    clean = np.stack([1000 * t, np.zeros_like(t)], 1)
    noisy = clean + rng.normal(0, 0.2, clean.shape)  # 0.2 px of centre noise
    short, long = kinematics(noisy, fps, 1.0, window=5), kinematics(noisy, fps, 1.0, window=31)
    err = [np.abs(k.velocity[20:-20, 0] - 1000).std() for k in (short, long)]
    assert err[1] < err[0] / 3


def test_scale_from_two_points_per_frame():
    a = np.array([[10.0, 10.0], [10.0, 10.0], [np.nan, np.nan]])
    b = np.array([[110.0, 10.0], [10.0, 60.0], [0.0, 0.0]])
    s = scale_from_reference(a, b, 250.0)
    assert s[:2].tolist() == [2.5, 5.0] and np.isnan(s[2])
    assert distance(a[:2], b[:2]).tolist() == [100.0, 50.0]
    with pytest.raises(ValueError, match="ref_mm"):
        scale_from_reference(a, b, 0.0)


def test_per_frame_scale_and_bad_input():
    xy = np.stack([np.arange(20.0), np.zeros(20)], 1)
    k = kinematics(xy, 100.0, np.linspace(1.0, 2.0, 20), window=5)
    assert k.position[:, 0] == pytest.approx(np.arange(20.0) * np.linspace(1.0, 2.0, 20), abs=1e-6)
    with pytest.raises(ValueError, match="fps"):
        kinematics(xy, 0.0, 1.0)
    with pytest.raises(ValueError, match="gaps"):
        kinematics(np.array([[0.0, 0.0], [np.nan, 1.0]] * 5), 100.0, 1.0)
    with pytest.raises(ValueError, match="too short"):
        kinematics(xy[:3], 100.0, 1.0, window=9)


def test_fill_gaps_follows_a_decelerating_marker():
    """A marker hidden for 5 frames in the middle of a half-sine pulse (40 g, 30 ms at 1000 fps): the cubic fill stays
    within 0.1 mm of the true path, where a straight line between the known frames is off by about a t^2 / 8."""
    t = np.arange(60) / 1000.0
    a = np.where((t >= 0.01) & (t <= 0.04), -4e5 * np.sin(np.pi * (t - 0.01) / 0.03), 0.0)  # mm/s^2
    v = 8000 + np.cumsum(a) / 1000.0
    x = np.cumsum(v) / 1000.0  # mm, the path to recover
    known = np.setdiff1d(np.arange(60), np.arange(23, 28))  # the peak (frame 25) hidden
    full, filled = fill_gaps(known, np.stack([x[known], -x[known]], 1))
    assert full.tolist() == list(range(60))
    np.testing.assert_array_equal(filled[known, 0], x[known])  # known frames untouched
    err = np.abs(filled[23:28, 0] - x[23:28]).max()
    linear = np.abs(np.interp(np.arange(23, 28), known, x[known]) - x[23:28]).max()
    assert err < 0.1 < 1.0 < linear  # mm (a t^2 / 8 = 4e5 * 0.006^2 / 8 = 1.8 mm)
    np.testing.assert_allclose(filled[:, 1], -filled[:, 0])  # each column on its own
    short_f, short = fill_gaps(np.array([0, 1, 4]), np.array([[0.0], [1.0], [10.0]]))  # one known frame after the
    np.testing.assert_allclose(short[:, 0], [0, 1, 4, 7, 10])  # gap: a straight line
