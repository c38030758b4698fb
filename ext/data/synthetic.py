"""Synthetic railway inspection data sets written in Ultralytics' YOLO layout (plus COCO json).

Two scene generators live beside this module, collected by name in ``generators``: ``synth_fault`` (grey line-scan
freight-car undercarriage with braking-system components in normal and fault states) and ``synth_crash``
(high-speed-camera crash-test frames with dense checkerboard ``point`` markers). This module holds what they
share: per-image random generators, image effects (lighting, sensor noise, motion blur, JPEG), the ``Box`` record
and the writer of the output layout.

Output layout of ``generators.generate(name, out_dir, ...)``::

    out_dir/images/{train,val}/000000.jpg      imgsz x imgsz pixels (square), JPEG
    out_dir/labels/{train,val}/000000.txt      one line per object: "class cx cy w h", normalised to 0..1
    out_dir/annotations/instances_{train,val}.json   COCO: bbox [x, y, w, h] in pixels, category_id = class + 1
    out_dir/data.yaml                          absolute path, train/val folders, names {0: ..., }

COCO category ids are 1-based (``category_id = YOLO class index + 1``); image ids are 1-based per split.
Every image is drawn from its own generator seeded by ``(seed, split, index)``, so the same seed gives
byte-identical files and an image does not depend on how many images come before it.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Callable

import cv2
import numpy as np
from ultralytics.utils import LOGGER, YAML

SPLIT_CODES = {"train": 0, "val": 1}


@dataclass
class Box:
    """One labelled object: class index and pixel corners (x1, y1) inclusive, (x2, y2) exclusive edges."""

    cls: int
    x1: float
    y1: float
    x2: float
    y2: float

    def clipped(self, width: int, height: int) -> Box:
        """Return the box clipped to an image of ``width`` x ``height`` pixels."""
        return Box(
            self.cls,
            min(max(self.x1, 0.0), width),
            min(max(self.y1, 0.0), height),
            min(max(self.x2, 0.0), width),
            min(max(self.y2, 0.0), height),
        )

    @property
    def area(self) -> float:
        """Area in square pixels (0 for empty boxes)."""
        return max(self.x2 - self.x1, 0.0) * max(self.y2 - self.y1, 0.0)

    def overlaps(self, other: Box, margin: float = 0.0) -> bool:
        """True when the two boxes, each grown by ``margin`` pixels, intersect."""
        return not (
            self.x2 + margin <= other.x1
            or other.x2 + margin <= self.x1
            or self.y2 + margin <= other.y1
            or other.y2 + margin <= self.y1
        )


def box_of_points(cls: int, points: np.ndarray) -> Box:
    """Tight box around integer pixel points (N, 2) as drawn by cv2: x2/y2 are one past the last pixel."""
    pts = np.asarray(points).reshape(-1, 2)
    lo, hi = pts.min(0), pts.max(0) + 1
    return Box(cls, float(lo[0]), float(lo[1]), float(hi[0]), float(hi[1]))


def box_of_circle(cls: int, cx: int, cy: int, r: int) -> Box:
    """Tight box around a filled cv2 circle of integer centre (cx, cy) and radius r pixels."""
    return Box(cls, float(cx - r), float(cy - r), float(cx + r + 1), float(cy + r + 1))


def union_box(boxes: list[Box]) -> Box:
    """Smallest box holding all ``boxes`` (class of the first)."""
    return Box(
        boxes[0].cls,
        min(b.x1 for b in boxes),
        min(b.y1 for b in boxes),
        max(b.x2 for b in boxes),
        max(b.y2 for b in boxes),
    )


def image_rng(seed: int, split: str, index: int) -> np.random.Generator:
    """Independent numpy generator for image ``index`` of ``split`` under ``seed``."""
    return np.random.default_rng([int(seed), SPLIT_CODES[split], int(index)])


def place_free(rng: np.random.Generator, make: Callable[[int, int], Box], taken: list[Box],
               size: int | tuple[int, int], margin: float, tries: int = 20) -> tuple[int, int] | None:
    """Pick a centre (x, y) in a ``size`` x ``size`` (or ``(width, height)``) image whose box ``make(x, y)`` lies
    inside the image and misses all ``taken`` boxes by ``margin`` px. Returns the centre, or None when ``tries``
    random centres fail."""
    w, h = (size, size) if isinstance(size, int) else size
    xs = rng.integers(0, w, tries)
    ys = rng.integers(0, h, tries)
    for x, y in zip(xs.tolist(), ys.tolist()):
        b = make(x, y)
        if b.x1 < 0 or b.y1 < 0 or b.x2 > w or b.y2 > h:
            continue
        if not any(b.overlaps(t, margin) for t in taken):
            return x, y
    return None


def smooth_field(rng: np.random.Generator, size: int, cells: int, amplitude: float) -> np.ndarray:
    """Low-frequency random field (size, size) float32 in about [-amplitude, amplitude]: blotchy metal texture."""
    small = rng.uniform(-amplitude, amplitude, (cells, cells)).astype(np.float32)
    return cv2.resize(small, (size, size), interpolation=cv2.INTER_CUBIC)


def lighting_gain(rng: np.random.Generator, size: int, strength: float = 0.35) -> np.ndarray:
    """Multiplicative lighting map (size, size) float32 around 1: linear gradient in a random direction and a
    vignette darkening the corners. ``strength`` scales both (0 gives all ones)."""
    g = np.linspace(-1.0, 1.0, 17, dtype=np.float32)
    gx, gy = np.meshgrid(g, g)
    angle = rng.uniform(0, 2 * np.pi)
    grad = (np.cos(angle) * gx + np.sin(angle) * gy) * rng.uniform(0, strength)
    cx, cy = rng.uniform(-0.4, 0.4, 2)
    vignette = ((gx - cx) ** 2 + (gy - cy) ** 2) * rng.uniform(0, strength)
    small = (1.0 + grad - vignette).astype(np.float32)
    return cv2.resize(small, (size, size), interpolation=cv2.INTER_LINEAR)


@lru_cache(maxsize=4)
def noise_bank(size: int) -> np.ndarray:
    """Fixed standard-normal noise (2 * size, 2 * size) float32; images take random crops of it (fast)."""
    return np.random.default_rng(20240917).standard_normal((2 * size, 2 * size), dtype=np.float32)


def finish_image(img: np.ndarray, rng: np.random.Generator, blur: int, noise_sigma: float,
                 gain: np.ndarray | None = None, row_sigma: float = 0.0) -> np.ndarray:
    """Apply the camera: horizontal motion blur of ``blur`` px (odd, 1 = none), multiplicative ``gain`` map (H, W),
    per-row sensor gain jitter ``row_sigma`` (line-scan stripes) and Gaussian noise of ``noise_sigma`` grey levels.

    img: (H, W) or (H, W, 3) uint8. Returns uint8 of the same shape (saturated, rounded).
    """
    if blur > 1:
        img = cv2.blur(img, (blur, 1))
    h, w = img.shape[:2]
    scale = np.ones((h, w), np.float32) if gain is None else gain.astype(np.float32, copy=False)
    if row_sigma > 0:
        scale = scale * (1.0 + rng.normal(0.0, row_sigma, (h, 1))).astype(np.float32)
    oy, ox = rng.integers(0, h, 2)
    noise = noise_bank(max(h, w))[oy:oy + h, ox:ox + w] * np.float32(noise_sigma * rng.choice([-1.0, 1.0]))
    if img.ndim == 3:
        scale, noise = cv2.merge([scale] * 3), cv2.merge([noise] * 3)
    out = cv2.multiply(img, scale, dtype=cv2.CV_32F)
    return cv2.add(out, noise, dtype=cv2.CV_8U)


def odd(k: float) -> int:
    """Nearest odd integer >= 1 (kernel sizes)."""
    k = max(int(round(k)), 1)
    return k if k % 2 else k + 1


def grow_boxes(boxes: list[Box], dx: float) -> list[Box]:
    """Grow boxes horizontally by ``dx`` px on each side (what a horizontal motion blur smears)."""
    return [Box(b.cls, b.x1 - dx, b.y1, b.x2 + dx, b.y2) for b in boxes]


@dataclass
class SplitWriter:
    """Writes one split: images, YOLO label files and the COCO record, and counts objects per class."""

    root: Path
    split: str
    names: list[str]
    images: list[dict] = field(default_factory=list)
    annotations: list[dict] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)

    def __post_init__(self):
        (self.root / "images" / self.split).mkdir(parents=True, exist_ok=True)
        (self.root / "labels" / self.split).mkdir(parents=True, exist_ok=True)
        self.counts = {n: 0 for n in self.names}

    def add(self, index: int, img: np.ndarray, boxes: list[Box], quality: int) -> None:
        """Save image ``index`` (uint8 HxW or HxWx3) as JPEG of ``quality`` with its pixel ``boxes``."""
        h, w = img.shape[:2]
        stem = f"{index:06d}"
        ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
        if not ok:
            raise RuntimeError(f"JPEG encoding failed for {stem}")
        (self.root / "images" / self.split / f"{stem}.jpg").write_bytes(buf.tobytes())
        image_id = len(self.images) + 1
        self.images.append({"id": image_id, "file_name": f"{stem}.jpg", "width": w, "height": h})
        lines = []
        for b in boxes:
            b = b.clipped(w, h)
            if b.x2 - b.x1 < 1 or b.y2 - b.y1 < 1:
                raise ValueError(f"generator produced an empty box {b} in {self.split}/{stem}")
            lines.append(
                f"{b.cls} {(b.x1 + b.x2) / 2 / w:.6f} {(b.y1 + b.y2) / 2 / h:.6f} "
                f"{(b.x2 - b.x1) / w:.6f} {(b.y2 - b.y1) / h:.6f}\n"
            )
            self.annotations.append({
                "id": len(self.annotations) + 1,
                "image_id": image_id,
                "category_id": b.cls + 1,
                "bbox": [round(b.x1, 2), round(b.y1, 2), round(b.x2 - b.x1, 2), round(b.y2 - b.y1, 2)],
                "area": round(b.area, 2),
                "iscrowd": 0,
                "segmentation": [],
            })
            self.counts[self.names[b.cls]] += 1
        (self.root / "labels" / self.split / f"{stem}.txt").write_text("".join(lines))

    def close(self, description: str) -> None:
        """Write ``annotations/instances_<split>.json`` (category ids 1-based)."""
        coco = {
            "info": {"description": description},
            "licenses": [],
            "images": self.images,
            "annotations": self.annotations,
            "categories": [{"id": i + 1, "name": n, "supercategory": "object"} for i, n in enumerate(self.names)],
        }
        path = self.root / "annotations" / f"instances_{self.split}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(coco))


@dataclass
class SceneGenerator:
    """A registered synthetic data set: class ``names``, default ``settings`` and ``render``.

    ``render(rng, imgsz, settings) -> (image uint8, list[Box], jpeg_quality)`` draws one image.
    Calling the object writes a whole data set (see ``generate``).
    """

    name: str
    names: list[str]
    defaults: dict
    render: Callable[[np.random.Generator, int, dict], tuple[np.ndarray, list[Box], int]]

    def settings(self, **overrides) -> dict:
        """Defaults updated by ``overrides``; unknown keys raise TypeError."""
        unknown = sorted(set(overrides) - set(self.defaults))
        if unknown:
            raise TypeError(f"{self.name}: unknown settings {unknown}; valid: {sorted(self.defaults)}")
        return {**self.defaults, **overrides}

    def __call__(self, out_dir: str | Path, n_train: int, n_val: int, imgsz: int = 640, seed: int = 0,
                 train_settings: dict | None = None, **settings) -> dict:
        """Write the data set (see ``generate``); ``train_settings`` override ``settings`` in the train split only
        (a long-tailed train split measured on a validation split with enough rare objects)."""
        split_cfg = {"val": self.settings(**settings)}
        split_cfg["train"] = self.settings(**{**settings, **(train_settings or {})})
        root = Path(out_dir).expanduser().resolve()
        for sub in ("images", "labels", "annotations"):  # stale files from an earlier run would mix in
            shutil.rmtree(root / sub, ignore_errors=True)
        counts = {}
        for split, n in (("train", n_train), ("val", n_val)):
            writer = SplitWriter(root, split, self.names)
            for i in range(int(n)):
                img, boxes, quality = self.render(image_rng(seed, split, i), int(imgsz), split_cfg[split])
                writer.add(i, img, boxes, quality)
            writer.close(f"{self.name} seed={seed} imgsz={imgsz} split={split}")
            counts[split] = dict(writer.counts)
            LOGGER.info(f"{self.name} {split}: {n} images, " + ", ".join(f"{k}={v}" for k, v in writer.counts.items()))
        yaml_path = root / "data.yaml"
        YAML.save(yaml_path, {
            "path": str(root),
            "train": "images/train",
            "val": "images/val",
            "names": dict(enumerate(self.names)),
        })
        return {"yaml": str(yaml_path), "counts": counts}
