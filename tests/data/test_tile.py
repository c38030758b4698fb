"""`fdet data tile`: tiles and their boxes against hand-computed ones (kept, clipped, dropped, polygons, empties)."""

import cv2
import numpy as np
import pytest
import yaml

from ext.data import tile_dataset


@pytest.fixture
def frames(tmp_path):
    """One 128x128 image: box A inside tile (0, 0); box B across x = 64 (35 % left, 65 % right); polygon C in the
    bottom-right tile. Returns the data YAML."""
    root = tmp_path / "src"
    (root / "images" / "train").mkdir(parents=True)
    (root / "labels" / "train").mkdir(parents=True)
    cv2.imwrite(str(root / "images" / "train" / "f.png"), np.random.default_rng(0).integers(0, 255, (128, 128, 3),
                                                                                              dtype=np.uint8))
    rows = ["0 0.15625 0.15625 0.15625 0.15625",  # A: [10, 10, 30, 30] px
            "1 0.546875 0.15625 0.3125 0.15625",  # B: [50, 10, 90, 30] px
            "1 0.78125 0.78125 0.9375 0.78125 0.9375 0.859375"]  # C: triangle, box [100, 100, 120, 110] px
    (root / "labels" / "train" / "f.txt").write_text("\n".join(rows) + "\n")
    data = root / "data.yaml"
    data.write_text(yaml.safe_dump({"path": str(root), "train": "images/train", "val": "images/train",
                                    "names": {0: "pin", 1: "bolt"}}))
    return data


def labels(out, name):
    return np.loadtxt(out / "labels" / "train" / f"{name}.txt", ndmin=2) * [1, 64, 64, 64, 64]


def test_tiles_boxes_and_counts(frames, tmp_path):
    out = tmp_path / "tiles"
    s = tile_dataset(str(frames), out, size=64, overlap=0.0, splits=["train"])
    assert sorted(p.stem for p in (out / "images" / "train").glob("*.jpg")) == ["f_0_0", "f_0_64", "f_64_0", "f_64_64"]
    assert cv2.imread(str(out / "images" / "train" / "f_64_0.jpg")).shape == (64, 64, 3)
    np.testing.assert_allclose(labels(out, "f_0_0"), [[0, 20, 20, 20, 20]], atol=1e-3)  # A; B's 35 % dropped
    np.testing.assert_allclose(labels(out, "f_64_0"), [[1, 13, 20, 26, 20]], atol=1e-3)  # B clipped to [0, 10, 26, 30]
    np.testing.assert_allclose(labels(out, "f_64_64"), [[1, 46, 41, 20, 10]], atol=1e-3)  # C boxed: [36, 36, 56, 46]
    assert (out / "labels" / "train" / "f_0_64.txt").read_text() == ""
    assert (s.images, s.tiles, s.empty_tiles, s.boxes, s.clipped, s.dropped) == (1, 4, 1, 3, 1, 1)
    assert yaml.safe_load((out / "data.yaml").read_text())["names"] == {0: "pin", 1: "bolt"}
    assert "4 tiles" in str(s) and "1 box parts dropped" in str(s)


def test_min_visible_keeps_slivers_when_asked(frames, tmp_path):
    s = tile_dataset(str(frames), tmp_path / "t", size=64, overlap=0.0, min_visible=0.3, splits=["train"])
    assert (s.boxes, s.clipped, s.dropped) == (4, 2, 0)


def test_bad_settings_and_cli(frames, tmp_path):
    from ext.cli import main

    with pytest.raises(ValueError, match="overlap=1.5"):
        tile_dataset(str(frames), tmp_path / "t", overlap=1.5)
    assert main(["data", "tile", f"data={frames}", f"out={tmp_path / 'cli'}", "size=64", "overlap=0",
                 "splits=train"]) == 0
    assert len(list((tmp_path / "cli" / "images" / "train").glob("*.jpg"))) == 4
    assert main(["data", "tile", f"data={frames}", f"out={tmp_path / 'cli'}", "sise=64"]) == 2
