"""`fdet data SUBCOMMAND key=value ...`: list and prepare catalog datasets, convert COCO / VOC, run generators,
tile large frames."""

from __future__ import annotations

from difflib import get_close_matches

from ..keys import key_values
from .catalog import load_catalog, resolve_data
from .convert import coco_to_yolo
from .generators import generate
from .tile import tile_dataset
from .voc import voc_to_yolo

SUBCOMMANDS = {
    "list": {"catalog"},
    "prepare": {"name", "cache"},
    "convert": {"format", "source", "images", "out", "split", "names"},
    "generate": {"name", "out", "n_train", "n_val", "imgsz", "seed"},
    "tile": {"data", "out", "size", "overlap", "min_visible", "splits"},
}
REQUIRED = {"prepare": {"name"}, "convert": {"format", "source", "images", "out"}, "generate": {"name", "out"},
            "tile": {"data", "out"}}
USAGE = """Usage:
  fdet data list
  fdet data prepare name=NAME [cache=DIR]
  fdet data convert format=coco|voc source=JSON_OR_XML_DIR images=IMAGE_DIR out=DIR [split=train] [names=[a,b]]
  fdet data generate name=fault-synth|crash-synth|fault-frames out=DIR [n_train=64] [n_val=16] [imgsz=640] [seed=0]
  fdet data tile data=NAME_OR_YAML out=DIR [size=640] [overlap=0.2] [min_visible=0.5] [splits=[train,val]]"""


def _parse(sub: str, words: list[str]) -> dict:
    """key=value words -> dict; unknown or missing keys raise SyntaxError naming the valid ones."""
    valid, out = SUBCOMMANDS[sub], key_values(words, hint=f"\n{USAGE}")
    for k in out:
        if k not in valid:
            close = get_close_matches(k, valid)
            raise SyntaxError(f"'{k}' is not a valid 'fdet data {sub}' key." + (f" Similar: {close}." if close else "")
                              + f" Valid: {sorted(valid)}")
    if missing := REQUIRED.get(sub, set()) - set(out):
        raise SyntaxError(f"'fdet data {sub}' needs {sorted(missing)}.\n{USAGE}")
    return out


def data_main(argv: list[str]) -> int:
    """Run one `fdet data` subcommand; return 0 (errors raise SyntaxError / ValueError / FileNotFoundError)."""
    if not argv or argv[0] not in SUBCOMMANDS:
        print(USAGE)
        return 0 if not argv else 2
    sub, kw = argv[0], _parse(argv[0], argv[1:])
    if sub == "list":
        for name, entry in load_catalog().items():
            where = entry.get("path") or entry.get("generator", "")
            print(f"{name:<22} {entry.get('format', ''):<10} {where}")
    elif sub == "prepare":
        print(resolve_data(str(kw["name"]), cache_dir=kw.get("cache")))
    elif sub == "convert":
        fmt = str(kw["format"]).lower()
        if fmt not in {"coco", "voc"}:
            raise ValueError(f"format={fmt} is not supported: use format=coco or format=voc")
        split, names = kw.get("split", "train"), kw.get("names")
        if fmt == "coco":
            summary = coco_to_yolo(kw["source"], kw["images"], kw["out"], split=split, names=names)
        else:
            summary = voc_to_yolo(kw["source"], kw["images"], kw["out"], names=names, split=split)
        print(summary)
    elif sub == "tile":
        splits = kw.pop("splits", ["train", "val"])
        print(tile_dataset(str(kw.pop("data")), kw.pop("out"), splits=[splits] if isinstance(splits, str) else splits,
                           **kw))
    else:
        kw.setdefault("n_train", 64)
        kw.setdefault("n_val", 16)
        generate(kw.pop("name"), kw.pop("out"), **kw)
    return 0
