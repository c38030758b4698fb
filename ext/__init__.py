"""ext: railway visual inspection on Ultralytics (HSD and GJADet).

`import ext` registers our run keys with Ultralytics (see `ext.keys`); after it, `YOLO("best.pt")` loads our
checkpoints and `ext.HSD`, `ext.GJADet` and `ext.Detector` build, train, validate, predict and export.
"""

__version__ = "0.1.0"

from .keys import register

register()

from .models import GJADet, HSD, Detector  # noqa: E402

__all__ = ("GJADet", "HSD", "Detector", "__version__")
