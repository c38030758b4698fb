"""`GJADet`: the GJADet family as an Ultralytics `Model` (`gjadet.yaml`, scales n, s, m)."""

from ...nn.tasks import GJADetModel
from ..detector import Detector
from .train import GJADetTrainer
from .val import GJADetValidator


class GJADet(Detector):
    """GJADet models. `GJADet("gjadet-n.yaml").train(data="crash-synth")` trains with GJR's reweighting over BCE
    (`cls_loss=gjr`, `gjr_beta` 0), repeat-factor sampling (`rfs=1.0`) and CIoU by default; the paper's loss is
    `cls_loss=gjr gjr_beta=2 rfs=0`."""

    model_class = GJADetModel
    trainer_class = GJADetTrainer
    validator_class = GJADetValidator
    default_model = "gjadet-n.yaml"
