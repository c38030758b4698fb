"""Skipping training steps whose loss is not finite (`nan_patience`): `NonFiniteGuard`, the scaler wrapper that
asks it, and the trainer callbacks that drive it.

Callbacks here are module-level functions of the trainer (never bound methods), so that Ultralytics' DDP entry
file, which pickles the trainer's callbacks, can carry them to the workers.
"""

from __future__ import annotations


import torch
import torch.distributed as dist
from torch import nn
from ultralytics.utils import LOGGER
from ultralytics.utils.loss import v8DetectionLoss
from ultralytics.utils.torch_utils import unwrap_model

class NonFiniteLossError(RuntimeError):
    """Training stopped because `nan_patience` consecutive steps had a NaN or infinite loss."""


class NonFiniteGuard:
    """Skips training steps whose loss is NaN or infinite, counts them, and stops after `patience` in a row.

    How a step is skipped. Ultralytics' loop runs `trainer.scaler.scale(trainer.loss).backward()` once per step,
    right after the forward pass; `ExtTrainer` wraps the scaler in `GuardedScaler`, whose `scale` asks `check`.
    For a non-finite loss it returns a zero tensor unconnected to the model, so the backward adds nothing to the
    accumulated gradients; the buffers of the model (BatchNorm statistics) and of the loss (GJR, EQL statistics)
    are put back to their values before the step's forward pass (`snapshot` runs at each batch start); and
    `ExtTrainer.optimizer_step` makes no optimizer step and no EMA update unless a finite step has added gradients
    since the last one (`take_step`).

    Counting. `skipped` (this epoch) goes to results.csv as `train/skipped_steps` and to a warning at epoch end;
    the epoch's mean training losses (`trainer.tloss`) are then the mean over its finite steps. `patience`
    consecutive skipped steps (across epochs) raise `NonFiniteLossError` naming the non-finite loss terms
    (`trainer.loss_names`, e.g. 'cls_loss'); patience 0 never stops.

    Interplay with Ultralytics' own recovery (`BaseTrainer._handle_nan_recovery`): at each epoch end Ultralytics
    reloads last.pt and redoes the epoch (at most 3 times) when `trainer.loss` (the last step's loss) or the
    validation fitness is not finite. A skipped step puts `trainer.loss` back to the epoch's last finite loss, so a
    few bad steps do not roll a whole epoch back; an epoch whose every step was skipped leaves it non-finite, and
    weights that went bad anyway (non-finite fitness) are still recovered there. With AMP, the GradScaler keeps
    handling inf/NaN gradients of finite losses (fp16 overflow) as before. Under DDP the ranks all-reduce the
    check, so every rank skips the same steps.
    """

    def __init__(self, patience: int = 20):
        if int(patience) < 0:
            raise ValueError(f"nan_patience={patience} must be >= 0 (0 = never stop on non-finite losses)")
        self.patience = int(patience)
        self.total = 0  # skipped steps in the run
        self.streak, self.streak_terms = 0, []  # consecutive skipped steps and their non-finite terms
        self.pending = 0  # finite backward passes since the last optimizer step
        self._owners, self._buffers, self._copies = (None, None), [], []
        self.start_epoch()

    def start_epoch(self) -> None:
        """Reset the per-epoch counters (also when Ultralytics restarts an epoch)."""
        self.skipped, self.step, self.terms = 0, -1, []
        self._sums, self._n, self._last_loss = None, 0, None

    def snapshot(self, trainer) -> None:
        """Copy the model's and the loss's buffers before this step's forward pass (batch start)."""
        self.step += 1
        model = unwrap_model(trainer.model)
        if getattr(model, "criterion", None) is None and hasattr(model, "init_criterion"):
            model.criterion = model.init_criterion()  # as Ultralytics' lazy loss() would, one forward earlier
        crit = model.criterion
        if self._owners[0] is not model or self._owners[1] is not crit:
            modules = [model, *loss_modules(crit)]
            self._buffers = [b for m in modules for k, b in m.named_buffers() if not k.startswith("teacher_model.")]
            self._copies = [b.detach().clone() for b in self._buffers]
            self._owners = (model, crit)
        else:
            for c, b in zip(self._copies, self._buffers):
                c.copy_(b)

    def check(self, trainer, loss: torch.Tensor) -> bool:
        """True for a finite loss (the step goes on); False for a non-finite one, which `skip` handles."""
        bad = not bool(torch.isfinite(loss.detach()).all())
        if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
            flag = torch.tensor([float(bad)], device=loss.device)
            dist.all_reduce(flag, op=dist.ReduceOp.MAX)  # any rank's bad step is every rank's
            bad = bool(flag.item())
        items = trainer.loss_items if isinstance(trainer.loss_items, dict) else {}
        if bad:
            self.skip(trainer, items)
            return False
        self.streak, self.streak_terms = 0, []
        self.pending += 1
        self._last_loss = loss.detach()
        self._sums = {k: v.detach() + (self._sums[k] if self._sums else 0) for k, v in items.items()}
        self._n += 1
        return True

    def skip(self, trainer, items: dict) -> None:
        """Undo the step's buffer updates, count it, warn at the start of a streak, stop at `patience` in a row."""
        names = [k for k, v in items.items() if not torch.isfinite(torch.as_tensor(v)).all()]
        names = names or ["loss (on another rank)"]
        model = unwrap_model(trainer.model)
        if self._owners[0] is model and self._owners[1] is getattr(model, "criterion", None):
            for b, c in zip(self._buffers, self._copies):
                b.copy_(c)
        self.skipped += 1
        self.total += 1
        self.streak += 1
        self.terms += [n for n in names if n not in self.terms]
        self.streak_terms += [n for n in names if n not in self.streak_terms]
        if self._last_loss is not None:
            trainer.loss = self._last_loss  # an all-bad epoch still leaves it non-finite for Ultralytics' check
        where = f"epoch {trainer.epoch + 1}, batch {self.step + 1}"
        if self.patience and self.streak >= self.patience:
            raise NonFiniteLossError(
                f"training stopped: {self.streak} consecutive steps (nan_patience={self.patience}) had a non-finite "
                f"loss in {', '.join(self.streak_terms)} (last at {where}). Check the data and labels, lower lr0, "
                f"or try amp=False; nan_patience=0 never stops."
            )
        if self.streak == 1:
            stop = f"training stops after {self.patience} in a row" if self.patience else "nan_patience=0: never stops"
            LOGGER.warning(f"non-finite {', '.join(names)} at {where}: step skipped (no gradients, no optimizer or "
                           f"EMA update); {stop}")

    def take_step(self) -> bool:
        """Whether the optimizer may step now (some finite step added gradients since the last step)."""
        ok, self.pending = self.pending > 0, 0
        return ok

    def end_batch(self, trainer) -> None:
        """After a skip in this epoch, make `trainer.tloss` the mean over the epoch's finite steps."""
        if self.skipped and self._n:
            trainer.tloss = {k: v / self._n for k, v in self._sums.items()}

    def end_epoch(self, trainer) -> None:
        """Warn with the epoch's count of skipped steps."""
        if self.skipped:
            LOGGER.warning(f"epoch {trainer.epoch + 1}: {self.skipped} of {self.step + 1} training steps skipped for a "
                           f"non-finite {', '.join(self.terms)} ({self.total} in this run)")


