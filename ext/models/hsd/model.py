"""`HSD`: the HSD family as an Ultralytics `Model` (student `hsd.yaml`, teacher `hsd-teacher.yaml`)."""

from ...nn.tasks import HSDModel
from ..detector import Detector
from .train import HSDTrainer
from .val import HSDValidator


class HSD(Detector):
    """HSD models. `HSD("hsd-n.yaml").train(data="fault-synth", distill_model="teacher.pt")` distils a student."""

    model_class = HSDModel
    trainer_class = HSDTrainer
    validator_class = HSDValidator
    default_model = "hsd-n.yaml"
