"""A synthetic crash-test sequence with known ground truth: a car body carrying quadrant markers decelerates with a
known pulse past fixed reference markers, seen by a high-speed camera (motion blur, sensor noise, debris that hides
markers for a few frames).

Every marker's true centre is known in every frame to sub-pixel accuracy: markers are rendered from their exact
(float) centres at `SUPERSAMPLE` x resolution and averaged down (exact area coverage), then the moving body gets
motion blur (the fixed reference markers and the background stay sharp) and the frame noise. Units: the body moves
along +x; positions in mm are converted with a fixed `mm_per_px`; time t = frame / fps. With `crush`, the body
shortens: marker k moves travel[k] = 1 - crush * u_k of the rear's displacement (u 0 at the rear column, 1 at the
front), so the distance between two body markers changes by a known amount.

Pulse: the body enters at `v0` mm/s and decelerates with a half-sine pulse a(t) = -peak * sin(pi (t - t0) / T) for
t0 <= t <= t0 + T (zero elsewhere), so its velocity drops by 2 peak T / pi over the pulse; x(t) is integrated in
closed form (`body_motion`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import torch
from ultralytics.engine.results import Results

SUPERSAMPLE = 8


@dataclass
class Pulse:
    """Half-sine deceleration pulse: entry speed v0 (mm/s), peak deceleration (mm/s^2), start t0 and length T (s)."""

    v0: float = 8000.0
    peak: float = 4.0e5
    t0: float = 0.010
    T: float = 0.030


@dataclass
class SequenceConfig:
    """What to render: frames, camera, scale, markers on the body and fixed reference markers."""

    frames: int = 60
    fps: float = 1000.0
    size: int = 640
    mm_per_px: float = 2.0
    pulse: Pulse = field(default_factory=Pulse)
    body_markers: int = 6  # in a 2 x 3 grid on the body
    marker_d: float = 18.0  # px
    reference_mm: float = 800.0  # distance between the two fixed reference markers
    blur_exposure: float = 0.25  # fraction of a frame the shutter is open (motion blur = speed * exposure / fps)
    noise: float = 2.0  # grey levels
    occlusions: int = 3  # debris passes, each hiding one body marker for 1-5 frames
    crush: float = 0.0  # the front markers travel (1 - crush) of the body's displacement, linearly from the rear
    seed: int = 0


def body_motion(t: np.ndarray, p: Pulse) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Position (mm from the start), velocity (mm/s) and acceleration (mm/s^2) of the body at times t (s)."""
    t = np.asarray(t, float)
    w = np.pi / p.T
    s = np.clip(t - p.t0, 0.0, p.T)  # time into the pulse
    a = np.where((t >= p.t0) & (t <= p.t0 + p.T), -p.peak * np.sin(w * s), 0.0)
    dv = -p.peak / w * (1 - np.cos(w * s))  # velocity change so far
    v = p.v0 + dv
    # x = v0 t + integral of dv: during the pulse -peak/w (s - sin(w s)/w); after it, the full drop times the rest
    dx = -p.peak / w * (s - np.sin(w * s) / w) + np.where(t > p.t0 + p.T, dv * (t - p.t0 - p.T), 0.0)
    return p.v0 * t + dx, v, a


def _marker_patch(cx: float, cy: float, d: float, rot: float, x0: int, y0: int, n: int) -> tuple[np.ndarray, ...]:
    """Coverage (n, n) of the disk and of its dark quadrants for a marker at (cx, cy), in the n x n pixel window
    whose top-left pixel is (x0, y0); pixel centres at integer coordinates (OpenCV's convention)."""
    ss = SUPERSAMPLE
    ys, xs = (np.mgrid[0:n * ss, 0:n * ss] + 0.5) / ss - 0.5
    dx, dy = xs + x0 - cx, ys + y0 - cy
    t = np.deg2rad(rot)
    u, v = dx * np.cos(t) + dy * np.sin(t), -dx * np.sin(t) + dy * np.cos(t)
    disk = dx**2 + dy**2 <= (d / 2) ** 2
    dark = disk & (u * v > 0)

    def down(m):
        return m.reshape(n, ss, n, ss).mean((1, 3))

    return down(disk), down(dark)


