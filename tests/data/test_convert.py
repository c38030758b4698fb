"""COCO / VOC / YOLO converters on the real shared data sets, with deliberately bad annotations."""

from __future__ import annotations

import json
import shutil
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from ultralytics.data.utils import check_det_dataset

from ext.data import Summary, coco_to_yolo, generate, voc_to_yolo, yolo_to_yolo

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "datasets"
TFDS = DATA / "tfds-undercarriage"
RAIL = DATA / "rail-tracks"
needs_tfds = pytest.mark.skipif(not TFDS.is_dir(), reason=f"real VOC data set not found at {TFDS} (../shared/datasets)")
needs_rail = pytest.mark.skipif(not RAIL.is_dir(),
                                reason=f"real YOLO data set not found at {RAIL} (../shared/datasets)")


def voc_counts(xml_dir: Path) -> tuple[int, Counter]:
    """(number of XML files, boxes per class name) counted straight from the XML."""
    files = sorted(xml_dir.glob("*.xml"))
    names = Counter(o.findtext("name").strip() for f in files for o in ET.parse(f).getroot().iter("object"))
    return len(files), names


def label_rows(root: Path, split: str) -> np.ndarray:
    rows = [list(map(float, r.split())) for f in sorted((root / "labels" / split).glob("*.txt"))
            for r in f.read_text().splitlines() if r.strip()]
    return np.array(rows, dtype=np.float64).reshape(-1, 5)


@needs_tfds
@pytest.mark.parametrize("branch, n_images, n_boxes", [("branch1", 4, 9), ("branch2", 8, 34)])
def test_voc_real(branch, n_images, n_boxes, tmp_path):
    xml_dir, img_dir = TFDS / branch / "Annotations", TFDS / branch / "JPEGImages"
    n_xml, expected = voc_counts(xml_dir)
    s = voc_to_yolo(xml_dir, img_dir, tmp_path, None, split="train")
    assert isinstance(s, Summary)
    assert (s.images, s.boxes) == (n_images, n_boxes) == (n_xml, sum(expected.values()))
    assert s.names == sorted(expected)  # names=None: sorted names found in the files
    assert s.per_class == dict(expected)
    assert s.clipped == s.zero_area == s.unknown_class == s.missing_image == s.missing_file == 0
    rows = label_rows(tmp_path, "train")
    assert len(rows) == n_boxes
    assert Counter(s.names[int(c)] for c in rows[:, 0]) == expected
    assert len(list((tmp_path / "images" / "train").iterdir())) == n_images
    assert "images" in str(s) and f"{n_boxes} boxes" in str(s)
    data = check_det_dataset(s.yaml)
    assert data["nc"] == len(expected)


@needs_tfds
def test_voc_both_branches_known_numbers(tmp_path):
    """Both branches into one set with the catalog's 14 names: 12 images, 43 boxes, real per-class counts."""
    names = ["flange", "dust_collector", "bearing", "group", "l_plate", "b_plate", "fixator", "spring",
             "Bolt", "Nut_s", "Nut_f", "Screw_s", "Screw_f", "Plug"]
    total = Counter()
    for branch in ("branch1", "branch2"):
        s = voc_to_yolo(TFDS / branch / "Annotations", TFDS / branch / "JPEGImages", tmp_path, names, "train")
        total.update(s.per_class)
    assert sum(total.values()) == 43
    assert total["Bolt"] == 7 and total["Nut_s"] == 8 and total["l_plate"] == 2 and total["Plug"] == 1
    assert len(list((tmp_path / "labels" / "train").glob("*.txt"))) == 12


@needs_tfds
def test_voc_bad_annotations(tmp_path):
    """Unknown class, box partly outside, zero-area box, and an XML whose image is missing: each counted."""
    src = TFDS / "branch2"
    xml_dir, img_dir = tmp_path / "xml", tmp_path / "img"
    xml_dir.mkdir()
    img_dir.mkdir()
    stem = "sample1_dust_collector_1"  # 205 x 228 px, two Bolt boxes
    shutil.copy(src / "JPEGImages" / f"{stem}.jpg", img_dir)
    tree = ET.parse(src / "Annotations" / f"{stem}.xml")
    root = tree.getroot()

    def add(name, box):
        obj = ET.SubElement(root, "object")
        ET.SubElement(obj, "name").text = name
        bnd = ET.SubElement(obj, "bndbox")
        for k, v in zip(("xmin", "ymin", "xmax", "ymax"), box):
            ET.SubElement(bnd, k).text = str(v)

    add("Bolt", (190, 200, 260, 300))  # partly outside: clipped
    add("Bolt", (50, 50, 50, 80))  # zero width
    add("Bolt", (300, 300, 350, 350))  # entirely outside: no area after clipping
    add("Wheel", (10, 10, 30, 30))  # not in names
    tree.write(xml_dir / f"{stem}.xml")
    root.find("filename").text = "gone.jpg"
    tree.write(xml_dir / "no_image.xml")  # neither no_image.* nor gone.jpg exists: its 6 boxes are skipped
    s = voc_to_yolo(xml_dir, img_dir, tmp_path / "out", ["Bolt"], split="val")
    assert (s.images, s.boxes, s.clipped, s.zero_area, s.unknown_class) == (1, 3, 1, 2, 1)
    assert (s.missing_file, s.missing_image) == (1, 6)
    rows = label_rows(tmp_path / "out", "val")
    corners = np.concatenate([rows[:, 1:3] - rows[:, 3:] / 2, rows[:, 1:3] + rows[:, 3:] / 2], 1)
    assert corners.min() >= 0 and corners.max() <= 1 + 1e-6


