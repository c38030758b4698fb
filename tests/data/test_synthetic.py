"""Synthetic generators: determinism, label/count consistency, class balance, fault visibility and speed."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from ultralytics.data.utils import check_det_dataset

from ext.data import GENERATORS, generate
from ext.data.synthetic import image_rng

NAMES = {name: g.names for name, g in GENERATORS.items()}
SIZE = {"fault-synth": (160, 160), "crash-synth": (160, 160), "fault-frames": (160, 117),
        "crash-sequence": (160, 160)}  # (width, height) at 160


def tree_hashes(root: Path) -> dict[str, str]:
    """sha256 of every image, label and COCO file under ``root`` (data.yaml holds the absolute path: left out)."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for sub in ("images", "labels", "annotations")
        for p in sorted((root / sub).rglob("*"))
        if p.is_file()
    }


def read_labels(root: Path, split: str) -> list[np.ndarray]:
    """Label arrays (n, 5) per label file of ``split``, in file order."""
    out = []
    for f in sorted((root / "labels" / split).glob("*.txt")):
        rows = [list(map(float, r.split())) for r in f.read_text().splitlines() if r.strip()]
        out.append(np.array(rows, dtype=np.float64).reshape(-1, 5))
    return out


@pytest.fixture(scope="module", params=sorted(GENERATORS))
def made(request, tmp_path_factory):
    """(name, output root, result) of a small data set per generator, seed 1."""
    root = tmp_path_factory.mktemp(request.param)
    return request.param, root, generate(request.param, root, 6, 3, imgsz=160, seed=1)


def test_registry():
    assert set(GENERATORS) == {"fault-synth", "crash-synth", "fault-frames", "crash-sequence"}
    with pytest.raises(KeyError, match="crash-synth"):
        generate("nope", "unused", 1, 1)


def test_same_seed_is_byte_identical(made, tmp_path):
    name, root, _ = made
    again = generate(name, tmp_path / "again", 6, 3, imgsz=160, seed=1)
    first = tree_hashes(root)
    assert len(first) == 6 + 3 + 6 + 3 + 2  # images, labels, two COCO files
    assert tree_hashes(tmp_path / "again") == first
    assert again["counts"] == made[2]["counts"]


def test_different_seed_differs(made, tmp_path):
    name, root, _ = made
    generate(name, tmp_path / "other", 6, 3, imgsz=160, seed=2)
    a, b = tree_hashes(root), tree_hashes(tmp_path / "other")
    assert a.keys() == b.keys()
    images = [k for k in a if k.startswith("images")]
    assert all(a[k] != b[k] for k in images)


def test_image_does_not_depend_on_set_size(made, tmp_path):
    name, root, _ = made
    generate(name, tmp_path / "small", 2, 0, imgsz=160, seed=1)
    for i in range(2):
        rel = Path("images/train") / f"{i:06d}.jpg"
        assert (tmp_path / "small" / rel).read_bytes() == (root / rel).read_bytes()


def test_layout_counts_and_boxes(made):
    name, root, result = made
    assert Path(result["yaml"]) == root / "data.yaml"
    data = check_det_dataset(result["yaml"])
    assert data["names"] == dict(enumerate(NAMES[name]))
    for split, n in (("train", 6), ("val", 3)):
        assert len(list((root / "images" / split).glob("*.jpg"))) == n
        labels = read_labels(root, split)
        assert len(labels) == n
        allrows = np.concatenate(labels)
        counted = {c: int((allrows[:, 0] == i).sum()) for i, c in enumerate(NAMES[name])}
        assert result["counts"][split] == counted
        xy = allrows[:, 1:]
        x1, y1 = xy[:, 0] - xy[:, 2] / 2, xy[:, 1] - xy[:, 3] / 2
        x2, y2 = xy[:, 0] + xy[:, 2] / 2, xy[:, 1] + xy[:, 3] / 2
        assert (x1 >= -1e-6).all() and (y1 >= -1e-6).all() and (x2 <= 1 + 1e-6).all() and (y2 <= 1 + 1e-6).all()
        assert (xy[:, 2] > 0).all() and (xy[:, 3] > 0).all()
        coco = json.loads((root / "annotations" / f"instances_{split}.json").read_text())
        assert [c["id"] for c in coco["categories"]] == list(range(1, len(NAMES[name]) + 1))  # 1-based ids
        assert len(coco["images"]) == n and len(coco["annotations"]) == len(allrows)
        w_, h_ = SIZE[name]
        for img in coco["images"]:
            assert (img["width"], img["height"]) == (w_, h_)
            assert (root / "images" / split / img["file_name"]).is_file()
        first = [a for a in coco["annotations"] if a["image_id"] == 1]
        rows = labels[0]
        assert len(first) == len(rows)
        for a, r in zip(first, rows):
            x, y, w, h = a["bbox"]
            assert a["category_id"] == r[0] + 1
            assert np.allclose([(x + w / 2) / w_, (y + h / 2) / h_, w / w_, h / h_], r[1:], atol=1e-3)


