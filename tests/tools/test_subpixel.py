"""Sub-pixel marker centres on rendered quadrant markers at known sub-pixel positions."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from ext.tools.subpixel import refine_centres


def render_marker(cx: float, cy: float, d: float = 16.0, size: int = 64, rot: float = 20.0, blur: float = 0.8,
                  ss: int = 8) -> np.ndarray:
    """A quadrant marker (disk of diameter d, opposite quadrants black) centred at (cx, cy) in OpenCV's pixel
    convention, on grey, rendered at ss x supersampling and averaged down (exact area coverage), then blurred."""
    n = size * ss
    ys, xs = (np.mgrid[0:n, 0:n] + 0.5) / ss - 0.5  # sample positions in output-pixel coordinates
    dx, dy = xs - cx, ys - cy
    t = np.deg2rad(rot)
    u, v = dx * np.cos(t) + dy * np.sin(t), -dx * np.sin(t) + dy * np.cos(t)
    img = np.full((n, n), 128.0)
    disk = dx**2 + dy**2 <= (d / 2) ** 2
    img[disk] = np.where(u[disk] * v[disk] > 0, 20.0, 235.0)
    img = img.reshape(size, ss, size, ss).mean((1, 3))
    return cv2.GaussianBlur(img, (0, 0), blur).clip(0, 255).astype(np.uint8)


@pytest.mark.parametrize("cx, cy", [(31.3, 30.7), (32.0, 32.0), (28.85, 34.45), (33.61, 29.12)])
def test_refined_centre_is_within_a_tenth_of_a_pixel(cx, cy):
    img = render_marker(cx, cy)
    box = np.array([[cx - 8 + 1.4, cy - 8 - 0.9, cx + 8 + 1.4, cy + 8 - 0.9]])  # a detection 1-2 px off
    centres, ok = refine_centres(img, box)
    assert ok.tolist() == [True]
    assert np.hypot(*(centres[0] - (cx, cy))) < 0.1
    assert np.hypot(1.4, 0.9) > 1.5  # the box centre's own error, which the refinement removes


def test_colour_frames_and_several_boxes():
    a, b = render_marker(20.4, 22.6, size=64), render_marker(43.2, 40.9, size=64)
    img = np.where(np.abs(a.astype(int) - 128) > np.abs(b.astype(int) - 128), a, b).astype(np.uint8)  # one frame
    bgr = cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
    centres, ok = refine_centres(bgr, [[12.5, 14.5, 28.5, 30.5], [35.0, 33.0, 51.0, 49.0]])
    assert ok.all()
    assert np.abs(centres - [[20.4, 22.6], [43.2, 40.9]]).max() < 0.1


def test_no_saddle_keeps_the_box_centre_and_flags_it():
    """A plain disk (no quadrants) has no saddle: the box centre comes back, flagged; so do boxes too small or at
    the border."""
    n, ss = 64, 8
    ys, xs = (np.mgrid[0:n * ss, 0:n * ss] + 0.5) / ss - 0.5
    disk = ((xs - 30.3) ** 2 + (ys - 31.6) ** 2 <= 64).reshape(n, ss, n, ss).mean((1, 3))
    img = (128 - 100 * disk).astype(np.uint8)
    boxes = [[22.0, 24.0, 38.0, 40.0], [30.0, 30.0, 32.0, 32.0], [0.0, 0.0, 4.0, 60.0]]
    centres, ok = refine_centres(img, boxes)
    assert ok.tolist() == [False, False, False]
    assert centres.tolist() == [[30.0, 32.0], [31.0, 31.0], [2.0, 30.0]]
