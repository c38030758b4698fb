"""`ExtTrainer`: Ultralytics' `DetectionTrainer` building our model classes, with family defaults and the reliability
units of `ext.reliability`, each in its own file: non-finite steps skipped (`nonfinite.py`), exact resume
(`exact_resume.py`), loss state and atomic checkpoints (`checkpoints.py`), the backbone freeze schedule
(`freeze.py`)."""

from __future__ import annotations

from copy import copy
from pathlib import Path

import torch

from ultralytics.models.yolo.detect import DetectionTrainer
from ultralytics.nn.tasks import load_checkpoint
from ultralytics.utils import DEFAULT_CFG, LOGGER, RANK

from ...data import resolve_data
from ...keys import arg, check_choices
from ...nn.pretrained import load_pretrained
from ...nn.tasks import DetectorModel, load_model_yaml, student
from ...reliability.checkpoints import attach_loss_state, restore_loss_state, save_atomically
from ...reliability.exact_resume import (RESUME_STATE, epoch_shuffle_start, load_resume_state, save_resume_state,
                                         use_epoch_shuffle, use_repeat_factors)
from ...reliability.freeze import backbone_freeze_schedule
from ...reliability.nonfinite import (GuardedScaler, NonFiniteGuard, guard_batch_end, guard_batch_start,
                                      guard_epoch_end, guard_epoch_start)
from .val import ExtValidator


