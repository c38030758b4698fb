"""`ExtTrainer`: Ultralytics' `DetectionTrainer` building our model classes, with family defaults, a backbone
freeze schedule (`freeze_epochs`), the classification loss's statistics carried through checkpoints, steps with a
non-finite loss skipped (`nan_patience`) and an exact resume (`exact_resume`); see `guard.py` for the last two."""

from __future__ import annotations

import os
from copy import copy
from pathlib import Path

import torch

from ultralytics.models.yolo.detect import DetectionTrainer
from ultralytics.nn.tasks import load_checkpoint
from ultralytics.utils import DEFAULT_CFG, LOGGER, RANK
from ultralytics.utils.torch_utils import unwrap_model

from ...data import resolve_data
from ...nn.pretrained import load_pretrained
from ...nn.tasks import ExtDetectionModel, load_model_yaml
from ...registry import arg, check_choices
from .guard import (RESUME_STATE, GuardedScaler, NonFiniteGuard, guard_batch_end, guard_batch_start, guard_epoch_end,
                    guard_epoch_start, load_resume_state, save_resume_state, use_epoch_shuffle)
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

    Reliability (`guard.py`): a training step whose loss is NaN or infinite is skipped (no gradients, no optimizer
    step, no EMA update, model and loss buffers restored), counted in results.csv (`train/skipped_steps`) and
    logged; `nan_patience` such steps in a row stop the run with `NonFiniteLossError`. With `exact_resume` (default)
    a single-process run shuffles by (seed, epoch) and writes `weights/resume_state.pt` beside last.pt, so that
    `resume=True` continues with the same losses as an uninterrupted run (CPU, or workers=0).
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
        self.nan_guard = NonFiniteGuard(self.arg("nan_patience"))
        self.add_callback("on_train_epoch_start", backbone_freeze_schedule)
        self.add_callback("on_train_epoch_start", guard_epoch_start)
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
        """Ultralytics' loader; with `exact_resume`, a single-process training loader shuffles by (seed, epoch)."""
        loader = super().get_dataloader(dataset_path, batch_size, rank, mode)
        if mode == "train" and rank == -1 and self.arg("exact_resume"):
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
        """Ultralytics' checkpoint, with the loss's statistics (e.g. GJR's) attached to the saved model as
        float64 arrays (`loss_state`), which survive the checkpoint's fp16 cast; with `exact_resume`, then
        `weights/resume_state.pt` for the same epoch (`guard.save_resume_state`)."""
        crit = getattr(student(self.model), "criterion", None)
        if crit is not None and hasattr(crit, "state"):
            student(self.ema.ema).loss_state = crit.state()
        saved = self._save_atomically()
        if saved and self.arg("exact_resume"):
            save_resume_state(self)
        return saved

    def _save_atomically(self) -> bool:
        """Ultralytics' `save_model`, writing last.pt / best.pt to `*.partial` files renamed into place only when
        complete, so a run killed at any moment leaves the previous, loadable last.pt (Ultralytics writes in place)."""
        final = self.last, self.best
        self.last, self.best = (p.with_name(p.name + ".partial") for p in final)
        try:
            saved = super().save_model()
        finally:
            partial, (self.last, self.best) = (self.last, self.best), final
        for tmp, dst in zip(partial, final):
            if tmp.exists():
                os.replace(tmp, dst)
        return saved

    def resume_training(self, ckpt):
        """Ultralytics' resume, then hand the saved loss statistics to the model for its next criterion and, with
        `exact_resume`, restore `resume_state.pt` when it belongs to the checkpoint (`guard.load_resume_state`)."""
        super().resume_training(ckpt)
        if ckpt and self.resume:
            state = getattr(student(ckpt.get("ema") or ckpt.get("model")), "loss_state", None)
            if state:
                student(self.model).loss_state = state
                student(self.model).criterion = None  # rebuilt with the restored statistics on the next step
            if self.arg("exact_resume"):
                load_resume_state(self, ckpt)

    def final_eval(self):
        """Ultralytics' final validation; the finished run's resume state is deleted (it can no longer resume)."""
        if RANK in {-1, 0}:
            (self.wdir / RESUME_STATE).unlink(missing_ok=True)
        super().final_eval()
