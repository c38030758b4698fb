"""The recipes of `fdet data` (list, prepare, convert, tile), with the tiny VOC / COCO inputs `data convert` reads."""

from __future__ import annotations

import json
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from readme_commands import REPO
from tiny_env import data_yaml, inside, keys_of, label_rows, labels_of


def fdet_data_list(words, env):
    from ultralytics.utils import YAML

    _, out = env.fdet(words)
    listed = {line.split()[0] for line in out.splitlines() if line.strip()}
    assert set(YAML.load(REPO / "datasets.yaml")) <= listed


def fdet_data_prepare(words, env):
    from ultralytics.utils import YAML

    words = env.scaled(words, "data prepare")
    name = keys_of(words)["name"]
    _, out = env.fdet(words)
    yaml_file = Path(out.strip().splitlines()[-1])
    assert yaml_file.is_file() and inside(yaml_file, env.request.getfixturevalue("dataset_cache"))
    d, entry = YAML.load(yaml_file), YAML.load(REPO / "datasets.yaml")[name]
    for split, n in (("train", entry["n_train"]), ("val", entry["n_val"])):
        assert len(list((Path(d["path"]) / d[split]).glob("*.*"))) == n
    assert list(d["names"].values()) == entry["names"]


def copied(images: list[Path], img_dir: Path):
    """Copy `images` into `img_dir`, yielding each image with its YOLO label rows (class, x, y, w, h)."""
    img_dir.mkdir(parents=True, exist_ok=True)
    for img in images:
        shutil.copy(img, img_dir / img.name)
        yield img, label_rows(labels_of(img.parent) / f"{img.stem}.txt")


def write_voc(ann_dir: Path, img_dir: Path, images: list[Path], names: dict) -> int:
    """Pascal VOC XML for `images` (boxes from their YOLO labels); returns the number of boxes."""
    n = 0
    ann_dir.mkdir(parents=True, exist_ok=True)
    for img, rows in copied(images, img_dir):
        root = ET.Element("annotation")
        ET.SubElement(root, "filename").text = img.name
        size = ET.SubElement(root, "size")
        for k, v in (("width", 64), ("height", 64), ("depth", 3)):
            ET.SubElement(size, k).text = str(v)
        for c, x, y, w, h in rows:
            obj = ET.SubElement(root, "object")
            ET.SubElement(obj, "name").text = names[int(c)]
            box = ET.SubElement(obj, "bndbox")
            for k, v in (("xmin", x - w / 2), ("ymin", y - h / 2), ("xmax", x + w / 2), ("ymax", y + h / 2)):
                ET.SubElement(box, k).text = str(round(v * 64, 2))
            n += 1
        ET.ElementTree(root).write(ann_dir / f"{img.stem}.xml")
    return n


def write_coco(json_file: Path, img_dir: Path, images: list[Path], names: dict) -> int:
    """A COCO detection json for `images` (boxes from their YOLO labels); returns the number of boxes."""
    coco = {"images": [], "annotations": [], "categories": [{"id": i + 1, "name": n} for i, n in names.items()]}
    for i, (img, rows) in enumerate(copied(images, img_dir)):
        coco["images"].append({"id": i, "file_name": img.name, "width": 64, "height": 64})
        for c, x, y, w, h in rows:
            coco["annotations"].append({"id": len(coco["annotations"]), "image_id": i, "category_id": int(c) + 1,
                                        "bbox": [(x - w / 2) * 64, (y - h / 2) * 64, w * 64, h * 64], "iscrowd": 0})
    json_file.parent.mkdir(parents=True, exist_ok=True)
    json_file.write_text(json.dumps(coco))
    return len(coco["annotations"])


def fdet_data_convert(words, env):
    from ultralytics.utils import YAML

    keys = keys_of(words)
    names = data_yaml("fault-synth-tiny")["names"]
    images = env.images(2)
    writer = {"voc": write_voc, "coco": write_coco}.get(keys["format"])
    if writer is None:
        pytest.fail(f"no tiny input for 'fdet data convert format={keys['format']}' in {Path(__file__).name}")
    boxes = writer(env.tmp / keys["source"], env.tmp / keys["images"], images, names)
    assert boxes > 0
    env.fdet(words)
    root, split = env.tmp / keys["out"], keys.get("split", "train")
    assert sorted(p.name for p in (root / "images" / split).iterdir()) == [p.name for p in images]
    labels = sorted((root / "labels" / split).glob("*.txt"))
    assert [p.stem for p in labels] == [p.stem for p in images]
    assert sum(len(label_rows(p)) for p in labels) == boxes
    written = YAML.load(root / "data.yaml")["names"]
    assert set((written.values() if isinstance(written, dict) else written)) <= set(names.values())


def fdet_data_tile(words, env):
    from ultralytics.utils import YAML

    words = env.scaled(words, "data tile")
    keys = keys_of(words)
    src = data_yaml(keys["data"])
    env.fdet(words)
    root = env.tmp / keys["out"]
    assert (root / "data.yaml").is_file() and YAML.load(root / "data.yaml")["names"] == src["names"]
    for split in ("train", "val"):
        tiles = sorted((root / "images" / split).iterdir())
        assert len(tiles) > len(list(src[split].glob("*.jpg")))  # 64 px images, 32 px tiles: several per image
        assert [p.stem for p in sorted((root / "labels" / split).glob("*.txt"))] == [p.stem for p in tiles]
