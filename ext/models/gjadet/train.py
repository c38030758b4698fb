"""`GJADetTrainer`: our trainer with GJADet's defaults (GJR classification loss, CIoU box loss)."""

from ...nn.tasks import GJADetModel
from ..detector import ExtTrainer
from .val import GJADetValidator


class GJADetTrainer(ExtTrainer):
    """Trains GJADet models."""

    model_class = GJADetModel
    validator_class = GJADetValidator
    defaults = {"cls_loss": "gjr", "iou_loss": "ciou"}
