"""Data sets for ext: synthetic generators, COCO/VOC converters, tiling and the ``datasets.yaml`` catalog.

``resolve_data(name_or_yaml)`` turns a catalog name (``fault-synth``, ``rail-tracks`` ...) into an Ultralytics
data YAML prepared once in the cache; any existing YAML path or Ultralytics data set name passes unchanged.
"""

from .catalog import catalog_path, load_catalog, resolve_data
from .convert import Summary, coco_to_yolo, yolo_to_yolo
from .voc import voc_to_yolo
from .generators import GENERATORS, generate
from .tile import TileSummary, tile_dataset

__all__ = (
    "GENERATORS",
    "Summary",
    "TileSummary",
    "catalog_path",
    "coco_to_yolo",
    "generate",
    "load_catalog",
    "resolve_data",
    "tile_dataset",
    "voc_to_yolo",
    "yolo_to_yolo",
)