def test_point_dominates_crash_synth(tmp_path):
    counts = generate("crash-synth", tmp_path, 12, 0, imgsz=320, seed=0)["counts"]["train"]
    others = {k: v for k, v in counts.items() if k != "point"}
    assert counts["point"] >= 12 * 15
    assert counts["point"] > 10 * max(others.values())
    assert sum(others.values()) > 0


def test_train_settings_change_the_train_split_only(tmp_path):
    """No wall in any training image; the validation split byte-identical to the one made without train_settings."""
    plain = generate("crash-synth", tmp_path / "plain", 4, 4, imgsz=96, seed=3)
    tail = generate("crash-synth", tmp_path / "tail", 4, 4, imgsz=96, seed=3, train_settings={"p_wall": 0.0})
    assert plain["counts"]["train"].get("rw", 0) > 0 and tail["counts"]["train"].get("rw", 0) == 0
    assert tail["counts"]["val"] == plain["counts"]["val"]
    val = lambda root: {k: v for k, v in tree_hashes(root).items() if "val" in k}  # noqa: E731
    assert val(tmp_path / "tail") == val(tmp_path / "plain")
    with pytest.raises(TypeError, match="p_bogie"):  # the train split's settings are checked like the others
        generate("crash-synth", tmp_path / "bad", 1, 0, imgsz=64, train_settings={"p_bogey": 0.1})


def test_fault_synth_has_all_classes_faults_and_backgrounds(tmp_path):
    result = generate("fault-synth", tmp_path, 40, 0, imgsz=160, seed=0)
    assert all(v > 0 for v in result["counts"]["train"].values())
    labels = read_labels(tmp_path, "train")
    faulty = [bool(np.isin(r[:, 0], [1, 3, 5]).any()) for r in labels]
    assert any(faulty) and not all(faulty)  # some images without any fault


def test_settings(tmp_path):
    with pytest.raises(TypeError, match="p_fault"):
        generate("fault-synth", tmp_path, 1, 0, imgsz=64, nonsense=1)
    empty = generate("fault-synth", tmp_path / "bg", 3, 0, imgsz=96, p_background=1.0)
    assert sum(empty["counts"]["train"].values()) == 0
    assert all(f.read_text() == "" for f in (tmp_path / "bg" / "labels" / "train").glob("*.txt"))


def test_fault_states_look_different():
    """Bolt heads are bright where missing bolts show a dark hole; markers hold both black and white."""
    fault = GENERATORS["fault-synth"]
    cfg = fault.settings(noise=[0.0, 0.0], blur=[1.0, 1.0], lighting=0.0, p_clean=0.0, p_fault=0.5)
    centre = {2: [], 3: []}
    for i in range(30):
        img, boxes, _ = fault.render(image_rng(5, "train", i), 320, cfg)
        for b in boxes:
            if b.cls in centre:
                cx, cy = int((b.x1 + b.x2) / 2), int((b.y1 + b.y2) / 2)
                centre[b.cls].append(float(img[cy - 1:cy + 2, cx - 1:cx + 2].mean()))
    assert centre[2] and centre[3]
    assert min(centre[2]) > max(centre[3])
    crash = GENERATORS["crash-synth"]
    cfg = crash.settings(noise=[0.0, 0.0], blur=[1.0, 1.0], lighting=0.0, debris=[0, 0])
    img, boxes, _ = crash.render(image_rng(0, "train", 0), 640, cfg)
    grey = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
    points = [b for b in boxes if b.cls == 0]
    assert len(points) >= 20
    for b in points:
        patch = grey[int(b.y1):int(np.ceil(b.y2)), int(b.x1):int(np.ceil(b.x2))]
        assert patch.min() < 80 and patch.max() > 180


def test_fault_frames_are_large_with_small_parts(tmp_path):
    """fault-frames: 1400 x 1024 frames whose bolts and cotter pins keep their 640 px size (about 20-50 px)."""
    out = generate("fault-frames", tmp_path / "frames", 0, 3, imgsz=1400, seed=0)
    root = Path(out["yaml"]).parent
    for img in sorted((root / "images" / "val").glob("*.jpg")):
        assert cv2.imread(str(img)).shape == (1024, 1400, 3)
    sides = []
    for f in (root / "labels" / "val").glob("*.txt"):
        for line in f.read_text().splitlines():
            c, _, _, w, h = map(float, line.split())
            if int(c) in (2, 3, 4, 5):  # bolts and cotter pins, normal or missing
                sides.append(max(w * 1400, h * 1024))
    assert len(sides) >= 10 and 15 < min(sides) and max(sides) < 70, sides
