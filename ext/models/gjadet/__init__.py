"""GJADet: adaptive attention PAFPN and the GJR classification loss for long-tailed crash footage."""

from .model import GJADet
from .train import GJADetTrainer
from .val import GJADetValidator

__all__ = ("GJADet", "GJADetTrainer", "GJADetValidator")
