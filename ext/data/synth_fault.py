"""``fault-synth``: grey line-scan freight-car undercarriage scenes with braking-system components.

Each image is ``imgsz`` x ``imgsz`` single-channel grey (written as a grey JPEG; Ultralytics reads it as 3
identical channels). Sizes below are given in pixels at 640 and scale with ``imgsz / 640``.

Scene: dark undercarriage background, horizontal and vertical beams with lit top edges and shadowed bottoms,
thin bands, a wheel arc, coil springs, dark cut-outs and cables (all unlabelled). Components (labelled):

- ``bolt``: washer ring and bright hexagonal head with a highlight; ``bolt_missing``: the empty threaded hole,
  a light rim around a dark hole with faint thread rings (no head).
- ``brake_shoe_key``: a long tapered key with a loop at its top end, sitting in a dark slot;
  ``brake_shoe_key_broken``: the same key split across with a jagged dark gap, the lower part shifted sideways
  or gone (the empty slot shows). The box covers slot, key parts and loop.
- ``cotter_pin``: a pin shaft seen from the side with a bright split pin through it: head loop on one side,
  two splayed legs on the other; ``cotter_pin_missing``: the shaft with its empty dark cross hole.

Camera: horizontal motion blur (the scan direction), per-row sensor gain stripes, Gaussian noise, gradient and
vignette lighting, metal blotch texture and a random JPEG quality. Boxes grow by half the blur length.
"""

from __future__ import annotations

import cv2
import numpy as np

from ext.data.synthetic import (
    Box, SceneGenerator, box_of_circle, box_of_points, finish_image, grow_boxes, lighting_gain, odd, place_free,
    smooth_field, union_box,
)

NAMES = ["brake_shoe_key", "brake_shoe_key_broken", "bolt", "bolt_missing", "cotter_pin", "cotter_pin_missing"]
KEY, KEY_BROKEN, BOLT, BOLT_MISSING, PIN, PIN_MISSING = range(6)

DEFAULTS = {
    "objects": [3, 10],  # components per image (min, max), before placement failures
    "kinds": [0.25, 0.5, 0.25],  # relative frequency of key, bolt, cotter pin
    "p_fault": 0.35,  # chance that a component is in its fault state (in images that have faults)
    "p_clean": 0.25,  # chance that an image has no fault at all
    "p_background": 0.05,  # chance that an image has no component at all
    "noise": [2.0, 8.0],  # Gaussian noise sigma range, grey levels
    "blur": [1.0, 5.0],  # horizontal motion blur length range, px at 640
    "jpeg_quality": [55, 95],  # JPEG quality range
    "lighting": 0.35,  # strength of gradient and vignette
}

AA = cv2.LINE_AA


def _i(v: float) -> int:
    return int(round(float(v)))


def _pts(points: list) -> np.ndarray:
    return np.round(np.asarray(points, dtype=np.float64)).astype(np.int32)