def render_sequence(cfg: SequenceConfig, out: str | Path) -> dict:
    """Write the frames (`out/000.png` ...) and return the truth.

    Returns:
        dict(centres (F, M, 2) true centres in px, visible (F, M) bool (False while debris hides a marker),
        ids (M,) 0..M-1 with the two fixed references last, t (F,) s, x_mm / v_mm_s / a_mm_s2 (F,) of the body's rear
        (marker k moves travel[k] of it: 1 - crush at the front, 0 for the references),
        mm_per_px, fps, reference (i, j) indices of the reference markers, marker_d).
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(cfg.seed)
    f, s = cfg.frames, cfg.size
    t = np.arange(f) / cfg.fps
    x_mm, v, a = body_motion(t, cfg.pulse)
    rows, cols = 2, -(-cfg.body_markers // 2)
    grid = np.array([(40 + 70 * c, s * 0.35 + 90 * r) for r in range(rows) for c in range(cols)])[: cfg.body_markers]
    grid = grid + rng.uniform(-4, 4, grid.shape)
    refs = np.array([[s * 0.2, s * 0.85], [s * 0.2 + cfg.reference_mm / cfg.mm_per_px, s * 0.85]])
    rot = rng.uniform(0, 90, len(grid) + 2)
    centres = np.zeros((f, len(grid) + 2, 2))
    u = (grid[:, 0] - grid[:, 0].min()) / max(np.ptp(grid[:, 0]), 1e-9)  # 0 at the rear column, 1 at the front
    travel = np.concatenate([1 - cfg.crush * u, [0.0, 0.0]])  # share of the body's displacement per marker
    centres[:, : len(grid)] = grid[None] + np.stack([x_mm / cfg.mm_per_px, np.zeros(f)], 1)[:, None] * \
        travel[None, : len(grid), None]
    centres[:, len(grid):] = refs[None]
    visible = np.ones((f, len(grid) + 2), bool)
    for _ in range(cfg.occlusions):
        k, start, length = rng.integers(0, len(grid)), rng.integers(5, f - 6), rng.integers(1, 6)
        visible[start:start + length, k] = False
    background = cv2.GaussianBlur(rng.normal(120, 12, (s, s)).astype(np.float32), (0, 0), 3)
    r = int(cfg.marker_d / 2) + 3
    for i in range(f):
        img = background.copy()
        body = (int(grid[:, 0].min() - 30 + x_mm[i] / cfg.mm_per_px), int(grid[:, 1].min() - 40))
        cv2.rectangle(img, body, (body[0] + 70 * cols, body[1] + 90 * rows + 10), 150, -1)
        for k, (cx, cy) in enumerate(centres[i]):
            x0, y0 = int(np.floor(cx)) - r, int(np.floor(cy)) - r
            if x0 < 0 or y0 < 0 or x0 + 2 * r >= s or y0 + 2 * r >= s:
                visible[i, k] = False
                continue
            disk, dark = _marker_patch(cx, cy, cfg.marker_d, rot[k], x0, y0, 2 * r)
            win = img[y0:y0 + 2 * r, x0:x0 + 2 * r]
            win[:] = win * (1 - disk) + 235 * (disk - dark) + 25 * dark
        for k in np.flatnonzero(~visible[i, : len(grid)]):  # debris over the hidden markers
            cx, cy = centres[i, k]
            cv2.circle(img, (int(cx), int(cy)), int(cfg.marker_d * 0.8), float(rng.uniform(40, 90)), -1)
        blur = v[i] / cfg.mm_per_px * cfg.blur_exposure / cfg.fps  # px the body moves while the shutter is open
        if blur > 1:  # a horizontal box blur of that length on the moving body only (a symmetric blur moves no
            k = int(round(blur)) | 1  # centre); the background and the fixed reference markers stay sharp
            x0, x1 = max(body[0] - k, 0), min(body[0] + 70 * cols + k, s)
            y0, y1 = max(body[1], 0), min(body[1] + 90 * rows + 10, s)
            img[y0:y1, x0:x1] = cv2.blur(img, (k, 1))[y0:y1, x0:x1]
        img = img + rng.normal(0, cfg.noise, img.shape)
        cv2.imwrite(str(out / f"{i:03d}.png"), np.clip(img, 0, 255).astype(np.uint8))
    return dict(centres=centres, visible=visible, t=t, x_mm=x_mm, v_mm_s=v, a_mm_s2=a, travel=travel,
                mm_per_px=cfg.mm_per_px,
                fps=cfg.fps, reference=(len(grid), len(grid) + 1), marker_d=cfg.marker_d)


class TruthDetector:
    """Stand-in detector for `ext.tools.track_markers`: each call returns the next frame's true boxes of the visible
    markers (class 0 'point', score 0.9), centre and side moved by N(0, noise) px, as Ultralytics `Results`."""

    def __init__(self, truth: dict, noise: float, seed: int):
        self.truth, self.noise, self.t, self.rng = truth, noise, 0, np.random.default_rng(seed)

    def __call__(self, frame):
        k = np.flatnonzero(self.truth["visible"][self.t])
        c = self.truth["centres"][self.t, k] + self.rng.normal(0, self.noise, (len(k), 2))
        half = (self.truth["marker_d"] + self.rng.normal(0, self.noise, (len(k), 1))) / 2
        boxes = np.concatenate([c - half, c + half, np.full((len(k), 1), 0.9), np.zeros((len(k), 1))], 1)
        self.t += 1
        return Results(frame, path="", names={0: "point"}, boxes=torch.tensor(boxes, dtype=torch.float32))
