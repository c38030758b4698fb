"""Evaluation metrics beyond Ultralytics' mAP: HSD's image-level rates and GJADet's long-tail / size AP.

Pure functions and small accumulators with no dependency on the rest of `ext`; validators feed them per image
from ``DetectionValidator.update_metrics`` (see each class's docstring for the exact keys).
"""

from .image_level import DEFAULT_THRESHOLDS, ImageLevelRates, fault_class_ids, image_level_rates
from .coco_size import CocoSizeAP, coco_size_ap
from .longtail import (
    class_groups,
    full_class_ap,
    group_ap,
    per_class_table,
    train_instance_counts,
)

__all__ = (
    "DEFAULT_THRESHOLDS",
    "CocoSizeAP",
    "ImageLevelRates",
    "class_groups",
    "coco_size_ap",
    "fault_class_ids",
    "full_class_ap",
    "group_ap",
    "image_level_rates",
    "per_class_table",
    "train_instance_counts",
)