class ExtTrainer(DetectionTrainer):
    """Detection trainer for our families.

    Class attributes:
        model_class: the `DetectorModel` subclass built by `get_model`.
        validator_class: the validator used during and after training.
        defaults: family defaults for our (or Ultralytics') keys; the user's own arguments always win.

    Reliability: a training step whose loss is NaN or infinite is skipped (no gradients, no optimizer step, no EMA
    update, model and loss buffers restored), counted in results.csv (`train/skipped_steps`) and logged;
    `nan_patience` such steps in a row stop the run with `NonFiniteLossError` (`nonfinite.py`). With `exact_resume`
    (default) a single-process run shuffles by (seed, epoch) and writes `weights/resume_state.pt` beside last.pt, so
    that `resume=True` continues with the same losses as an uninterrupted run (CPU, or workers=0; `exact_resume.py`).
    """

    model_class = DetectorModel
    validator_class = ExtValidator
    defaults: dict = {}

    def __init__(self, cfg=DEFAULT_CFG, overrides: dict | None = None, _callbacks=None):
        self.family_keys = set(self.defaults) - set(overrides or {})  # keys this run takes from the family
        overrides = {**self.defaults, **(overrides or {})}
        check_choices(overrides)
        if overrides.get("data"):
            overrides["data"] = resolve_data(overrides["data"])
        super().__init__(cfg, overrides, _callbacks)
        # a family's rfs with rect=True has no sampler to replace: off in the args (DDP workers read them), not an error
        if "rfs" in self.family_keys and self.args.rect and self.arg("rfs"):
            LOGGER.info(f"rfs={self.arg('rfs')} (the family default) is off: repeat-factor sampling needs the "
                        "shuffled training loader, not rect=True")
            self.args.rfs = 0.0
        self.nan_guard = NonFiniteGuard(self.arg("nan_patience"))
        self.add_callback("on_train_epoch_start", backbone_freeze_schedule)
        self.add_callback("on_train_epoch_start", reweighting_warmup)
        self.add_callback("on_train_epoch_start", guard_epoch_start)
        self.add_callback("on_train_epoch_start", epoch_shuffle_start)
        self.add_callback("on_train_batch_start", guard_batch_start)
        self.add_callback("on_train_batch_end", guard_batch_end)
        self.add_callback("on_train_epoch_end", guard_epoch_end)

    def arg(self, name: str):
        """An argument of this run, or its default when a checkpoint from an older version lacks it (resume)."""
        return arg(self.args, name)

    def add_callback(self, event: str, callback):
        """Ultralytics' `add_callback`, but a callback already registered for the event is not added again: the DDP
        entry file rebuilds the trainer from the parent's callbacks, which already hold those added in __init__."""
        if callback not in self.callbacks.get(event, []):
            super().add_callback(event, callback)

    def get_model(self, cfg=None, weights=None, verbose: bool = True):
        """Build `model_class` from a YAML path/name or dict with the data's classes, and load `weights` if given.

        `dfl_prior` >= 0 replaces the YAML's own box-distribution start (`ext.nn.box_prior`) in the model's dict, so
        that the checkpoint's YAML records the start the run used."""
        prior = float(self.arg("dfl_prior"))
        if prior >= 0:
            cfg = {**(cfg if isinstance(cfg, dict) else load_model_yaml(cfg)), "dfl_prior": prior}
        model = self.model_class(cfg, nc=self.data["nc"], ch=self.data["channels"], verbose=verbose and RANK == -1)
        model = self.set_model_names_for_load(model)
        if weights:
            model.load(weights)
        return model

    def setup_model(self):
        """Ultralytics' setup, except that `pretrained=path` goes through `ext.nn.pretrained.load_pretrained`:
        Ultralytics checkpoints and torchvision state dicts, the count printed, a file matching nothing refused."""
        path = self.args.pretrained
        if isinstance(path, (str, Path)) and not self.resume and not isinstance(self.model, torch.nn.Module):
            cfg = self.model
            if str(cfg).lower().endswith(".pt"):
                cfg = load_checkpoint(cfg)[0].yaml
            self.model = self.get_model(cfg=cfg, weights=None, verbose=RANK in {-1, 0})
            load_pretrained(self.model, path)
            return None
        return super().setup_model()

    def get_dataloader(self, dataset_path, batch_size: int = 16, rank: int = 0, mode: str = "train"):
        """Ultralytics' loader; for training with `rfs` > 0 its batches come from repeat-factor sampling
        (ext/data/repeat_factor.py), else with `exact_resume` a single-process loader shuffles by (seed, epoch)."""
        loader = super().get_dataloader(dataset_path, batch_size, rank, mode)
        if mode == "train" and self.arg("rfs"):
            use_repeat_factors(loader, self.arg("rfs"), self.data["nc"], self.args.seed, rank,
                               asked="rfs" not in self.family_keys)
        elif mode == "train" and rank == -1 and self.arg("exact_resume"):
            use_epoch_shuffle(loader, self.args.seed)
        return loader

    def _setup_train(self):
        """Ultralytics' setup, then the scaler wrapped so that a step with a non-finite loss is skipped."""
        super()._setup_train()
        self.scaler = GuardedScaler(self.scaler, self)

    def optimizer_step(self):
        """Ultralytics' step (unscale, clip, step, EMA), unless every step since the last one was skipped."""
        if self.nan_guard.take_step():
            super().optimizer_step()
        else:
            self.optimizer.zero_grad()

    def save_metrics(self, metrics):
        """Ultralytics' results.csv row, plus the epoch's count of skipped steps (`train/skipped_steps`)."""
        super().save_metrics({**metrics, "train/skipped_steps": self.nan_guard.skipped})

    def get_validator(self):
        """Return the family's validator."""
        return self.validator_class(self.test_loader, save_dir=self.save_dir, args=copy(self.args),
                                    _callbacks=self.callbacks)

    def save_model(self):
        """Ultralytics' checkpoint with the loss's statistics, written atomically; with `exact_resume`, then
        `weights/resume_state.pt` for the same epoch (`checkpoints.py`, `exact_resume.py`)."""
        attach_loss_state(self)
        saved = save_atomically(self, super().save_model)
        if saved and self.arg("exact_resume"):
            save_resume_state(self)
        return saved

    def resume_training(self, ckpt):
        """Ultralytics' resume, then the saved loss statistics and, with `exact_resume`, `resume_state.pt` when it
        belongs to the checkpoint."""
        super().resume_training(ckpt)
        if ckpt and self.resume:
            restore_loss_state(self, ckpt)
            if self.arg("exact_resume"):
                load_resume_state(self, ckpt)

    def final_eval(self):
        """Ultralytics' final validation; the finished run's resume state is deleted (it can no longer resume)."""
        if RANK in {-1, 0}:
            (self.wdir / RESUME_STATE).unlink(missing_ok=True)
        super().final_eval()


def reweighting_warmup(trainer) -> None:
    """Callback (epoch start): `gjr_warmup` = N pauses the classification loss's gradient statistics (GJR, EQLv2,
    EQFL) while epoch < N, so the first N epochs train on the plain element loss. Runs at each epoch start (the
    criterion built here if the first step has not built it yet), so a resumed run lands in the right phase."""
    n = int(arg(trainer.args, "gjr_warmup") or 0)
    if not n:
        return
    model = student(trainer.model)
    if getattr(model, "criterion", None) is None:
        model.criterion = model.init_criterion()
    model.criterion.pause_reweighting(trainer.epoch < n)
