"""The plain family: any detection YAML (ours or Ultralytics') with our builder, losses and data catalog."""

from .model import Detector
from .predict import SlicedPredictor, merge_detections
from .train import ExtTrainer
from .val import ExtValidator

__all__ = ("Detector", "ExtTrainer", "ExtValidator", "SlicedPredictor", "merge_detections")
