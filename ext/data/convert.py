"""COCO json (and, in `voc.py`, Pascal VOC XML) to Ultralytics' YOLO layout, counting every annotation that is
changed or skipped.

Output of both converters (``split`` is e.g. 'train' or 'val')::

    out_dir/images/<split>/<image file>     hard link to a writable source image, else a copy
    out_dir/labels/<split>/<image stem>.txt  "class cx cy w h" per box, normalised to 0..1
    out_dir/data.yaml                        absolute path, one key per split found in out_dir/images, names

Ultralytics' own ``convert_coco`` writes to its own layout, maps categories through fixed COCO-80/91 tables and
drops bad boxes silently, so only its box helper (``xyxy2xywhn``) is reused here. Nothing is dropped silently:

- boxes partly outside the image are clipped to it and counted (``clipped``), and kept;
- boxes with no area after clipping, malformed or negative-size boxes are skipped (``zero_area``);
- boxes of a category id / class name not in ``names`` are skipped (``unknown_class``);
- COCO crowd annotations (``iscrowd: 1``) are skipped (``crowd``), as Ultralytics' converter does;
- annotations whose image is missing (absent from the json image list, or its file absent on disk) are skipped
  (``missing_image``, in boxes); image files absent on disk are counted once per image (``missing_file``).

Pixel boxes: COCO ``bbox`` is [x, y, w, h] from the top-left corner; VOC ``bndbox`` corners are used as given
(xmin, ymin, xmax, ymax in pixels, no 1-based shift). VOC image sizes come from the image file itself, not the XML.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image
from ultralytics.data.utils import IMG_FORMATS
from ultralytics.utils import LOGGER, YAML
from ultralytics.utils.ops import xyxy2xywhn

SPLIT_KEYS = {"train": "train", "val": "val", "valid": "val", "validation": "val", "test": "test"}


@dataclass
class Summary:
    """Counts of one conversion. Boxes are counted once, by the first reason that applies, in field order."""

    images: int = 0  # images written (each with a label file, possibly empty)
    boxes: int = 0  # boxes written
    clipped: int = 0  # written boxes that were partly outside their image and were clipped
    zero_area: int = 0  # skipped: no area after clipping, malformed or negative size
    unknown_class: int = 0  # skipped: category id / class name not among the names
    crowd: int = 0  # skipped: COCO iscrowd annotations
    missing_image: int = 0  # skipped boxes whose image is missing (unknown image id, or file not on disk)
    missing_file: int = 0  # skipped images: listed (COCO) or annotated (VOC) but the file is not on disk
    polygons: int = 0  # written boxes that came from polygon (segment) rows of YOLO labels
    per_class: dict[str, int] = field(default_factory=dict)  # boxes written per class name
    names: list[str] = field(default_factory=list)
    split: str = ""
    yaml: str = ""  # the data YAML written

    def __str__(self) -> str:
        skipped = self.zero_area + self.unknown_class + self.crowd + self.missing_image
        lines = [
            f"split '{self.split}': {self.images} images, {self.boxes} boxes written ({self.clipped} clipped), "
            f"{skipped} boxes skipped, {self.missing_file} image files missing, {self.polygons} polygons boxed",
            f"  skipped boxes: zero_area={self.zero_area} unknown_class={self.unknown_class} crowd={self.crowd} "
            f"missing_image={self.missing_image}",
            "  per class: " + (", ".join(f"{k}={v}" for k, v in self.per_class.items()) or "none"),
        ]
        if self.yaml:
            lines.append(f"  data YAML: {self.yaml}")
        return "\n".join(lines)


def _names_list(names) -> list[str] | None:
    """Class names from a list, an {index: name} dict (indices 0..n-1) or a string 'a,b' / '[a, b]'."""
    if names is None:
        return None
    if isinstance(names, str):
        return [n.strip().strip("'\"") for n in names.strip().strip("[]").split(",") if n.strip()]
    if isinstance(names, dict):
        return [str(names[k]) for k in sorted(names)]
    return [str(n) for n in names]


def place_image(src: Path, dst: Path) -> None:
    """Put image ``src`` at ``dst`` (replacing it): a hard link when ``src`` is writable, else a copy.

    Read-only sources (shared data sets) are always copied, so that nothing done to the output (Ultralytics
    rewrites corrupt JPEGs in place) can reach them through a shared inode. Copies also where linking fails.
    """
    dst.parent.mkdir(parents=True, exist_ok=True)
    if dst.exists() or dst.is_symlink():
        dst.unlink()
    if src.stat().st_mode & 0o222:
        try:
            os.link(src, dst)
            return
        except OSError:
            pass
    shutil.copyfile(src, dst)


def write_data_yaml(out_dir: str | Path, names: list[str]) -> Path:
    """Write ``out_dir/data.yaml`` for the splits present in ``out_dir/images``; without a val split, val = train."""
    root = Path(out_dir).resolve()
    data: dict = {"path": str(root)}
    found = sorted(p.name for p in (root / "images").iterdir() if p.is_dir()) if (root / "images").is_dir() else []
    for split in found:
        key = SPLIT_KEYS.get(split, split)
        if key not in data or split == key:
            data[key] = f"images/{split}"
    if "train" not in data and found:
        data["train"] = f"images/{found[0]}"
    if "val" not in data and "train" in data:
        data["val"] = data["train"]
    data["names"] = dict(enumerate(names))
    path = root / "data.yaml"
    YAML.save(path, data)
    return path


class _LabelWriter:
    """Turns pixel boxes into label lines for one image and updates the summary counts."""

    def __init__(self, summary: Summary):
        self.s = summary

    def line(self, cls: int, xyxy, width: int, height: int) -> str | None:
        """Label line for pixel corners ``xyxy`` in an image of ``width`` x ``height``; None (counted) if unusable."""
        try:
            box = np.array([float(v) for v in xyxy], dtype=np.float64).reshape(4)
        except (TypeError, ValueError):
            self.s.zero_area += 1
            return None
        if not np.isfinite(box).all() or box[2] <= box[0] or box[3] <= box[1]:
            self.s.zero_area += 1
            return None
        inside = box.copy()
        inside[[0, 2]] = inside[[0, 2]].clip(0, width)
        inside[[1, 3]] = inside[[1, 3]].clip(0, height)
        if inside[2] <= inside[0] or inside[3] <= inside[1]:
            self.s.zero_area += 1
            return None
        if not np.array_equal(inside, box):
            self.s.clipped += 1
        cx, cy, w, h = xyxy2xywhn(inside[None], w=width, h=height)[0].tolist()
        self.s.boxes += 1
        name = self.s.names[cls]
        self.s.per_class[name] = self.s.per_class.get(name, 0) + 1
        return f"{cls} {cx:.6f} {cy:.6f} {w:.6f} {h:.6f}\n"


def write_sample(s: Summary, src: Path, out_dir: Path, split: str, rel: Path, lines: list[str]) -> None:
    """Place image `src` at images/<split>/<rel> and its YOLO label lines at labels/<split>/<rel>.txt; count it."""
    place_image(src, out_dir / "images" / split / rel)
    label = (out_dir / "labels" / split / rel).with_suffix(".txt")
    label.parent.mkdir(parents=True, exist_ok=True)
    label.write_text("".join(lines))
    s.images += 1


def _finish(summary: Summary, out_dir: Path) -> Summary:
    summary.yaml = str(write_data_yaml(out_dir, summary.names))
    LOGGER.info(str(summary))
    return summary


def coco_to_yolo(json_path: str | Path, images_dir: str | Path, out_dir: str | Path, split: str = "train",
                 names: list[str] | dict | None = None) -> Summary:
    """Convert a COCO detection json to YOLO labels in ``out_dir`` (see module docstring for the layout).

    Args:
        json_path: COCO json with images (id, file_name, width, height), annotations (image_id, category_id,
            bbox [x, y, w, h] pixels) and categories (id, name). Category ids may start at 0 or 1.
        images_dir: folder the images' ``file_name`` are relative to.
        out_dir: output root. split: output split folder name.
        names: class names in YOLO index order; categories are matched to them by name. None: all categories
            of the json, in order of category id.

    Returns:
        Summary of counts (also logged).
    """
    json_path, images_dir, out_dir = Path(json_path), Path(images_dir), Path(out_dir)
    coco = json.loads(json_path.read_text(encoding="utf-8"))
    categories = sorted(coco.get("categories", []), key=lambda c: c["id"])
    names = _names_list(names) or [str(c["name"]) for c in categories]
    index = {n: i for i, n in enumerate(names)}
    cat_to_cls = {c["id"]: index[str(c["name"])] for c in categories if str(c["name"]) in index}
    s = Summary(names=names, split=split, per_class={n: 0 for n in names})
    writer = _LabelWriter(s)
    anns: dict = {}
    image_ids = {img["id"] for img in coco.get("images", [])}
    for a in coco.get("annotations", []):
        if a.get("image_id") not in image_ids:
            s.missing_image += 1
        else:
            anns.setdefault(a["image_id"], []).append(a)
    for img in coco.get("images", []):
        src = images_dir / img["file_name"]
        own = anns.get(img["id"], [])
        if not src.is_file():
            s.missing_file += 1
            s.missing_image += len(own)
            continue
        width, height = img.get("width"), img.get("height")
        if not width or not height:
            with Image.open(src) as im:
                width, height = im.size
        lines = []
        for a in own:
            if a.get("category_id") not in cat_to_cls:
                s.unknown_class += 1
            elif a.get("iscrowd", 0):
                s.crowd += 1
            else:
                bbox = a.get("bbox") or []
                xyxy = [bbox[0], bbox[1], bbox[0] + bbox[2], bbox[1] + bbox[3]] if len(bbox) == 4 else None
                line = writer.line(cat_to_cls[a["category_id"]], xyxy, width, height)
                if line:
                    lines.append(line)
        write_sample(s, src, out_dir, split, Path(img["file_name"]), lines)
    return _finish(s, out_dir)


def yolo_to_yolo(images_dir: str | Path, labels_dir: str | Path, out_dir: str | Path, names: list[str] | dict,
                 split: str = "train") -> Summary:
    """Copy a YOLO split into ``out_dir`` with clean box labels (the source folders are only read).

    Polygon (segment) rows become their bounding boxes (``polygons``); Ultralytics rejects label files mixing
    polygon and box rows, so this is needed for sets like rail-tracks. Coordinates outside 0..1 are clipped
    (``clipped``); class indices outside ``names`` are ``unknown_class``; rows with an odd number of coordinates
    or no area are ``zero_area``; label files without an image count as ``missing_file`` (their rows as
    ``missing_image``). Images without a label file get an empty one (background).
    """
    images_dir, labels_dir, out_dir = Path(images_dir), Path(labels_dir), Path(out_dir)
    names = _names_list(names)
    s = Summary(names=names, split=split, per_class={n: 0 for n in names})
    writer = _LabelWriter(s)
    images = {p.stem: p for p in sorted(images_dir.iterdir()) if p.suffix[1:].lower() in IMG_FORMATS}
    labels = {p.stem: p for p in sorted(labels_dir.glob("*.txt"))} if labels_dir.is_dir() else {}
    for stem in sorted(set(labels) - set(images)):
        s.missing_file += 1
        s.missing_image += sum(1 for r in labels[stem].read_text().splitlines() if r.strip())
    for stem, src in images.items():
        rows = labels[stem].read_text().splitlines() if stem in labels else []
        with Image.open(src) as im:
            width, height = im.size
        lines = []
        for row in rows:
            parts = row.split()
            if not parts:
                continue
            try:
                cls, xy = int(float(parts[0])), [float(v) for v in parts[1:]]
            except ValueError:
                s.zero_area += 1
                continue
            if not 0 <= cls < len(names):
                s.unknown_class += 1
                continue
            if len(xy) == 4:
                cx, cy, w, h = xy
                corners = [cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2]
            elif len(xy) >= 6 and len(xy) % 2 == 0:
                pts = np.array(xy).reshape(-1, 2)
                corners = [*pts.min(0).tolist(), *pts.max(0).tolist()]
            else:
                s.zero_area += 1
                continue
            line = writer.line(cls, [corners[0] * width, corners[1] * height, corners[2] * width, corners[3] * height],
                               width, height)
            if line:
                lines.append(line)
                s.polygons += len(xy) != 4
        write_sample(s, src, out_dir, split, Path(src.name), lines)
    return _finish(s, out_dir)
