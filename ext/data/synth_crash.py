"""``crash-synth``: high-speed-camera frames of a rail-vehicle crash test, with a Crash2024-like long tail.

Each image is ``imgsz`` x ``imgsz`` BGR colour. Sizes are in pixels at 640 and scale with ``imgsz / 640``;
the scene (car, wall, bogies) is further scaled by a per-image zoom (``zoom`` setting) to vary object scale.

Classes and frequency (defaults):

- ``point``: checkerboard quadrant markers, 8-24 px, a disk (or a rotated square) in 2x2 black/white quadrants;
  20-60 per image, mostly on the car body, some on the wall and elsewhere. Markers never overlap each other.
- ``bogie``: dark bogie frame with springs and its wheels under the car body; 0-2 per image (``p_bogie``).
- ``wheel``: a wheel of a visible bogie (dark tyre, light rim and hub), 0-2 per bogie.
- ``absorber``: corrugated crash tube with end flanges at the car front; about a third of the images.
- ``rw``: rigid wall at the left or right, concrete with hazard stripes; about half the images (box clipped to
  the frame).

The car body itself (large light box with panels, windows and a stripe) is not labelled. Debris particles,
lighting gradient and vignette, a global brightness change, sensor noise, horizontal motion blur (boxes grow
by half its length) and JPEG compression finish the frame.
"""

from __future__ import annotations

import cv2
import numpy as np

from ext.data.synthetic import (
    Box, SceneGenerator, box_of_circle, box_of_points, finish_image, grow_boxes, lighting_gain, odd, union_box,
)

NAMES = ["point", "bogie", "wheel", "absorber", "rw"]
POINT, BOGIE, WHEEL, ABSORBER, WALL = range(5)

DEFAULTS = {
    "points": [20, 60],  # markers per image (min, max), before placement failures
    "point_size": [8.0, 24.0],  # marker diameter range, px at 640
    "p_wall": 0.5,  # chance of a rigid wall
    "p_bogie": 0.5,  # chance that each of the two bogies is in the frame
    "p_absorber": 0.6,  # chance of an absorber when there is a wall (a sixth of that without)
    "zoom": [0.7, 1.4],  # scene scale range
    "debris": [0, 60],  # debris particles per image (min, max)
    "noise": [1.5, 6.0],  # Gaussian noise sigma range, grey levels
    "blur": [1.0, 5.0],  # horizontal motion blur length range, px at 640
    "jpeg_quality": [70, 95],  # JPEG quality range
    "lighting": 0.3,  # strength of gradient and vignette
}

AA = cv2.LINE_AA


def _i(v: float) -> int:
    return int(round(float(v)))


def _c(rng: np.random.Generator, lo: float, hi: float, tint: float = 12.0) -> tuple[int, int, int]:
    """Random BGR colour: grey level in [lo, hi] with a small random tint."""
    g = rng.uniform(lo, hi)
    return tuple(int(np.clip(g + t, 0, 255)) for t in rng.uniform(-tint, tint, 3))


def draw_hall(img: np.ndarray, rng: np.random.Generator, floor_y: int) -> None:
    """Test hall background on ``img`` (S, S, 3) in place: back wall, lamps, floor with rails at ``floor_y``."""
    s = img.shape[0]
    cv2.rectangle(img, (0, 0), (s, floor_y), _c(rng, 35, 90), -1)
    cv2.rectangle(img, (0, floor_y), (s, s), _c(rng, 80, 140), -1)
    for _ in range(rng.integers(0, 4)):  # lamps, posts, boxes in the hall
        x, y = _i(rng.uniform(0, s)), _i(rng.uniform(0, floor_y))
        w, h = _i(rng.uniform(0.02, 0.2) * s), _i(rng.uniform(0.02, 0.3) * s)
        cv2.rectangle(img, (x, y), (x + w, y + h), _c(rng, 20, 200, 25), -1)
    t = max(_i(0.006 * s), 1)
    for dy in (0, max(_i(0.03 * s), 2)):  # rails
        cv2.line(img, (0, floor_y + dy), (s, floor_y + dy), _c(rng, 150, 210), t, AA)


