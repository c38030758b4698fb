"""`HSDTrainer`: our trainer with HSD's defaults and localization distillation when `distill_model` is set."""

from __future__ import annotations

from ultralytics.utils import RANK
from ultralytics.utils.torch_utils import unwrap_model

from ...nn.tasks import HSDModel, load_model_yaml
from ..detector import ExtTrainer
from .distill import LDDistillationModel, ld_distillation, load_teacher
from .online import OnlineDistillationModel, restore_heavy_branch, save_heavy_branch
from .val import HSDValidator


class HSDTrainer(ExtTrainer):
    """Trains HSD students and teachers.

    With `distill_model=teacher.pt`, Ultralytics' distillation wraps the student in our `LDDistillationModel`
    (its feature term weighted by `dis`, off by default for HSD, plus LD weighted by `ld_weight`). The teacher path
    is checked before anything else runs; its classes, strides and reg_max before the first epoch. With
    `distill_model=hsd-teacher-n.yaml` (a model YAML) the teacher trains in the same run on the student's backbone
    (`OnlineDistillationModel`).
    """

    model_class = HSDModel
    validator_class = HSDValidator
    defaults = {"iou_loss": "giou", "dis": 0.0}

    def __init__(self, cfg=None, overrides: dict | None = None, _callbacks=None):
        teacher = (overrides or {}).get("distill_model")
        if teacher and OnlineDistillationModel.takes(teacher):
            load_model_yaml(teacher)  # an unknown YAML stops the run here, naming ours
        elif teacher and not overrides.get("resume"):
            load_teacher(teacher)  # a missing or broken teacher stops the run here
        super().__init__(**({"cfg": cfg} if cfg else {}), overrides=overrides, _callbacks=_callbacks)
        self.add_callback("on_train_epoch_start", hand_epoch_to_distillation)

    def setup_model(self):
        """Our setup; a resumed one-run distillation gets its heavy branch back from the checkpoint."""
        ckpt = super().setup_model()
        restore_heavy_branch(self.model, ckpt)
        return ckpt

    def _setup_train(self):
        """Ultralytics' setup, building `LDDistillationModel` wherever it would build a `DistillationModel`."""
        with ld_distillation():
            super()._setup_train()


    def final_eval(self):
        """A one-run distillation's teacher saved as weights/teacher.pt, then our final validation of the student."""
        if RANK in {-1, 0} and self.best.exists():
            save_heavy_branch(self.best, self.wdir / "teacher.pt")
        super().final_eval()

def hand_epoch_to_distillation(trainer) -> None:
    """Tell `LDDistillationModel` which epoch starts (for `ld_epochs`); a resumed run starts at its own epoch."""
    model = unwrap_model(trainer.model)
    if isinstance(model, LDDistillationModel):
        model.epoch = trainer.epoch
