"""The data set catalog (``datasets.yaml``) and ``resolve_data``, which turns a catalog name into a data YAML.

A catalog entry is prepared once into the cache folder and re-used afterwards:

- cache root: the ``cache_dir`` argument, else the ``EXT_DATASETS_DIR`` environment variable, else
  ``~/.cache/ext-datasets``; never inside the source tree (refused with ValueError);
- each entry goes to ``<cache root>/<name>-<key>/`` where ``key`` hashes the entry's settings and its resolved
  source folder, so changed settings prepare a new folder; a ``.ready`` file marks a finished preparation and a
  lock file serialises concurrent preparations of the same entry.

Entry formats (relative paths are relative to the folder holding the catalog file, after following symlinks,
i.e. the repository root for the repository's ``datasets.yaml``):

- ``synthetic``: ``generator``, ``n_train``, ``n_val``, ``imgsz``, ``seed``, optional ``settings`` (generator
  overrides), ``train_settings`` (overrides of the train split only) and ``names`` (checked against the generator's).
- ``yolo``: ``path`` and ``splits`` {train/val/test: image folder relative to path, labels beside it as
  Ultralytics expects}, ``names``; images are hard-linked into the cache and labels rewritten as boxes (polygon
  rows boxed), so Ultralytics writes its label caches there and never into the source.
- ``voc``: ``path``, ``splits`` {split: [sub-folder, ...]}, each sub-folder holding ``annotations`` (default
  ``Annotations``) and ``images`` (default ``JPEGImages``); optional ``names`` (else collected, sorted).
- ``coco``: ``path``, ``splits`` {split: {json: file, images: folder}}; optional ``names``.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import os
import shutil
from pathlib import Path

from ultralytics.utils import LOGGER, ROOT, YAML

from ..paths import REPO_DIR, cfg_dir
from .convert import coco_to_yolo, yolo_to_yolo
from .generators import GENERATORS, generate
from .voc import collect_voc_names, voc_to_yolo

try:
    import fcntl
except ImportError:  # no file locks on this platform (Windows): concurrent preparation is not guarded
    fcntl = None

ENV_VAR = "EXT_DATASETS_DIR"
DEFAULT_CACHE = Path("~/.cache/ext-datasets")
FORMATS = ("synthetic", "yolo", "coco", "voc")
PREP_VERSION = 2  # bump when preparation changes, so old cache folders are not re-used


def catalog_path() -> Path:
    """The catalog file, `datasets.yaml` in the configuration folder (`ext.paths.cfg_dir`; in a source tree a link to
    the repository root's, so that relative paths in it start from the root)."""
    p = cfg_dir() / "datasets.yaml"
    if not p.is_file():
        raise FileNotFoundError(f"datasets.yaml not found in {p.parent}")
    return p.resolve()


def load_catalog(path: str | Path | None = None) -> dict:
    """Read the catalog: {name: entry dict}. Each entry gains ``_base``, the folder relative paths start from.

    Raises ValueError for an entry without a known ``format``.
    """
    path = Path(path) if path else catalog_path()
    raw = YAML.load(path)
    base = str(path.resolve().parent)
    catalog = {}
    for name, entry in raw.items():
        if not isinstance(entry, dict) or entry.get("format") not in FORMATS:
            raise ValueError(f"{path}: entry '{name}' needs 'format' in {FORMATS}, got {entry!r}")
        catalog[str(name)] = {**entry, "_base": base}
    return catalog


def cache_root(cache_dir: str | Path | None = None) -> Path:
    """Cache root from the argument, ``EXT_DATASETS_DIR`` or ``~/.cache/ext-datasets``; refuses the source tree."""
    root = Path(cache_dir or os.environ.get(ENV_VAR) or DEFAULT_CACHE).expanduser().resolve()
    if (REPO_DIR / ".git").exists() and (root == REPO_DIR or REPO_DIR in root.parents):
        raise ValueError(f"data set cache {root} is inside the source tree {REPO_DIR}; choose a folder outside it")
    return root


def _source(name: str, entry: dict) -> Path:
    """Resolved source folder of a non-synthetic entry; FileNotFoundError naming it when absent."""
    if "path" not in entry:
        raise ValueError(f"catalog entry '{name}' ({entry['format']}) needs a 'path'")
    src = (Path(entry["_base"]) / Path(entry["path"]).expanduser()).resolve()
    if not src.is_dir():
        raise FileNotFoundError(f"catalog entry '{name}': source folder {src} not found (path: {entry['path']})")
    return src


def entry_key(name: str, entry: dict) -> str:
    """Short hash of an entry's settings, its resolved source folder and the preparation version."""
    settings = {k: v for k, v in entry.items() if k != "_base"}
    src = str(_source(name, entry)) if entry["format"] != "synthetic" else ""
    text = json.dumps({"entry": settings, "source": src, "version": PREP_VERSION}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def _prepare_synthetic(name: str, entry: dict, out: Path) -> Path:
    gen = entry.get("generator", name)
    if gen not in GENERATORS:
        raise ValueError(f"catalog entry '{name}': unknown generator '{gen}'; available: {sorted(GENERATORS)}")
    if entry.get("names") is not None and list(entry["names"]) != GENERATORS[gen].names:
        raise ValueError(f"catalog entry '{name}': names {entry['names']} differ from generator '{gen}' names "
                         f"{GENERATORS[gen].names}")
    result = generate(gen, out, int(entry.get("n_train", 64)), int(entry.get("n_val", 16)),
                      imgsz=int(entry.get("imgsz", 640)), seed=int(entry.get("seed", 0)),
                      train_settings=entry.get("train_settings"), **(entry.get("settings") or {}))
    return Path(result["yaml"])


def _labels_dir(images: Path) -> Path:
    """Ultralytics' convention: the labels folder is the images folder with its last 'images' part -> 'labels'."""
    parts = list(images.parts)
    idx = max((i for i, p in enumerate(parts) if p == "images"), default=None)
    if idx is None:
        return images.parent / "labels"
    parts[idx] = "labels"
    return Path(*parts)


def _prepare_yolo(name: str, entry: dict, out: Path) -> Path:
    src = _source(name, entry)
    splits = entry.get("splits") or {"train": "images/train", "val": "images/val"}
    if "train" not in splits or "val" not in splits:
        raise ValueError(f"catalog entry '{name}': 'splits' needs 'train' and 'val'")
    if not entry.get("names"):
        raise ValueError(f"catalog entry '{name}': yolo entries need 'names'")
    yaml_path = None
    for split, rel in splits.items():
        images = src / rel
        if not images.is_dir():
            raise FileNotFoundError(f"catalog entry '{name}': split '{split}' folder {images} not found")
        yaml_path = Path(yolo_to_yolo(images, _labels_dir(images), out, entry["names"], split=split).yaml)
    return yaml_path


def _prepare_voc(name: str, entry: dict, out: Path) -> Path:
    src = _source(name, entry)
    ann, imgs = entry.get("annotations", "Annotations"), entry.get("images", "JPEGImages")
    splits = {k: [v] if isinstance(v, str) else list(v) for k, v in (entry.get("splits") or {"train": ["."]}).items()}
    for folders in splits.values():
        for f in folders:
            if not (src / f / ann).is_dir():
                raise FileNotFoundError(f"catalog entry '{name}': annotation folder {src / f / ann} not found")
    names = entry.get("names") or collect_voc_names([src / f / ann for fs in splits.values() for f in fs])
    yaml_path = None
    for split, folders in splits.items():
        for f in folders:
            yaml_path = Path(voc_to_yolo(src / f / ann, src / f / imgs, out, names, split=split).yaml)
    return yaml_path


def _prepare_coco(name: str, entry: dict, out: Path) -> Path:
    src = _source(name, entry)
    yaml_path = None
    for split, spec in (entry.get("splits") or {}).items():
        json_file, images = src / spec["json"], src / spec.get("images", ".")
        if not json_file.is_file():
            raise FileNotFoundError(f"catalog entry '{name}': annotation file {json_file} not found")
        yaml_path = Path(coco_to_yolo(json_file, images, out, split=split, names=entry.get("names")).yaml)
    if yaml_path is None:
        raise ValueError(f"catalog entry '{name}': coco entries need 'splits'")
    return yaml_path


PREPARE = {"synthetic": _prepare_synthetic, "yolo": _prepare_yolo, "voc": _prepare_voc, "coco": _prepare_coco}


def prepare(name: str, entry: dict, cache_dir: str | Path | None = None) -> Path:
    """Prepare catalog entry ``name`` in the cache (once) and return its data YAML path."""
    root = cache_root(cache_dir)
    out = root / f"{name}-{entry_key(name, entry)}"
    ready = out / ".ready"
    root.mkdir(parents=True, exist_ok=True)
    with open(root / f"{out.name}.lock", "w") as lock:
        if fcntl is not None:
            fcntl.flock(lock, fcntl.LOCK_EX)
        if ready.is_file():
            return Path(ready.read_text().strip())
        shutil.rmtree(out, ignore_errors=True)
        LOGGER.info(f"Preparing data set '{name}' ({entry['format']}) in {out}")
        yaml_path = PREPARE[entry["format"]](name, entry, out)
        ready.write_text(str(yaml_path))
    return yaml_path


def _ultralytics_knows(name: str) -> bool:
    """True for a data set name Ultralytics ships a YAML for (e.g. 'coco8')."""
    return (ROOT / "cfg" / "datasets" / f"{name}.yaml").is_file()


def resolve_data(data, cache_dir: str | Path | None = None):
    """Return the path of an Ultralytics data YAML for ``data``.

    - an existing file (any data YAML) is returned unchanged;
    - a catalog name (``datasets.yaml``) is prepared once into the cache and its data YAML path returned;
    - an existing folder, a URL, a name ending in .yaml/.yml or a data set name Ultralytics ships
      (``coco8``) is returned unchanged for Ultralytics to resolve;
    - anything else raises FileNotFoundError listing the catalog names and the closest match.

    Non-string values (None, dicts) are returned unchanged.
    """
    if not isinstance(data, (str, Path)):
        return data
    text = str(data)
    if Path(text).expanduser().is_file():
        return data
    try:
        path = catalog_path()
        catalog = load_catalog(path)
    except FileNotFoundError:
        path, catalog = None, {}
    if text in catalog:
        return str(prepare(text, catalog[text], cache_dir))
    if Path(text).expanduser().is_dir() or "://" in text or text.lower().endswith((".yaml", ".yml")):
        return data
    if _ultralytics_knows(text):
        return data
    close = difflib.get_close_matches(text, list(catalog), n=1, cutoff=0.3)
    hint = f" Closest catalog name: '{close[0]}'." if close else ""
    where = f"the catalog {path}" if path else "the catalog (datasets.yaml not found)"
    raise FileNotFoundError(
        f"data '{text}' is not a file, not an Ultralytics data set and not in {where}.{hint} "
        f"Catalog names: {', '.join(sorted(catalog)) or 'none'}."
    )
