"""HSD: heterogeneous self-distillation for freight-train braking-system fault detection."""

from .model import HSD
from .train import HSDTrainer
from .val import HSDValidator

__all__ = ("HSD", "HSDTrainer", "HSDValidator")
