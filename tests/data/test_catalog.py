"""The datasets.yaml catalog and resolve_data: preparation into a temporary cache, re-use, errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from ultralytics.data.utils import check_det_dataset

import ext
from ext.data import GENERATORS, load_catalog, resolve_data
from ext.data import catalog as cat

REPO = Path(__file__).resolve().parents[2]
DATA = REPO.parent / "shared" / "datasets"


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """A fresh cache folder set through EXT_DATASETS_DIR."""
    monkeypatch.setenv("EXT_DATASETS_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_catalog_file_and_entries():
    assert cat.catalog_path() == Path(ext.__file__).resolve().parents[1] / "datasets.yaml"
    catalog = load_catalog()
    assert {"fault-synth", "crash-synth", "fault-synth-tiny", "crash-synth-tiny", "rail-tracks",
            "tfds-undercarriage"} <= set(catalog)
    for name, entry in catalog.items():
        if entry["format"] == "synthetic":
            assert entry["names"] == GENERATORS[entry["generator"]].names, name
    assert catalog["fault-synth-tiny"]["n_train"] == 8 and catalog["fault-synth-tiny"]["imgsz"] == 64
    assert catalog["rail-tracks"]["names"] == ["Clips", "Sleepers"]


def test_long_tailed_crash_set_is_rare_in_training_only():
    """crash-synth-lt: each rare part's chance is several times lower in the train split than in the validation split
    (the generator's defaults), so ~500 training images hold 5-30 of each (counts: datasets.yaml)."""
    entry = load_catalog()["crash-synth-lt"]
    gen = GENERATORS[entry["generator"]]
    train, val = gen.settings(**entry["train_settings"]), gen.settings(**(entry.get("settings") or {}))
    assert val == gen.defaults and entry["n_train"] >= 500 and entry["n_val"] >= 100
    for key in ("p_bogie", "p_wall", "p_absorber"):
        assert train[key] * 4 < val[key]
    expected_walls = entry["n_train"] * train["p_wall"]
    assert 5 <= expected_walls <= 30


def test_synthetic_prepared_once(cache):
    path = resolve_data("fault-synth-tiny")
    assert Path(path).is_file() and cache in Path(path).parents
    data = check_det_dataset(path)
    assert data["nc"] == 6 and len(list(Path(data["train"]).glob("*.jpg"))) == 8
    assert len(list(Path(data["val"]).glob("*.jpg"))) == 4
    stamp = (Path(path).parent / ".ready").stat().st_mtime_ns
    assert resolve_data("fault-synth-tiny") == path  # re-used, not regenerated
    assert (Path(path).parent / ".ready").stat().st_mtime_ns == stamp


def test_changed_settings_prepare_new_folder(cache):
    entry = load_catalog()["crash-synth-tiny"]
    first = cat.prepare("crash-synth-tiny", entry)
    second = cat.prepare("crash-synth-tiny", {**entry, "seed": 7})
    assert first.parent != second.parent and first.is_file() and second.is_file()
    assert cat.prepare("crash-synth-tiny", dict(entry)) == first


def test_cache_dir_argument_wins(cache, tmp_path):
    path = resolve_data("crash-synth-tiny", cache_dir=tmp_path / "other")
    assert (tmp_path / "other") in Path(path).parents


def test_cache_inside_repo_refused(tmp_path):
    if not (REPO / ".git").exists():
        pytest.skip("not a source checkout")
    with pytest.raises(ValueError, match="inside the source tree"):
        resolve_data("fault-synth-tiny", cache_dir=REPO / "some-cache")


def test_passthrough(cache, tmp_path):
    own = tmp_path / "mine.yaml"
    own.write_text("path: .\ntrain: a\nval: a\nnames: {0: x}\n")
    assert resolve_data(str(own)) == str(own)
    assert resolve_data(own) == own
    assert resolve_data("coco8.yaml") == "coco8.yaml"  # Ultralytics resolves its own names
    assert resolve_data("coco8") == "coco8"
    assert resolve_data(None) is None
    assert not cache.exists()  # nothing prepared


def test_unknown_name_suggests_closest(cache):
    with pytest.raises(FileNotFoundError) as err:
        resolve_data("fault-synht")
    msg = str(err.value)
    assert "Closest catalog name: 'fault-synth'" in msg
    assert all(n in msg for n in ("crash-synth", "rail-tracks", "tfds-undercarriage"))


def test_missing_source_folder(cache, tmp_path, monkeypatch):
    catalog = tmp_path / "datasets.yaml"
    catalog.write_text(yaml.safe_dump({"gone": {"format": "voc", "path": "no/such/folder", "names": ["a"]}}))
    monkeypatch.setattr(cat, "catalog_path", lambda: catalog)
    with pytest.raises(FileNotFoundError, match=str(tmp_path / "no" / "such" / "folder")):
        resolve_data("gone")


@pytest.mark.skipif(not (DATA / "rail-tracks").is_dir(), reason=f"rail-tracks not found in {DATA}")
def test_rail_tracks(cache):
    before = sorted(p.name for p in (DATA / "rail-tracks").rglob("*"))
    path = resolve_data("rail-tracks")
    raw = yaml.safe_load(Path(path).read_text())
    assert Path(raw["path"]).is_absolute() and raw["names"] == {0: "Clips", 1: "Sleepers"}
    data = check_det_dataset(path)
    for split, n in (("train", 46), ("val", 15), ("test", 5)):
        assert len(list(Path(data[split]).glob("*.jpg"))) == n
        assert len(list((Path(raw["path"]) / "labels" / split).glob("*.txt"))) == n
    assert sorted(p.name for p in (DATA / "rail-tracks").rglob("*")) == before  # source untouched


@pytest.mark.skipif(not (DATA / "tfds-undercarriage").is_dir(), reason=f"tfds-undercarriage not found in {DATA}")
def test_tfds_undercarriage(cache):
    data = check_det_dataset(resolve_data("tfds-undercarriage"))
    assert data["nc"] == 14
    labels = Path(data["path"]) / "labels" / "train"
    assert len(list(labels.glob("*.txt"))) == 12
    assert sum(len(f.read_text().splitlines()) for f in labels.glob("*.txt")) == 43
