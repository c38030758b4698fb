"""What our checkpoints carry beyond Ultralytics': the loss's statistics (`loss_state`), and atomic writes.

- Loss state: a classification loss with statistics (its buffers: GJR, EQFL, EQL; both branches on end-to-end heads) is
  saved on the checkpoint's EMA model as float64 arrays, which survive the checkpoint's fp16 cast, and handed back
  to the model by a resumed run, whose next criterion restores them (`DetectorModel.init_criterion`).
- Atomic writes: last.pt / best.pt are written to `*.partial` files renamed into place only when complete, so a
  run killed at any moment leaves the previous, loadable last.pt (Ultralytics writes in place).
"""

from __future__ import annotations

import os

from ..nn.tasks import student


def attach_loss_state(trainer) -> None:
    """Before a save: put the criterion's statistics on the EMA model that the checkpoint pickles."""
    crit = getattr(student(trainer.model), "criterion", None)
    if crit is not None and hasattr(crit, "state"):
        student(trainer.ema.ema).loss_state = crit.state()


def restore_loss_state(trainer, ckpt: dict) -> None:
    """On resume: hand the checkpoint's statistics to the model; its criterion is rebuilt with them."""
    state = getattr(student(ckpt.get("ema") or ckpt.get("model")), "loss_state", None)
    if state:
        student(trainer.model).loss_state = state
        student(trainer.model).criterion = None  # rebuilt with the restored statistics on the next step


def save_atomically(trainer, save) -> bool:
    """Run `save()` (Ultralytics' `save_model`) with trainer.last / trainer.best pointing at `*.partial` files, then
    rename each written file into place. Returns what `save()` returned."""
    final = trainer.last, trainer.best
    trainer.last, trainer.best = (p.with_name(p.name + ".partial") for p in final)
    try:
        saved = save()
    finally:
        partial, (trainer.last, trainer.best) = (trainer.last, trainer.best), final
    for tmp, dst in zip(partial, final):
        if tmp.exists():
            os.replace(tmp, dst)
    return saved