def draw_wall(img: np.ndarray, rng: np.random.Generator, left: bool, width: int, top: int, bottom: int) -> Box:
    """Rigid wall ``width`` px wide at the left or right edge from ``top`` to ``bottom``; returns its box."""
    s = img.shape[0]
    x0, x1 = (-2, width) if left else (s - width, s + 2)
    cv2.rectangle(img, (x0, top), (x1, bottom), _c(rng, 120, 190, 10), -1)
    face = x1 if left else x0
    band = max(_i(width * 0.15), 2)
    if rng.random() < 0.6:  # hazard stripes along the impact face, drawn in a view so they stay on the wall
        fx0, fx1 = (max(face - band, 0), face) if left else (face, min(face + band, s))
        stripes = img[max(top, 0):bottom + 1, fx0:fx1 + 1]
        stripes[:] = (0, 200, 230)
        w = fx1 - fx0
        for y in range(-2 * w, stripes.shape[0], 2 * w):
            poly = np.array([[0, y], [w, y + w], [w, y + 2 * w], [0, y + w]], np.int32)
            cv2.fillConvexPoly(stripes, poly, (20, 20, 20))
    for _ in range(rng.integers(0, 5)):  # concrete seams
        y = _i(rng.uniform(top, bottom))
        cv2.line(img, (x0, y), (x1, y), _c(rng, 80, 120), 1, AA)
    return Box(WALL, float(x0), float(top), float(x1 + 1), float(bottom + 1))