def loss_modules(crit) -> list[nn.Module]:
    """The modules a criterion holds (e.g. GJR's statistics), also those of its branches (E2ELoss: one2many and
    one2one), so that a skipped step restores them all."""
    if crit is None:
        return []
    out = []
    for v in vars(crit).values():
        if isinstance(v, nn.Module):
            out.append(v)
        elif isinstance(v, v8DetectionLoss):
            out += [m for m in vars(v).values() if isinstance(m, nn.Module)]
    return out


class GuardedScaler:
    """The trainer's GradScaler, whose `scale(loss)` returns a zero tensor without graph for a non-finite loss.

    Everything else (`unscale_`, `step`, `update`, `state_dict`, ...) is the wrapped scaler's.
    """

    def __init__(self, scaler, trainer):
        self._scaler, self._trainer = scaler, trainer

    def scale(self, outputs: torch.Tensor) -> torch.Tensor:
        """The scaled loss for a finite loss; otherwise a zero whose backward changes no gradient."""
        if self._trainer.nan_guard.check(self._trainer, outputs):
            return self._scaler.scale(outputs)
        return torch.zeros((), device=outputs.device, requires_grad=True)

    def __getattr__(self, name):
        """Everything but `scale` is the wrapped scaler's."""
        scaler = self.__dict__.get("_scaler")
        if scaler is None:  # e.g. while being copied or unpickled
            raise AttributeError(name)
        return getattr(scaler, name)


def guard_epoch_start(trainer) -> None:
    """Callback (epoch start): reset the guard's epoch counters."""
    trainer.nan_guard.start_epoch()


def guard_batch_start(trainer) -> None:
    """Callback (batch start): snapshot the buffers a skipped step must leave unchanged."""
    trainer.nan_guard.snapshot(trainer)


def guard_batch_end(trainer) -> None:
    """Callback (batch end): keep the epoch's mean losses over finite steps."""
    trainer.nan_guard.end_batch(trainer)


def guard_epoch_end(trainer) -> None:
    """Callback (epoch end): report skipped steps."""
    trainer.nan_guard.end_epoch(trainer)
