"""`fdet data tile`: cut large labelled frames into overlapping tiles, with their boxes, as a new YOLO data set.

A model meant to run sliced (`slice=S`, ext/deploy/predict.py) sees its parts at the scale of an S px tile
letterboxed to `imgsz`; training on tiles of the same S shows them at that scale. Windows are the same as at
inference (sahi's `get_slice_bboxes`, `size` and `overlap`). Each box is intersected with each window: kept when at
least `min_visible` of its area lies inside (clipped to the tile if less than all), dropped otherwise (a sliver of
a part is not a part). Tiles without boxes are kept: they are the negatives. Polygon label rows (segments) are
boxed first, as Ultralytics' own label check does.

Layout written (per split of the source data YAML): `out/images/<split>/<stem>_<x0>_<y0>.jpg`,
`out/labels/<split>/<same>.txt`, `out/data.yaml` (names as the source).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from sahi.slicing import get_slice_bboxes
from ultralytics.data.utils import IMG_FORMATS, check_det_dataset, img2label_paths

from .catalog import resolve_data
from .convert import write_data_yaml
from .labels import read_boxes


@dataclass
class TileSummary:
    """Counts of one tiling; each source box is counted once per window it touches."""

    images: int = 0  # source images read
    unreadable: int = 0  # source images that could not be read (skipped)
    tiles: int = 0  # tiles written
    empty_tiles: int = 0  # of them, without boxes
    boxes: int = 0  # boxes written
    clipped: int = 0  # written boxes cut by the tile edge
    dropped: int = 0  # box parts inside a tile but under min_visible of the box: not written
    per_split: dict[str, int] = field(default_factory=dict)  # tiles per split
    yaml: str = ""

    def __str__(self) -> str:
        return (f"{self.images} images ({self.unreadable} unreadable) -> {self.tiles} tiles "
                f"({', '.join(f'{k} {v}' for k, v in self.per_split.items())}; {self.empty_tiles} without boxes), "
                f"{self.boxes} boxes written ({self.clipped} clipped), {self.dropped} box parts dropped "
                f"(under min_visible)\n  data YAML: {self.yaml}")


def tile_boxes(boxes: np.ndarray, window, min_visible: float) -> tuple[np.ndarray, int, int]:
    """Boxes of one window: ([K, 5] class and corners in tile px, clipped count, dropped count)."""
    x0, y0, x1, y1 = window
    inter = np.stack([np.clip(boxes[:, 1], x0, x1), np.clip(boxes[:, 2], y0, y1),
                      np.clip(boxes[:, 3], x0, x1), np.clip(boxes[:, 4], y0, y1)], 1)
    area = (boxes[:, 3] - boxes[:, 1]) * (boxes[:, 4] - boxes[:, 2])
    seen = (inter[:, 2] - inter[:, 0]) * (inter[:, 3] - inter[:, 1])
    touch = seen > 0
    keep = touch & (seen >= min_visible * np.maximum(area, 1e-9))
    clipped = int((keep & (seen < area - 1e-6)).sum())
    out = np.concatenate([boxes[keep, :1], inter[keep] - [x0, y0, x0, y0]], 1)
    return out, clipped, int((touch & ~keep).sum())


def tile_dataset(data: str, out: str | Path, size: int = 640, overlap: float = 0.2, min_visible: float = 0.5,
                 splits=("train", "val")) -> TileSummary:
    """Tile every image of the `splits` of `data` (catalog name or data YAML) into `out` (module docstring).

    Raises:
        ValueError: size < 32, overlap outside [0, 1), min_visible outside (0, 1].
    """
    if size < 32 or not 0 <= overlap < 1 or not 0 < min_visible <= 1:
        raise ValueError(f"tile: size={size} (>= 32), overlap={overlap} ([0, 1)), min_visible={min_visible} ((0, 1])")
    info = check_det_dataset(resolve_data(data))
    out = Path(out)
    s = TileSummary()
    for split in splits:
        src = info.get(split)
        if not src:
            continue
        files = sorted(p for d in (src if isinstance(src, list) else [src]) for p in Path(d).rglob("*")
                       if p.suffix.lower()[1:] in IMG_FORMATS)
        (out / "images" / split).mkdir(parents=True, exist_ok=True)
        (out / "labels" / split).mkdir(parents=True, exist_ok=True)
        s.per_split[split] = 0
        for f, label in zip(files, img2label_paths([str(p) for p in files])):
            img = cv2.imread(str(f))
            s.images += 1
            if img is None:
                s.unreadable += 1
                continue
            h, w = img.shape[:2]
            boxes = read_boxes(Path(label), w, h)
            for win in get_slice_bboxes(h, w, size, size, auto_slice_resolution=False, overlap_height_ratio=overlap,
                                        overlap_width_ratio=overlap):
                kept, clipped, dropped = tile_boxes(boxes, win, min_visible)
                tw, th = win[2] - win[0], win[3] - win[1]
                stem = f"{f.stem}_{win[0]}_{win[1]}"
                cv2.imwrite(str(out / "images" / split / f"{stem}.jpg"), img[win[1]:win[3], win[0]:win[2]])
                (out / "labels" / split / f"{stem}.txt").write_text("".join(
                    f"{int(c)} {(a + b) / 2 / tw:.6f} {(e + g) / 2 / th:.6f} {(b - a) / tw:.6f} {(g - e) / th:.6f}\n"
                    for c, a, e, b, g in kept))
                s.tiles += 1
                s.per_split[split] += 1
                s.empty_tiles += not len(kept)
                s.boxes += len(kept)
                s.clipped += clipped
                s.dropped += dropped
    names = info["names"]
    s.yaml = str(write_data_yaml(out, [names[i] for i in sorted(names)]))
    return s