def draw_body(img: np.ndarray, rng: np.random.Generator, x0: int, x1: int, y0: int, y1: int) -> None:
    """Unlabelled car body: light box from (x0, y0) to (x1, y1) with roof, windows, stripe and panel lines."""
    h = y1 - y0
    colour = _c(rng, 170, 235, 20)
    cv2.rectangle(img, (x0, y0), (x1, y1), colour, -1)
    cv2.rectangle(img, (x0, y0), (x1, y0 + max(_i(0.1 * h), 1)), _c(rng, 90, 150), -1)  # roof
    stripe_y = y0 + _i(rng.uniform(0.55, 0.75) * h)
    cv2.rectangle(img, (x0, stripe_y), (x1, stripe_y + max(_i(0.06 * h), 1)), _c(rng, 40, 200, 80), -1)
    wy0, wy1 = y0 + _i(0.2 * h), y0 + _i(0.45 * h)
    pitch = max(_i(rng.uniform(0.5, 0.9) * h), 4)
    glass = _c(rng, 40, 80, 20)
    for x in range(x0 + pitch // 3, x1 - pitch // 2, pitch):  # windows
        cv2.rectangle(img, (x, wy0), (x + _i(pitch * 0.6), wy1), glass, -1)
    for x in range(x0, x1, max(_i(rng.uniform(0.8, 1.5) * h), 4)):  # panel seams
        cv2.line(img, (x, y0), (x, y1), _c(rng, 110, 150), 1, AA)
    cv2.rectangle(img, (x0, y0), (x1, y1), _c(rng, 40, 80), max(_i(0.015 * h), 1), AA)


def draw_bogie(img: np.ndarray, rng: np.random.Generator, cx: int, top: int, floor_y: int, width: int,
               n_wheels: int) -> list[Box]:
    """Bogie centred at ``cx`` between ``top`` and the rail at ``floor_y``; returns [bogie, wheels...] boxes."""
    h = floor_y - top
    r = max(_i(0.42 * h), 2)
    wheel_x = [cx - _i(width * 0.3), cx + _i(width * 0.3)]
    if n_wheels == 1:
        wheel_x = [wheel_x[int(rng.integers(2))]]
    fx0, fx1 = cx - width // 2, cx + width // 2
    fy0, fy1 = top, top + _i(0.55 * h)
    cv2.rectangle(img, (fx0, fy0), (fx1, fy1), _c(rng, 40, 80), -1)  # side frame
    cv2.rectangle(img, (fx0, fy0), (fx1, fy0 + max(_i(0.08 * h), 1)), _c(rng, 90, 120), -1)
    for k in range(4):  # central spring
        y = fy0 + _i((0.1 + 0.1 * k) * h)
        cv2.ellipse(img, (cx, y), (max(_i(0.12 * width), 2), max(_i(0.05 * h), 1)), 0, 0, 180,
                    _c(rng, 130, 180), max(_i(0.03 * h), 1), AA)
    boxes = [Box(BOGIE, float(fx0), float(fy0), float(fx1 + 1), float(fy1 + 1))]
    for wx in wheel_x:
        wy = floor_y - r
        cv2.circle(img, (wx, wy), r, _c(rng, 25, 55), -1, AA)
        cv2.circle(img, (wx, wy), max(_i(0.75 * r), 1), _c(rng, 120, 170), max(_i(0.12 * r), 1), AA)
        cv2.circle(img, (wx, wy), max(_i(0.22 * r), 1), _c(rng, 150, 200), -1, AA)
        boxes.append(box_of_circle(WHEEL, wx, wy, r))
    boxes[0] = union_box(boxes)  # the bogie box holds its wheels (class of the first box: bogie)
    return boxes


def draw_absorber(img: np.ndarray, rng: np.random.Generator, x0: int, x1: int, cy: int, h: int) -> Box:
    """Corrugated crash tube from x0 to x1, ``h`` px high centred on row ``cy``, with end flanges."""
    y0, y1 = cy - h // 2, cy + h // 2
    cv2.rectangle(img, (x0, y0), (x1, y1), _c(rng, 120, 180), -1)
    cv2.rectangle(img, (x0, y0 + max(h // 5, 1)), (x1, y0 + max(h // 3, 1)), _c(rng, 190, 235), -1)  # sheen
    for x in range(x0, x1, max(h // 3, 2)):
        cv2.line(img, (x, y0), (x, y1), _c(rng, 60, 100), max(h // 12, 1), AA)
    fw, fh = max(h // 6, 1), _i(h * 0.3)
    for fx in (x0, x1 - fw):
        cv2.rectangle(img, (fx, y0 - fh), (fx + fw, y1 + fh), _c(rng, 60, 110), -1)
    return Box(ABSORBER, float(x0), float(y0 - fh), float(x1 + 1), float(y1 + fh + 1))


def draw_point(img: np.ndarray, x: int, y: int, d: float, square: bool, rot: float, dark: int, light: int,
               ring: bool = False) -> Box:
    """Checkerboard quadrant marker of diameter (or side) ``d`` px at (x, y), turned by ``rot`` degrees."""
    r = max(_i(d / 2), 1)
    black, white = (dark,) * 3, (light,) * 3
    if not square:
        cv2.circle(img, (x, y), r, white, -1, AA)
        for start in (0, 180):
            cv2.ellipse(img, (x, y), (r, r), rot, start, start + 90, black, -1, AA)
        if ring and r >= 4:  # thin dark outline, inside the disk
            cv2.circle(img, (x, y), r - 1, black, 1, AA)
        return box_of_circle(POINT, x, y, r)
    t = np.radians(rot)
    ax, ay = np.array([np.cos(t), np.sin(t)]) * d / 2, np.array([-np.sin(t), np.cos(t)]) * d / 2
    c = np.array([x, y], dtype=np.float64)
    corners = np.round(np.array([c - ax - ay, c + ax - ay, c + ax + ay, c - ax + ay])).astype(np.int32)
    cv2.fillConvexPoly(img, corners, white, AA)
    for sx, sy in ((1, 1), (-1, -1)):  # two opposite black quadrants
        quad = np.round(np.array([c, c + sx * ax, c + sx * ax + sy * ay, c + sy * ay])).astype(np.int32)
        cv2.fillConvexPoly(img, quad, black, AA)
    return box_of_points(POINT, corners)


def place_points(rng: np.random.Generator, n: int, sizes: np.ndarray, regions: list[tuple[int, int, int, int]],
                 weights: np.ndarray, s: int) -> list[tuple[int, int, float]]:
    """Choose up to ``n`` non-overlapping marker centres: returns [(x, y, d)], markers fully in the frame.

    Candidates come from ``regions`` (x0, y0, x1, y1) picked with ``weights``; each needs 2 px of clearance.
    """
    m = 3 * n
    reg = np.asarray(regions, np.float64)[rng.choice(len(regions), m, p=weights / weights.sum())]
    xy = reg[:, :2] + rng.random((m, 2)) * (reg[:, 2:] - reg[:, :2])
    d = sizes[rng.integers(0, len(sizes), m)] if len(sizes) != m else sizes
    half = d / 2 * 1.42  # rotated squares reach sqrt(2) * d / 2
    inside = (xy[:, 0] - half >= 0) & (xy[:, 1] - half >= 0) & (xy[:, 0] + half < s) & (xy[:, 1] + half < s)
    acc_xy, acc_r, out = np.empty((n, 2)), np.empty(n), []
    for k in np.flatnonzero(inside).tolist():
        if len(out) == n:
            break
        j = len(out)
        if j and (np.hypot(*(acc_xy[:j] - xy[k]).T) < acc_r[:j] + half[k] + 2).any():
            continue
        acc_xy[j], acc_r[j] = xy[k], half[k]
        out.append((_i(xy[k, 0]), _i(xy[k, 1]), float(d[k])))
    return out


def render_crash(rng: np.random.Generator, imgsz: int, cfg: dict) -> tuple[np.ndarray, list[Box], int]:
    """Draw one crash-synth frame. Returns (BGR uint8 (imgsz, imgsz, 3), pixel boxes, JPEG quality)."""
    s, u = imgsz, imgsz / 640
    zoom = rng.uniform(*cfg["zoom"])
    img = np.empty((s, s, 3), np.uint8)
    floor_y = _i(rng.uniform(0.62, 0.9) * s)
    draw_hall(img, rng, floor_y)
    boxes: list[Box] = []
    left = rng.random() < 0.5
    wall = None
    if rng.random() < cfg["p_wall"]:
        wall = draw_wall(img, rng, left, max(_i(rng.uniform(0.1, 0.25) * s * zoom), 3),
                         _i(rng.uniform(-0.1, 0.2) * s), floor_y + _i(0.02 * s))
        boxes.append(wall)
    body_h = max(_i(rng.uniform(0.28, 0.42) * s * zoom), 8)
    body_w = _i(body_h * rng.uniform(2.0, 3.5))
    bogie_h = max(_i(0.3 * body_h), 4)
    body_y1 = floor_y - bogie_h
    body_y0 = body_y1 - body_h
    face = (wall.x2 if left else wall.x1) if wall else (_i(rng.uniform(0.05, 0.5) * s) if left else
                                                      _i(rng.uniform(0.5, 0.95) * s))
    absorber_len = max(_i(rng.uniform(0.06, 0.15) * s * zoom), 3)
    has_absorber = rng.random() < (cfg["p_absorber"] if wall else cfg["p_absorber"] / 6)
    gap = absorber_len if has_absorber else _i(rng.uniform(0, 0.05) * s)
    front = _i(face + gap) if left else _i(face - gap)
    bx0, bx1 = (front, front + body_w) if left else (front - body_w, front)
    draw_body(img, rng, bx0, bx1, body_y0, body_y1)
    frame_h = max(_i(0.08 * body_h), 1)  # underframe below the body
    cv2.rectangle(img, (bx0 + frame_h, body_y1), (bx1 - frame_h, body_y1 + frame_h), _c(rng, 30, 60), -1)
    if has_absorber:
        ax0, ax1 = (_i(face), front) if left else (front, _i(face))
        if ax1 - ax0 >= 3:
            boxes.append(draw_absorber(img, rng, ax0, ax1, body_y0 + _i(0.6 * body_h), max(_i(0.18 * body_h), 3)))
    bogie_w = max(_i(0.28 * body_w), 6)
    for f in (0.18, 0.82):  # bogies near both ends of the body
        cx = _i(bx0 + f * (bx1 - bx0))
        if bogie_w // 2 <= cx <= s - bogie_w // 2 and rng.random() < cfg["p_bogie"]:
            boxes += draw_bogie(img, rng, cx, body_y1, floor_y, bogie_w, int(rng.choice([1, 2, 2])))
    n_points = int(rng.integers(cfg["points"][0], cfg["points"][1] + 1))
    size_lo, size_hi = (max(v * u, 3.0) for v in cfg["point_size"])
    sizes = rng.uniform(size_lo, size_hi, 3 * n_points)
    regions = [(max(bx0, 0), body_y0, min(bx1, s), body_y1), (0, 0, s, s)]
    weights = [0.8, 0.1]
    if wall:
        regions.append((_i(wall.x1), _i(wall.y1), _i(wall.x2), _i(wall.y2)))
        weights.append(0.1)
    for x, y, d in place_points(rng, n_points, sizes, regions, np.asarray(weights), s):
        boxes.append(draw_point(img, x, y, d, rng.random() < 0.3, rng.uniform(0, 360),
                                _i(rng.uniform(0, 50)), _i(rng.uniform(200, 255)), rng.random() < 0.5))
    n_debris = int(rng.integers(cfg["debris"][0], cfg["debris"][1] + 1))
    if n_debris:  # small irregular fragments near the impact face
        centres = np.stack([face + rng.normal(0, 0.12 * s, n_debris), rng.uniform(0, floor_y, n_debris)], 1)
        shapes = rng.uniform(-1, 1, (n_debris, 3, 2)) * max(2.5 * u, 1)
        shades = rng.uniform(20, 200, n_debris)
        for c, sh, g in zip(centres, shapes, shades):
            cv2.fillConvexPoly(img, np.round(c + sh).astype(np.int32), (_i(g),) * 3, AA)
    blur = odd(rng.uniform(*cfg["blur"]) * u)
    gain = lighting_gain(rng, s, cfg["lighting"]) * np.float32(rng.uniform(0.8, 1.15))
    img = finish_image(img, rng, blur, rng.uniform(*cfg["noise"]), gain)
    quality = int(rng.integers(cfg["jpeg_quality"][0], cfg["jpeg_quality"][1] + 1))
    return img, grow_boxes(boxes, (blur - 1) / 2), quality


CRASH_GENERATOR = SceneGenerator("crash-synth", NAMES, DEFAULTS, render_crash)