def rail_coco(split_dir: Path) -> tuple[dict, Counter, int]:
    """COCO json (category ids 1-based) from a YOLO split; polygon rows become their bounding boxes.

    Returns (json dict, boxes per class name, number of polygon rows).
    """
    names = ["Clips", "Sleepers"]
    coco = {"images": [], "annotations": [], "categories": [{"id": i + 1, "name": n} for i, n in enumerate(names)]}
    counts, polygons = Counter(), 0
    for k, img in enumerate(sorted((split_dir / "images").glob("*.jpg")), 1):
        w, h = Image.open(img).size
        coco["images"].append({"id": k, "file_name": img.name, "width": w, "height": h})
        for row in (split_dir / "labels" / f"{img.stem}.txt").read_text().splitlines():
            v = [float(x) for x in row.split()]
            if not v:
                continue
            if len(v) == 5:
                x1, y1, x2, y2 = v[1] - v[3] / 2, v[2] - v[4] / 2, v[1] + v[3] / 2, v[2] + v[4] / 2
            else:
                pts = np.array(v[1:]).reshape(-1, 2)
                (x1, y1), (x2, y2) = pts.min(0), pts.max(0)
                polygons += 1
            box = [x1 * w, y1 * h, (x2 - x1) * w, (y2 - y1) * h]
            coco["annotations"].append({"id": len(coco["annotations"]) + 1, "image_id": k,
                                        "category_id": int(v[0]) + 1, "bbox": box, "iscrowd": 0})
            counts[names[int(v[0])]] += 1
    return coco, counts, polygons


@needs_rail
def test_coco_real_with_bad_entries(tmp_path):
    coco, expected, polygons = rail_coco(RAIL / "train")
    n_images, n_good = len(coco["images"]), len(coco["annotations"])
    assert n_images == 46 and polygons > 0
    assert sum(expected.values()) == n_good == 702 and expected == Counter(Clips=561, Sleepers=141)

    def ann(image_id, cat, box):
        coco["annotations"].append({"id": len(coco["annotations"]) + 1, "image_id": image_id, "category_id": cat,
                                    "bbox": box, "iscrowd": 0})

    ann(1, 1, [600.0, 600.0, 100.0, 100.0])  # partly outside the 640x640 image: clipped, kept
    ann(1, 1, [100.0, 100.0, 0.0, 20.0])  # zero area
    ann(2, 99, [10.0, 10.0, 20.0, 20.0])  # unknown category id
    ann(9999, 1, [10.0, 10.0, 20.0, 20.0])  # image id not in the json
    coco["images"].append({"id": 500, "file_name": "not_there.jpg", "width": 640, "height": 640})
    ann(500, 2, [10.0, 10.0, 20.0, 20.0])  # image file missing on disk
    json_path = tmp_path / "train.json"
    json_path.write_text(json.dumps(coco))

    s = coco_to_yolo(json_path, RAIL / "train" / "images", tmp_path / "out", split="train")
    assert s.names == ["Clips", "Sleepers"]
    assert s.images == n_images and s.boxes == n_good + 1
    assert (s.clipped, s.zero_area, s.unknown_class, s.missing_image, s.missing_file) == (1, 1, 1, 2, 1)
    assert s.per_class == {"Clips": expected["Clips"] + 1, "Sleepers": expected["Sleepers"]}
    rows = label_rows(tmp_path / "out", "train")
    assert len(rows) == s.boxes
    corners = np.concatenate([rows[:, 1:3] - rows[:, 3:] / 2, rows[:, 1:3] + rows[:, 3:] / 2], 1)
    assert corners.min() >= -1e-6 and corners.max() <= 1 + 1e-6
    data = check_det_dataset(s.yaml)
    assert data["names"] == {0: "Clips", 1: "Sleepers"}
    assert Path(data["val"]) == Path(data["train"])  # no val split converted: val falls back to train

    # names given: categories are matched by name, so the order may differ from the category ids
    s2 = coco_to_yolo(json_path, RAIL / "train" / "images", tmp_path / "named", names=["Sleepers", "Clips"])
    assert s2.per_class == {"Sleepers": expected["Sleepers"], "Clips": expected["Clips"] + 1}
    assert int((label_rows(tmp_path / "named", "train")[:, 0] == 0).sum()) == expected["Sleepers"]


@needs_rail
def test_yolo_to_yolo_boxes_polygons(tmp_path):
    s = yolo_to_yolo(RAIL / "valid" / "images", RAIL / "valid" / "labels", tmp_path, ["Clips", "Sleepers"], "val")
    _, expected, polygons = rail_coco(RAIL / "valid")
    assert (s.images, s.boxes, s.polygons) == (15, sum(expected.values()), polygons)
    assert s.per_class == dict(expected)
    assert all(len(r.split()) == 5 for f in (tmp_path / "labels" / "val").glob("*.txt")
               for r in f.read_text().splitlines())


def test_coco_round_trip_synthetic(tmp_path):
    """The generator's COCO json converts back to the generator's YOLO labels."""
    generate("fault-synth", tmp_path / "gen", 5, 0, imgsz=96, seed=3)
    s = coco_to_yolo(tmp_path / "gen" / "annotations" / "instances_train.json", tmp_path / "gen" / "images" / "train",
                     tmp_path / "back", split="train")
    assert s.images == 5 and s.zero_area == s.unknown_class == 0
    assert np.allclose(label_rows(tmp_path / "back", "train"), label_rows(tmp_path / "gen", "train"), atol=1e-4)