def draw_structure(img: np.ndarray, rng: np.random.Generator, u: float) -> None:
    """Draw the unlabelled undercarriage on ``img`` (S, S) uint8 in place; ``u`` = S / 640."""
    s = img.shape[0]
    img.fill(_i(rng.uniform(20, 65)))
    for _ in range(rng.integers(0, 3)):  # dark cut-outs / far background shapes
        pts = _pts(rng.uniform(-0.1, 1.1, (3, 2)) * s)
        cv2.fillPoly(img, [pts], _i(rng.uniform(5, 25)), AA)
    for _ in range(rng.integers(1, 4)):  # horizontal beams
        y, h = _i(rng.uniform(-0.1, 1.0) * s), max(_i(rng.uniform(30, 140) * u), 4)
        x0, x1 = _i(rng.uniform(-0.3, 0.3) * s), _i(rng.uniform(0.7, 1.3) * s)
        lv = rng.uniform(70, 165)
        cv2.rectangle(img, (x0, y), (x1, y + h), _i(lv), -1)
        cv2.rectangle(img, (x0, y), (x1, y + max(_i(4 * u), 1)), _i(min(lv + 50, 245)), -1)
        cv2.rectangle(img, (x0, y + h - max(_i(7 * u), 1)), (x1, y + h), _i(lv * 0.5), -1)
    for _ in range(rng.integers(0, 3)):  # vertical beams
        x, w = _i(rng.uniform(-0.05, 1.0) * s), max(_i(rng.uniform(25, 90) * u), 3)
        y0, y1 = _i(rng.uniform(-0.3, 0.4) * s), _i(rng.uniform(0.6, 1.3) * s)
        lv = rng.uniform(60, 150)
        cv2.rectangle(img, (x, y0), (x + w, y1), _i(lv), -1)
        cv2.rectangle(img, (x, y0), (x + max(_i(4 * u), 1), y1), _i(min(lv + 40, 240)), -1)
        cv2.rectangle(img, (x + w - max(_i(5 * u), 1), y0), (x + w, y1), _i(lv * 0.55), -1)
    for _ in range(rng.integers(0, 3)):  # plates with bevelled edges
        x, y = _i(rng.uniform(-0.1, 0.9) * s), _i(rng.uniform(-0.1, 0.9) * s)
        w, h = _i(rng.uniform(0.15, 0.5) * s), _i(rng.uniform(0.15, 0.5) * s)
        lv = rng.uniform(60, 140)
        cv2.rectangle(img, (x, y), (x + w, y + h), _i(lv * 0.5), -1)
        bevel = max(_i(5 * u), 1)
        cv2.rectangle(img, (x + bevel, y + bevel), (x + w - bevel, y + h - bevel), _i(lv), -1)
    for _ in range(rng.integers(0, 3)):  # diagonal braces
        p0, p1 = rng.uniform(-0.1, 1.1, (2, 2)) * s
        cv2.line(img, tuple(_pts(p0)), tuple(_pts(p1)), _i(rng.uniform(60, 150)), max(_i(rng.uniform(12, 40) * u), 2),
                 AA)
    for _ in range(rng.integers(0, 4)):  # thin bands (rails, gaps between parts)
        y, h = _i(rng.uniform(0, 1) * s), max(_i(rng.uniform(2, 10) * u), 1)
        cv2.rectangle(img, (0, y), (s, y + h), _i(rng.choice([rng.uniform(5, 30), rng.uniform(150, 220)])), -1)
    if rng.random() < 0.5:  # wheel arc: a big ring mostly outside the frame
        r = _i(rng.uniform(0.45, 0.9) * s)
        c = (_i(rng.uniform(-0.3, 1.3) * s), _i(s + r * rng.uniform(0.3, 0.9)))
        cv2.circle(img, c, r, _i(rng.uniform(110, 190)), max(_i(rng.uniform(25, 55) * u), 2), AA)
        cv2.circle(img, c, r - max(_i(30 * u), 2), _i(rng.uniform(20, 60)), max(_i(6 * u), 1), AA)
    if rng.random() < 0.35:  # coil spring: stacked half ellipses
        x, y = _i(rng.uniform(0.1, 0.9) * s), _i(rng.uniform(0.0, 0.6) * s)
        w, pitch = max(_i(rng.uniform(30, 70) * u), 3), max(_i(rng.uniform(10, 20) * u), 2)
        for k in range(int(rng.integers(4, 9))):
            cv2.ellipse(img, (x, y + k * pitch), (w, pitch), 0, 0, 180, _i(rng.uniform(120, 190)),
                        max(_i(pitch * 0.5), 1), AA)
    for _ in range(rng.integers(0, 3)):  # cables
        pts = _pts(np.cumsum(rng.normal(0, 0.15, (5, 2)), axis=0) * s + rng.uniform(0, s, 2))
        cv2.polylines(img, [pts], False, _i(rng.uniform(10, 60)), max(_i(rng.uniform(2, 6) * u), 1), AA)


