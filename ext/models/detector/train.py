"""`ExtTrainer`: Ultralytics' `DetectionTrainer` building our model classes, with family defaults, a backbone
freeze schedule (`freeze_epochs`) and the classification loss's statistics carried through checkpoints."""

from __future__ import annotations

from copy import copy

from ultralytics.models.yolo.detect import DetectionTrainer
from ultralytics.utils import DEFAULT_CFG, LOGGER, RANK
from ultralytics.utils.torch_utils import unwrap_model

from ...data import resolve_data
from ...nn.tasks import ExtDetectionModel
from ...registry import check_choices
from .val import ExtValidator


def student(model):
    """The trained network inside DDP / distillation wrappers."""
    model = unwrap_model(model)
    return getattr(model, "student_model", model)


def backbone_freeze_schedule(trainer) -> None:
    """Callback: backbone layers frozen while epoch < freeze_epochs, trainable afterwards (Ultralytics' own
    `freeze` list stays frozen). Runs at each epoch start, so a resumed run lands in the right phase."""
    n = int(getattr(trainer.args, "freeze_epochs", 0) or 0)
    frozen = trainer.epoch < n
    if not n or getattr(trainer, "_backbone_frozen", None) == frozen:
        return
    model = student(trainer.model)
    prefixes = tuple(f"model.{i}." for i in range(len(model.yaml["backbone"])))
    keep = tuple(getattr(trainer, "freeze_layer_names", ()))
    for k, p in model.named_parameters():
        if k.startswith(prefixes) and p.dtype.is_floating_point and not any(x in f"{k}" for x in keep):
            p.requires_grad_(not frozen)
    trainer._backbone_frozen = frozen
    LOGGER.info(f"freeze_epochs={n}: backbone layers 0-{len(prefixes) - 1} {'frozen' if frozen else 'unfrozen'} "
                f"from epoch {trainer.epoch + 1}")


class ExtTrainer(DetectionTrainer):
    """Detection trainer for our families.

    Class attributes:
        model_class: the `ExtDetectionModel` subclass built by `get_model`.
        validator_class: the validator used during and after training.
        defaults: family defaults for our (or Ultralytics') keys; the user's own arguments always win.
    """

    model_class = ExtDetectionModel
    validator_class = ExtValidator
    defaults: dict = {}

    def __init__(self, cfg=DEFAULT_CFG, overrides: dict | None = None, _callbacks=None):
        overrides = {**self.defaults, **(overrides or {})}
        check_choices(overrides)
        if overrides.get("data"):
            overrides["data"] = resolve_data(overrides["data"])
        super().__init__(cfg, overrides, _callbacks)
        self.add_callback("on_train_epoch_start", backbone_freeze_schedule)

    def get_model(self, cfg=None, weights=None, verbose: bool = True):
        """Build `model_class` from a YAML path/name or dict with the data's classes, and load `weights` if given."""
        model = self.model_class(cfg, nc=self.data["nc"], ch=self.data["channels"], verbose=verbose and RANK == -1)
        model = self.set_model_names_for_load(model)
        if weights:
            model.load(weights)
        return model

    def get_validator(self):
        """Return the family's validator."""
        return self.validator_class(self.test_loader, save_dir=self.save_dir, args=copy(self.args),
                                    _callbacks=self.callbacks)

    def save_model(self):
        """Ultralytics' checkpoint, with the loss's statistics (e.g. GJR's) attached to the saved model as
        float64 arrays (`loss_state`), which survive the checkpoint's fp16 cast."""
        crit = getattr(student(self.model), "criterion", None)
        if crit is not None and hasattr(crit, "state"):
            student(self.ema.ema).loss_state = crit.state()
        return super().save_model()

    def resume_training(self, ckpt):
        """Ultralytics' resume, then hand the saved loss statistics to the model for its next criterion."""
        super().resume_training(ckpt)
        if ckpt and self.resume:
            state = getattr(student(ckpt.get("ema") or ckpt.get("model")), "loss_state", None)
            if state:
                student(self.model).loss_state = state
                student(self.model).criterion = None  # rebuilt with the restored statistics on the next step
