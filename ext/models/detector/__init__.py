"""The plain family: any detection YAML (ours or Ultralytics') with our builder, losses and data catalog."""

from .model import Detector
from .train import ExtTrainer
from .val import ExtValidator

__all__ = ("Detector", "ExtTrainer", "ExtValidator")
