"""Model families: `Detector` (any YAML, for baselines), `HSD` and `GJADet`."""

from .detector import Detector
from .family import family_of
from .gjadet import GJADet
from .hsd import HSD

__all__ = ("GJADet", "HSD", "Detector", "family_of")
