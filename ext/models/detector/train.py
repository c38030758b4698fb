"""`ExtTrainer`: Ultralytics' `DetectionTrainer` building our model classes, with family default arguments."""

from __future__ import annotations

from copy import copy

from ultralytics.models.yolo.detect import DetectionTrainer
from ultralytics.utils import DEFAULT_CFG, RANK

from ...data import resolve_data
from ...nn.tasks import ExtDetectionModel
from ...registry import check_choices
from .val import ExtValidator


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