def bolt(img: np.ndarray | None, x: int, y: int, d: float, rng: np.random.Generator, missing: bool) -> Box:
    """Bolt of head size ``d`` px at (x, y); draws when ``img`` is given, always returns the tight box."""
    if missing:
        rim = max(_i(0.6 * d), 2)
        if img is not None:
            cv2.circle(img, (x, y), rim, _i(rng.uniform(120, 190)), -1, AA)
            cv2.circle(img, (x, y), max(_i(0.42 * d), 1), _i(rng.uniform(4, 22)), -1, AA)
            for f in (0.3, 0.18):  # thread rings inside the hole
                cv2.circle(img, (x, y), max(_i(f * d), 1), _i(rng.uniform(32, 55)), 1, AA)
            t = max(_i(0.08 * d), 1)
            ring = max(rim - (t + 1) // 2, 1)
            cv2.ellipse(img, (x, y), (ring, ring), rng.uniform(0, 360), 0, 120, _i(rng.uniform(50, 90)), t, AA)
        return box_of_circle(BOLT_MISSING, x, y, rim)
    washer = max(_i(0.75 * d), 2)
    if img is not None:
        lv = rng.uniform(120, 180)
        cv2.circle(img, (x, y), washer, _i(lv), -1, AA)
        t = max(_i(0.06 * d), 1)
        cv2.circle(img, (x, y), max(washer - (t + 1) // 2, 1), _i(lv * 0.45), t, AA)
        a = rng.uniform(0, np.pi / 3) + np.arange(6) * np.pi / 3
        hexagon = _pts(np.stack([x + 0.5 * d * np.cos(a), y + 0.5 * d * np.sin(a)], 1))
        cv2.fillConvexPoly(img, hexagon, _i(min(lv + rng.uniform(35, 70), 250)), AA)
        cv2.polylines(img, [hexagon], True, _i(lv * 0.4), 1, AA)
        cv2.circle(img, (x, y), max(_i(0.2 * d), 1), _i(lv * 0.8), -1, AA)  # thread stub
        cv2.circle(img, (_i(x - 0.2 * d), _i(y - 0.22 * d)), max(_i(0.1 * d), 1), 250, -1, AA)  # highlight
    return box_of_circle(BOLT, x, y, washer)


def brake_key(img: np.ndarray | None, x: int, y: int, length: float, width: float, angle: float,
              rng: np.random.Generator, broken: bool) -> Box:
    """Brake-shoe key of ``length`` x ``width`` px centred at (x, y), ``angle`` radians from vertical."""
    a = np.array([np.sin(angle), np.cos(angle)])  # along the key, downwards
    p = np.array([np.cos(angle), -np.sin(angle)])  # across the key
    c = np.array([x, y], dtype=np.float64)
    top, bottom = c - a * length / 2, c + a * length / 2
    slot = _pts([top - p * (width / 2 + 2), top + p * (width / 2 + 2), bottom + p * (width / 2 + 2),
                 bottom - p * (width / 2 + 2)])
    loop_c = top - a * width * 0.7
    loop_r = max(_i(width * 0.75), 1)
    loop_box = box_of_circle(0, _i(loop_c[0]), _i(loop_c[1]), loop_r)
    cls = KEY_BROKEN if broken else KEY
    box = union_box([box_of_points(cls, slot), loop_box])
    if img is None:
        return box
    lv = rng.uniform(125, 200)
    cv2.fillConvexPoly(img, slot, _i(rng.uniform(8, 30)), AA)
    th = max(_i(width * 0.3), 1)
    cv2.circle(img, (_i(loop_c[0]), _i(loop_c[1])), max(loop_r - th // 2, 1), _i(lv), th, AA)

    def body(t0: float, t1: float, jag_top: bool, jag_bottom: bool, shift: np.ndarray) -> None:
        """Key from fraction t0 to t1 of its length; jagged (fractured) ends where asked."""
        w0, w1 = width * (1 - 0.3 * t0) / 2, width * (1 - 0.3 * t1) / 2
        e0, e1 = top + a * length * t0 + shift, top + a * length * t1 + shift
        if jag_top:  # top edge, right to left
            poly = [e0 + p * w0, e0 + p * w0 * 0.4 + a * width * 0.25, e0 - p * w0 * 0.3 - a * width * 0.2, e0 - p * w0]
        else:
            poly = [e0 + p * w0, e0 - p * w0]
        if jag_bottom:  # bottom edge, left to right
            poly += [e1 - p * w1, e1 - p * w1 * 0.5 - a * width * 0.25, e1 + p * w1 * 0.2 + a * width * 0.2,
                     e1 + p * w1]
        else:
            poly += [e1 - p * w1, e1 + p * w1]
        pts = _pts(poly)
        cv2.fillPoly(img, [pts], _i(lv), AA)
        cv2.polylines(img, [pts], True, _i(lv * 0.45), 1, AA)
        cv2.line(img, tuple(_pts(e0 + p * w0 * 0.3)), tuple(_pts(e1 + p * w1 * 0.3)), _i(min(lv + 40, 250)),
                 max(_i(width * 0.15), 1), AA)

    zero = np.zeros(2)
    if not broken:
        body(0.0, 1.0, False, False, zero)
        return box
    split, gap = rng.uniform(0.35, 0.65), max(rng.uniform(0.08, 0.16) * length, 3) / length
    body(0.0, split - gap / 2, False, True, zero)
    if rng.random() > 0.3:  # lower part still there, shifted sideways inside the slot
        body(split + gap / 2, 1.0, True, False, p * rng.choice([-1, 1]) * rng.uniform(0.0, 2.0))
    return box


def cotter_pin(img: np.ndarray | None, x: int, y: int, rb: float, angle: float, legs: np.ndarray,
               rng: np.random.Generator, missing: bool) -> Box:
    """Pin shaft seen from the side, ``rb`` px half-thick, centred at (x, y), with a split pin or an empty hole.

    The shaft runs across ``angle`` (radians); the split pin goes through it along ``angle``: head loop on one
    side, two legs splayed on the other. ``legs`` (2, 2) holds per leg (length, spread) in units of rb.
    """
    v = np.array([np.cos(angle), np.sin(angle)])  # along the split pin
    q = np.array([-v[1], v[0]])  # along the shaft
    c = np.array([x, y], dtype=np.float64)
    half_len, half_th = 1.4 * rb, 0.65 * rb
    shaft = _pts([c - q * half_len - v * half_th, c + q * half_len - v * half_th,
                  c + q * half_len + v * half_th, c - q * half_len + v * half_th])
    cls = PIN_MISSING if missing else PIN
    boxes = [box_of_points(cls, shaft)]
    th = max(_i(0.28 * rb), 1)
    head = c - v * 0.95 * rb
    axes = (max(_i(0.45 * rb), 1), max(_i(0.3 * rb), 1))  # head loop: along q, along v
    leg_lines = [(c + v * 0.3 * rb, c + v * ln * rb + q * side * spread * rb) for side, (ln, spread) in
                 zip((-1, 1), legs)]
    if not missing:
        grow = th // 2 + 1
        reach = box_of_points(PIN, _pts([pt for leg in leg_lines for pt in leg]))
        boxes.append(Box(PIN, reach.x1 - grow, reach.y1 - grow, reach.x2 + grow, reach.y2 + grow))
        hw = np.hypot(axes[0] * q[0], axes[1] * v[0]) + grow  # rotated ellipse half extents
        hh = np.hypot(axes[0] * q[1], axes[1] * v[1]) + grow
        hx, hy = _i(head[0]), _i(head[1])
        boxes.append(Box(PIN, hx - hw, hy - hh, hx + hw + 1, hy + hh + 1))
    box = union_box(boxes)
    if img is None:
        return box
    lv = rng.uniform(90, 160)
    cv2.fillConvexPoly(img, shaft, _i(lv), AA)
    edge = _pts([c - q * half_len - v * half_th * 0.6, c + q * half_len - v * half_th * 0.6])
    cv2.line(img, tuple(edge[0]), tuple(edge[1]), _i(min(lv + 55, 245)), max(_i(0.2 * rb), 1), AA)  # sheen
    cv2.polylines(img, [shaft], True, _i(lv * 0.45), 1, AA)
    if missing:  # the empty cross hole
        cv2.circle(img, (x, y), max(_i(0.32 * rb), 1), _i(rng.uniform(3, 18)), -1, AA)
        return box
    bright = _i(rng.uniform(195, 245))
    cv2.ellipse(img, (_i(head[0]), _i(head[1])), axes, np.degrees(np.arctan2(q[1], q[0])), 0, 360, bright, th, AA)
    cv2.line(img, tuple(_pts(head + v * axes[1])), tuple(_pts(c + v * 0.3 * rb)), bright, th, AA)
    for p0, p1 in leg_lines:
        cv2.line(img, tuple(_pts(p0)), tuple(_pts(p1)), bright, th, AA)
    return box


def draw_components(img: np.ndarray, rng: np.random.Generator, cfg: dict, u: float) -> list[Box]:
    """Draw the labelled components on ``img`` (H, W) uint8 in place at size scale ``u`` (1 = their size at
    640 px); returns their pixel boxes. Counts, kinds and fault states follow ``cfg`` (see DEFAULTS)."""
    h, w = img.shape[:2]
    background = rng.random() < cfg["p_background"]
    clean = rng.random() < cfg["p_clean"]
    n = 0 if background else int(rng.integers(cfg["objects"][0], cfg["objects"][1] + 1))
    kinds = rng.choice(3, size=n, p=np.asarray(cfg["kinds"], float) / np.sum(cfg["kinds"]))
    faults = (rng.random(n) < cfg["p_fault"]) & (not clean)
    if n and not clean and not faults.any():
        faults[rng.integers(n)] = True
    boxes: list[Box] = []
    margin = max(4 * u, 1)
    for kind, fault in zip(kinds.tolist(), faults.tolist()):
        if kind == 0:
            length, width = max(rng.uniform(50, 95) * u, 10), max(rng.uniform(8, 15) * u, 3)
            angle = rng.uniform(-0.25, 0.25) + (np.pi / 2 if rng.random() < 0.3 else 0.0)
            make = lambda x, y: brake_key(None, x, y, length, width, angle, rng, fault)  # noqa: E731
            spot = place_free(rng, make, boxes, (w, h), margin)
            if spot:
                boxes.append(brake_key(img, *spot, length, width, angle, rng, fault))
        elif kind == 1:
            d = max(rng.uniform(14, 32) * u, 4)
            spot = place_free(rng, lambda x, y: bolt(None, x, y, d, rng, fault), boxes, (w, h), margin)
            if spot:
                boxes.append(bolt(img, *spot, d, rng, fault))
        else:
            rb, angle = max(rng.uniform(7, 13) * u, 2.5), rng.uniform(0, 2 * np.pi)
            legs = np.stack([rng.uniform(1.5, 2.0, 2), rng.uniform(0.5, 0.9, 2)], 1)
            make = lambda x, y: cotter_pin(None, x, y, rb, angle, legs, rng, fault)  # noqa: E731
            spot = place_free(rng, make, boxes, (w, h), margin)
            if spot:
                boxes.append(cotter_pin(img, *spot, rb, angle, legs, rng, fault))
    return boxes


def render_fault(rng: np.random.Generator, imgsz: int, cfg: dict) -> tuple[np.ndarray, list[Box], int]:
    """Draw one fault-synth image. Returns (grey uint8 (imgsz, imgsz), pixel boxes, JPEG quality)."""
    s, u = imgsz, imgsz / 640
    img = np.empty((s, s), np.uint8)
    draw_structure(img, rng, u)
    boxes = draw_components(img, rng, cfg, u)
    blur = odd(rng.uniform(*cfg["blur"]) * u)
    gain = lighting_gain(rng, s, cfg["lighting"]) * (1.0 + smooth_field(rng, s, 12, 0.12))
    img = finish_image(img, rng, blur, rng.uniform(*cfg["noise"]), gain, row_sigma=0.015)
    quality = int(rng.integers(cfg["jpeg_quality"][0], cfg["jpeg_quality"][1] + 1))
    return img, grow_boxes(boxes, (blur - 1) / 2), quality


FAULT_GENERATOR = SceneGenerator("fault-synth", NAMES, DEFAULTS, render_fault)
