"""Pascal VOC XML to Ultralytics' YOLO layout, with the converters' counting `Summary` (see `convert.py`).

VOC ``bndbox`` corners are used as given (xmin, ymin, xmax, ymax in pixels, no 1-based shift); image sizes come
from the image file itself, not the XML.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from PIL import Image
from ultralytics.data.utils import IMG_FORMATS

from .convert import Summary, _finish, _LabelWriter, _names_list, write_sample


def _voc_objects(root: ET.Element) -> list[tuple[str, list]]:
    """(class name, [xmin, ymin, xmax, ymax] strings or None) per <object> of a VOC annotation."""
    objects = []
    for obj in root.iter("object"):
        name = (obj.findtext("name") or "").strip()
        bnd = obj.find("bndbox")
        xyxy = None if bnd is None else [bnd.findtext(k) for k in ("xmin", "ymin", "xmax", "ymax")]
        objects.append((name, xyxy))
    return objects


def collect_voc_names(xml_dirs: list[str | Path]) -> list[str]:
    """Sorted class names found in all ``*.xml`` of ``xml_dirs``."""
    found = set()
    for d in xml_dirs:
        for f in sorted(Path(d).glob("*.xml")):
            found.update(n for n, _ in _voc_objects(ET.parse(f).getroot()) if n)
    return sorted(found)


def _voc_image(xml_file: Path, root: ET.Element, images_dir: Path) -> Path | None:
    """Image of a VOC annotation: same stem as the XML in ``images_dir``, else its <filename>; None if absent."""
    for suffix in sorted(IMG_FORMATS):
        for cand in (images_dir / f"{xml_file.stem}.{suffix}", images_dir / f"{xml_file.stem}.{suffix.upper()}"):
            if cand.is_file():
                return cand
    filename = (root.findtext("filename") or "").strip()
    if filename and (images_dir / filename).is_file():
        return images_dir / filename
    return None


def voc_to_yolo(xml_dir: str | Path, images_dir: str | Path, out_dir: str | Path,
                names: list[str] | dict | None = None, split: str = "train") -> Summary:
    """Convert Pascal VOC XML files (``xml_dir/*.xml``) to YOLO labels in ``out_dir`` (see module docstring).

    Args:
        xml_dir: folder of VOC annotation files.
        images_dir: folder of the images; an annotation's image is the file with the XML's stem (any image
            suffix), else the file named by its <filename>.
        out_dir: output root.
        names: class names in YOLO index order; other names are skipped and counted. None: the sorted names
            found in ``xml_dir``.
        split: output split folder name.

    Returns:
        Summary of counts (also logged).
    """
    xml_dir, images_dir, out_dir = Path(xml_dir), Path(images_dir), Path(out_dir)
    names = _names_list(names) or collect_voc_names([xml_dir])
    index = {n: i for i, n in enumerate(names)}
    s = Summary(names=names, split=split, per_class={n: 0 for n in names})
    writer = _LabelWriter(s)
    for xml_file in sorted(xml_dir.glob("*.xml")):
        root = ET.parse(xml_file).getroot()
        objects = _voc_objects(root)
        src = _voc_image(xml_file, root, images_dir)
        if src is None:
            s.missing_file += 1
            s.missing_image += len(objects)
            continue
        with Image.open(src) as im:
            width, height = im.size
        lines = []
        for name, xyxy in objects:
            if name not in index:
                s.unknown_class += 1
                continue
            line = writer.line(index[name], xyxy, width, height)
            if line:
                lines.append(line)
        write_sample(s, src, out_dir, split, Path(src.name), lines)
    return _finish(s, out_dir)
