"""Reading YOLO label files: what the tiler (`tile.py`), `fdet inspect`'s ground truth and the benchmarks read."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def read_boxes(label_file: Path, w: int, h: int) -> np.ndarray:
    """[M, 5] (class, x1, y1, x2, y2 in px) of a YOLO label file; polygon rows become their bounding boxes."""
    rows = []
    text = label_file.read_text() if label_file.is_file() else ""
    for line in text.splitlines():
        v = [float(x) for x in line.split()]
        if len(v) == 5:
            c, x, y, bw, bh = v
            rows.append([c, (x - bw / 2) * w, (y - bh / 2) * h, (x + bw / 2) * w, (y + bh / 2) * h])
        elif len(v) >= 7:  # class and polygon points
            xs, ys = np.asarray(v[1::2]) * w, np.asarray(v[2::2]) * h
            rows.append([v[0], xs.min(), ys.min(), xs.max(), ys.max()])
    return np.asarray(rows, np.float64).reshape(-1, 5)
