"""Sub-pixel centres of crash-test markers: the saddle point of a checkerboard quadrant target, refined inside its box.

A quadrant marker (2x2 black / white quadrants) has at its centre an X-corner: along one diagonal the brightness
rises, along the other it falls, so the centre is a saddle of the image. OpenCV's `cornerSubPix` finds the point
whose neighbourhood gradients are all orthogonal to the vectors from it, which for an X-corner is that saddle,
to a small fraction of a pixel. Here it starts from the detection's box centre, with a search window of about a
third of the box's smaller side, and the result is checked:

- the refined point stays near the box centre (within a quarter of the smaller side), and
- the brightness there is a saddle: the Hessian of the (Gaussian-smoothed) patch has a negative determinant, and
  the saddle is strong against the patch's contrast (`min_saddle`).

A point that fails a check keeps the box centre and its quality flag is False (`ok`), so a caller can tell a
refined centre from a fallback.
"""

from __future__ import annotations

import cv2
import numpy as np

__all__ = ("refine_centres",)

CRITERIA = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 50, 1e-3)


def _saddle_strength(gray: np.ndarray, x: float, y: float, r: int) -> float:
    """-det(Hessian) / contrast^2 of the Gaussian-smoothed image at (x, y) (> 0 at a saddle), from a (2r+1)^2 patch."""
    h, w = gray.shape
    xi, yi = int(round(x)), int(round(y))
    x0, x1, y0, y1 = max(xi - r, 0), min(xi + r + 1, w), max(yi - r, 0), min(yi + r + 1, h)
    patch = gray[y0:y1, x0:x1].astype(np.float64)
    if patch.shape[0] < 5 or patch.shape[1] < 5:
        return 0.0
    s = cv2.GaussianBlur(patch, (0, 0), max(r / 3.0, 0.8))
    cy, cx = yi - y0, xi - x0
    dxx = s[cy, cx + 1] - 2 * s[cy, cx] + s[cy, cx - 1] if 0 < cx < s.shape[1] - 1 else 0.0
    dyy = s[cy + 1, cx] - 2 * s[cy, cx] + s[cy - 1, cx] if 0 < cy < s.shape[0] - 1 else 0.0
    inside = 0 < cx < s.shape[1] - 1 and 0 < cy < s.shape[0] - 1
    dxy = (s[cy + 1, cx + 1] - s[cy + 1, cx - 1] - s[cy - 1, cx + 1] + s[cy - 1, cx - 1]) / 4 if inside else 0.0
    contrast = float(patch.max() - patch.min()) or 1.0
    return float(-(dxx * dyy - dxy * dxy)) * r * r / contrast**2


def refine_centres(image: np.ndarray, boxes: np.ndarray, min_saddle: float = 0.01) -> tuple[np.ndarray, np.ndarray]:
    """Refine each box's centre to its marker's saddle point.

    Args:
        image: (H, W) grey or (H, W, 3) BGR frame, uint8 or float.
        boxes: (N, 4) boxes x1, y1, x2, y2 in pixels of `image` (pixel centres at integer coordinates, OpenCV's
            convention: a pixel's area spans x - 0.5 .. x + 0.5).
        min_saddle: smallest -det(Hessian) * r^2 / contrast^2 accepted as a saddle.

    Returns:
        (centres (N, 2) float64 x, y in pixels; ok (N,) bool, False where the box centre was kept).
    """
    gray = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    gray = np.ascontiguousarray(gray, dtype=np.float32)
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    start = np.stack([(boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2], 1)
    centres, ok = start.copy(), np.zeros(len(boxes), bool)
    for i, (b, c) in enumerate(zip(boxes, start)):
        side = float(min(b[2] - b[0], b[3] - b[1]))
        win = int(max(2, round(side / 3)))
        if side < 4 or not (win <= c[0] < gray.shape[1] - win and win <= c[1] < gray.shape[0] - win):
            continue
        pt = c.reshape(1, 1, 2).astype(np.float32)
        refined = cv2.cornerSubPix(gray, pt, (win, win), (-1, -1), CRITERIA).reshape(2).astype(np.float64)
        if np.hypot(*(refined - c)) > side / 4 or _saddle_strength(gray, *refined, win) < min_saddle:
            continue
        centres[i], ok[i] = refined, True
    return centres, ok
