"""A synthetic crash-test sequence with known ground truth: a car body carrying quadrant markers decelerates with a
known pulse past fixed reference markers, seen by a high-speed camera (motion blur, sensor noise, debris that hides
markers for a few frames).

Every marker's true centre is known in every frame to sub-pixel accuracy: markers are rendered from their exact
(float) centres at `SUPERSAMPLE` x resolution and averaged down (exact area coverage), then the moving body gets
motion blur (the fixed reference markers and the background stay sharp) and the frame noise. Units: the body moves
along +x; positions in mm are converted with a fixed `mm_per_px`; time t = frame / fps. With `crush`, the body
shortens: marker k moves travel[k] = 1 - crush * u_k of the rear's displacement (u 0 at the rear column, 1 at the
front), so the distance between two body markers changes by a known amount.

Hard cases of real footage, all off by default (the defaults render byte for byte the frames they always did; their
random numbers come from a second generator seeded [seed, 1]): `flicker` (a lighting gain per frame), a longer
shutter (`blur_exposure`: more motion blur), markers entering or leaving the frame (`x_start`, `spacing`: a marker
whose drawing window is not fully inside the frame is not drawn and not visible), `shake` (the camera moves: every
marker, the references too, and the background shift by the same offset per frame; truth centres include it, the
body's motion in mm does not) and `marker_d_range` (a diameter per marker). `HARD` is the test set's hard preset.
`SEQUENCE_GENERATOR` ('crash-sequence' in the catalog) writes single frames of random training sequences
(seeds >= 1,000,000, random pulses and layouts) as a YOLO data set of `point` boxes.

Pulse: the body enters at `v0` mm/s and decelerates with a half-sine pulse a(t) = -peak * sin(pi (t - t0) / T) for
t0 <= t <= t0 + T (zero elsewhere), so its velocity drops by 2 peak T / pi over the pulse; x(t) is integrated in
closed form (`body_motion`).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import cv2
import numpy as np
import torch
from ultralytics.engine.results import Results

from .synthetic import Box, SceneGenerator

SUPERSAMPLE = 8
TRAIN_SEEDS = 1_000_000  # training sequences use seeds from here on; test sequences stay below


@dataclass
class Pulse:
    """Half-sine deceleration pulse: entry speed v0 (mm/s), peak deceleration (mm/s^2), start t0 and length T (s)."""

    v0: float = 8000.0
    peak: float = 4.0e5
    t0: float = 0.010
    T: float = 0.030


@dataclass
class SequenceConfig:
    """What to render: frames, camera, scale, markers on the body and fixed reference markers, the hard cases."""

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
    flicker: float = 0.0  # lighting gain per frame 1 + flicker * U(-1, 1) (0.2: +-20 % brightness)
    shake: float = 0.0  # camera shake amplitude, px (two sines of 40-120 Hz per axis plus jitter of 0.3x)
    x_start: float = 40.0  # x of the rear marker column at t = 0, px (below marker_d / 2 + 3: it enters later)
    spacing: float = 70.0  # px between marker columns (wide enough: the front column leaves the frame)
    marker_d_range: tuple[float, float] | None = None  # when set, a diameter per marker from U(lo, hi), px


HARD = dict(flicker=0.25, blur_exposure=1.0, shake=2.0, x_start=0.0, spacing=270.0, marker_d_range=(12.0, 26.0),
            occlusions=5)  # the hard test preset: SequenceConfig(**HARD, seed=...)


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


def _scene(cfg: SequenceConfig, rng: np.random.Generator) -> dict:
    """Everything that does not change per frame, and the truth (see `render_sequence`); random numbers from `rng`
    in the order of the original renderer, the hard cases' from their own generator."""
    f, s = cfg.frames, cfg.size
    t = np.arange(f) / cfg.fps
    x_mm, v, a = body_motion(t, cfg.pulse)
    rows, cols = 2, -(-cfg.body_markers // 2)
    grid = np.array([(cfg.x_start + cfg.spacing * c, s * 0.35 + 90 * r) for r in range(rows) for c in range(cols)])
    grid = grid[: cfg.body_markers] + rng.uniform(-4, 4, (cfg.body_markers, 2))
    refs = np.array([[s * 0.2, s * 0.85], [s * 0.2 + cfg.reference_mm / cfg.mm_per_px, s * 0.85]])
    rot = rng.uniform(0, 90, len(grid) + 2)
    m = len(grid) + 2
    u = (grid[:, 0] - grid[:, 0].min()) / max(np.ptp(grid[:, 0]), 1e-9)  # 0 at the rear column, 1 at the front
    travel = np.concatenate([1 - cfg.crush * u, [0.0, 0.0]])  # share of the body's displacement per marker
    world = np.zeros((f, m, 2))
    world[:, : len(grid)] = grid[None] + np.stack([x_mm / cfg.mm_per_px, np.zeros(f)], 1)[:, None] * \
        travel[None, : len(grid), None]
    world[:, len(grid):] = refs[None]
    visible = np.ones((f, m), bool)
    for _ in range(cfg.occlusions):
        k, start, length = rng.integers(0, len(grid)), rng.integers(5, f - 6), rng.integers(1, 6)
        visible[start:start + length, k] = False
    background = cv2.GaussianBlur(rng.normal(120, 12, (s, s)).astype(np.float32), (0, 0), 3)
    hard = np.random.default_rng([cfg.seed, 1])
    diam = np.full(m, cfg.marker_d) if cfg.marker_d_range is None else hard.uniform(*cfg.marker_d_range, m)
    shake = np.zeros((f, 2))
    if cfg.shake > 0:
        freq, phase = hard.uniform(40, 120, (2, 2)), hard.uniform(0, 2 * np.pi, (2, 2))
        shake = cfg.shake * (np.sin(2 * np.pi * freq[None] * t[:, None, None] + phase[None]).sum(1) / 2
                             + 0.3 * hard.normal(0, 1, (f, 2)))
    gain = 1 + cfg.flicker * hard.uniform(-1, 1, f) if cfg.flicker > 0 else np.ones(f)
    r = (diam / 2).astype(int) + 3
    centres = world + shake[:, None]
    inside = (np.floor(centres) - r[None, :, None] >= 0).all(2) & (np.floor(centres) + r[None, :, None] < s).all(2)
    return dict(centres=centres, visible=visible & inside, inside=inside, t=t, x_mm=x_mm, v_mm_s=v, a_mm_s2=a,
                travel=travel, mm_per_px=cfg.mm_per_px, fps=cfg.fps, reference=(len(grid), len(grid) + 1),
                marker_d=cfg.marker_d, diameters=diam, shake=shake, gain=gain, hidden=~visible,
                _grid=grid, _rot=rot, _background=background, _cols=cols, _r=r)


def _draw(cfg: SequenceConfig, sc: dict, i: int, rng: np.random.Generator) -> np.ndarray:
    """Frame `i` of scene `sc` as (size, size) uint8; debris shades and noise from `rng`."""
    s, grid, cols, rows = cfg.size, sc["_grid"], sc["_cols"], 2
    img = sc["_background"].copy()
    dx, dy = sc["shake"][i]
    if cfg.shake > 0:  # the whole view moves: the background too (float shift)
        img = cv2.warpAffine(img, np.float32([[1, 0, dx], [0, 1, dy]]), (s, s), borderMode=cv2.BORDER_REFLECT)
    x_body = grid[:, 0].min() - 30 + sc["x_mm"][i] / cfg.mm_per_px
    body = (int(x_body + dx), int(grid[:, 1].min() - 40 + dy)) if cfg.shake > 0 else \
        (int(x_body), int(grid[:, 1].min() - 40))
    width = int(round(cfg.spacing * cols))
    cv2.rectangle(img, body, (body[0] + width, body[1] + 90 * rows + 10), 150, -1)
    for k, (cx, cy) in enumerate(sc["centres"][i]):
        if not sc["inside"][i, k]:
            continue
        r = int(sc["_r"][k])
        x0, y0 = int(np.floor(cx)) - r, int(np.floor(cy)) - r
        disk, dark = _marker_patch(cx, cy, sc["diameters"][k], sc["_rot"][k], x0, y0, 2 * r)
        win = img[y0:y0 + 2 * r, x0:x0 + 2 * r]
        win[:] = win * (1 - disk) + 235 * (disk - dark) + 25 * dark
    for k in np.flatnonzero(~sc["visible"][i, : len(grid)]):  # debris over the hidden markers
        cx, cy = sc["centres"][i, k]
        cv2.circle(img, (int(cx), int(cy)), int(sc["diameters"][k] * 0.8), float(rng.uniform(40, 90)), -1)
    blur = sc["v_mm_s"][i] / cfg.mm_per_px * cfg.blur_exposure / cfg.fps  # px the body moves while the shutter is open
    if blur > 1:  # a horizontal box blur of that length on the moving body only (a symmetric blur moves no
        k = int(round(blur)) | 1  # centre); the background and the fixed reference markers stay sharp
        x0, x1 = max(body[0] - k, 0), min(body[0] + width + k, s)
        y0, y1 = max(body[1], 0), min(body[1] + 90 * rows + 10, s)
        img[y0:y1, x0:x1] = cv2.blur(img, (k, 1))[y0:y1, x0:x1]
    if cfg.flicker > 0:
        img = img * np.float32(sc["gain"][i])
    img = img + rng.normal(0, cfg.noise, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def render_sequence(cfg: SequenceConfig, out: str | Path) -> dict:
    """Write the frames (`out/000.png` ...) and return the truth.

    Returns:
        dict(centres (F, M, 2) true centres in px (camera shake included), visible (F, M) bool (False while debris
        hides a marker or it is not inside the frame), inside (F, M) bool (drawn whole inside the frame), hidden
        (F, M) bool (debris), ids (M,) 0..M-1 with the two fixed references last, t (F,) s, x_mm / v_mm_s / a_mm_s2
        (F,) of the body's rear (marker k moves travel[k] of it: 1 - crush at the front, 0 for the references),
        mm_per_px, fps, reference (i, j) indices of the reference markers, marker_d, diameters (M,) px, shake (F, 2)
        px camera offset, gain (F,) lighting gain).
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(cfg.seed)
    sc = _scene(cfg, rng)
    for i in range(cfg.frames):
        cv2.imwrite(str(out / f"{i:03d}.png"), _draw(cfg, sc, i, rng))
    return {k: v for k, v in sc.items() if not k.startswith("_")}


def training_config(rng: np.random.Generator, size: int, frames: int = 60) -> SequenceConfig:
    """A random training sequence: seed >= TRAIN_SEEDS, pulse, layout and hard cases drawn from `rng` (each hard case
    on in about half the sequences), never one of the test sets' configurations."""
    on = rng.random(6) < 0.5
    pulse = Pulse(v0=rng.uniform(5000, 11000), peak=rng.uniform(2e5, 6e5), t0=rng.uniform(0.005, 0.02),
                  T=rng.uniform(0.02, 0.05))
    return SequenceConfig(frames=frames, size=size, pulse=pulse, seed=int(rng.integers(TRAIN_SEEDS, 2**31)),
                          body_markers=int(rng.integers(4, 13)), marker_d=rng.uniform(12, 26),
                          crush=rng.uniform(0, 0.2), occlusions=int(rng.integers(0, 6)), noise=rng.uniform(1, 4),
                          flicker=rng.uniform(0.1, 0.3) * on[0], blur_exposure=rng.uniform(0.8, 2) if on[1] else 0.25,
                          shake=rng.uniform(1, 3) * on[2], x_start=rng.uniform(-20, 10) if on[3] else 40.0,
                          spacing=rng.uniform(150, 300) if on[4] else rng.uniform(50, 90),
                          marker_d_range=(10.0, 28.0) if on[5] else None)


def _render_training_frame(rng: np.random.Generator, imgsz: int, settings: dict) -> tuple[np.ndarray, list, int]:
    """One frame (BGR, imgsz x imgsz) of a random training sequence and its visible markers' `point` boxes."""
    cfg = training_config(rng, imgsz, int(settings["frames"]))
    sc = _scene(cfg, np.random.default_rng(cfg.seed))
    i = int(rng.integers(cfg.frames))
    img = _draw(cfg, sc, i, rng)
    half = sc["diameters"] / 2  # boxes centred on the true centre in OpenCV's pixel-centre convention (the truth's
    boxes = [Box(0, cx - h, cy - h, cx + h, cy + h)  # and refine_centres'), so a box centre needs no half-pixel shift
             for (cx, cy), h, ok in zip(sc["centres"][i], half, sc["visible"][i]) if ok]
    return cv2.cvtColor(img, cv2.COLOR_GRAY2BGR), boxes, int(settings["jpeg_quality"])


SEQUENCE_GENERATOR = SceneGenerator("crash-sequence", ["point"], {"frames": 60, "jpeg_quality": 95},
                                    _render_training_frame)


class TruthDetector:
    """Stand-in detector for `ext.tools.track_markers`: each call returns the next frame's true boxes of the visible
    markers (class 0 'point', score 0.9), centre and side moved by N(0, noise) px, as Ultralytics `Results`."""

    def __init__(self, truth: dict, noise: float, seed: int):
        self.truth, self.noise, self.t, self.rng = truth, noise, 0, np.random.default_rng(seed)

    def __call__(self, frame):
        k = np.flatnonzero(self.truth["visible"][self.t])
        c = self.truth["centres"][self.t, k] + self.rng.normal(0, self.noise, (len(k), 2))
        d = np.asarray(self.truth.get("diameters", np.full(len(self.truth["visible"][0]), self.truth["marker_d"])))
        half = (d[k, None] + self.rng.normal(0, self.noise, (len(k), 1))) / 2
        boxes = np.concatenate([c - half, c + half, np.full((len(k), 1), 0.9), np.zeros((len(k), 1))], 1)
        self.t += 1
        return Results(frame, path="", names={0: "point"}, boxes=torch.tensor(boxes, dtype=torch.float32))
