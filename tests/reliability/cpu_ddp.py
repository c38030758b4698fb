"""Run Ultralytics' generated DDP entry files as one rank of a CPU world on gloo (a helper of test_ddp_gloo.py).

    RANK=r LOCAL_RANK=r WORLD_SIZE=n DDP_INIT_DIR=dir [NAN_LOSS_AT=rank:step] python cpu_ddp.py OUT_DIR ENTRY_FILE ...

Ultralytics' DDP path is written for GPUs: the trainer counts its processes from `device=0,1`, `_setup_ddp` selects
`cuda:LOCAL_RANK` and picks nccl, DistributedDataParallel gets `device_ids=[index]`, and the final validation of
best.pt asks CUDA for the current device. In this process only, before the entry file runs, those four points are
replaced by their CPU equivalents: the world size comes from WORLD_SIZE, `_setup_ddp` joins a gloo group (a file
store in DDP_INIT_DIR, one per entry file), DDP wraps a CPU module (`device_ids=None`), the final validation loads
best.pt on the CPU. Everything else (the trainer rebuilt from the pickled state, the distributed samplers, the
gradient all-reduce, our callbacks, losses and validators) is the code a GPU run executes.

Each entry file runs as `__main__`, as torchrun would run it; then this rank writes what the test compares across
ranks to OUT_DIR/<n>_rank<r>.pt: the trained parameters, the loss statistics, the non-finite guard's counters and
the number of images in the image-level rates (HSD) after the final validation. NAN_LOSS_AT=r:s makes the cls_loss
term of rank r's s-th training loss (0-based, over the whole process) NaN, as tests/reliability/test_nonfinite.py
does in one process.
"""

from __future__ import annotations

import math
import os
import runpy
import sys
from pathlib import Path

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel
from ultralytics.engine import trainer as utrainer
from ultralytics.engine import validator as uvalidator
from ultralytics.utils.torch_utils import unwrap_model

RANK, WORLD = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
_runs = []  # one gloo group per entry file, in order


def _counted_world(init):
    def __init__(self, *args, **kwargs):
        init(self, *args, **kwargs)
        self.world_size = WORLD  # what device=0,1,... gives; on device=cpu Ultralytics counts 0

    return __init__


def _setup_gloo(self) -> None:
    """`_setup_ddp` on the CPU: no device to select, a gloo group instead of nccl."""
    self.device = torch.device("cpu")
    if dist.is_initialized():  # the previous entry file's group
        dist.destroy_process_group()
    store = Path(os.environ["DDP_INIT_DIR"]) / f"init{len(_runs)}"
    _runs.append(store)
    dist.init_process_group("gloo", init_method=f"file://{store}", rank=RANK, world_size=self.world_size)


class CpuDDP(DistributedDataParallel):
    """DistributedDataParallel as the trainer builds it, with `device_ids=[None]` (a CPU device's index) dropped."""

    def __init__(self, module, device_ids=None, **kwargs):
        super().__init__(module, device_ids=None if device_ids == [None] else device_ids, **kwargs)


def _cpu_backend(autobackend):
    def build(*args, device=None, **kwargs):
        return autobackend(*args, device=torch.device("cpu"), **kwargs)

    return build


def patch() -> None:
    utrainer.BaseTrainer.__init__ = _counted_world(utrainer.BaseTrainer.__init__)
    utrainer.BaseTrainer._setup_ddp = _setup_gloo
    torch.nn.parallel.DistributedDataParallel = CpuDDP  # the trainer reads it from torch.nn at call time
    torch.cuda.current_device = lambda: 0  # the final validation's device index, then replaced by the CPU:
    uvalidator.AutoBackend = _cpu_backend(uvalidator.AutoBackend)


def inject_nan(rank_step: str) -> None:
    """On rank r, the s-th training call of our detection loss returns a NaN cls_loss term (`NAN_LOSS_AT=r:s`)."""
    rank, step = map(int, rank_step.split(":"))
    if rank != RANK:
        return
    from ext.losses.detection import DetectionLoss

    original, calls = DetectionLoss.loss, []

    def loss(self, preds, batch):
        total, items = original(self, preds, batch)
        if torch.is_grad_enabled():  # training, not validation
            if len(calls) == step:
                total = total + torch.tensor([0.0, math.nan, 0.0], device=total.device)
                items = {**items, "cls_loss": items["cls_loss"] + math.nan}
            calls.append(step)
        return total, items

    DetectionLoss.loss = loss


def record(trainer, path: Path) -> None:
    """What must agree across ranks after training."""
    model = unwrap_model(trainer.model)
    crit = getattr(model, "criterion", None)
    state = crit.state() if hasattr(crit, "state") else None
    guard = trainer.nan_guard
    params = {k: v.detach().clone() for k, v in model.named_parameters()}  # BatchNorm statistics stay per rank
    torch.save({"params": params, "loss_state": state,
                "guard": {"total": guard.total, "skipped": guard.skipped, "streak": guard.streak},
                "epoch": trainer.epoch, "world_size": dist.get_world_size(),
                "val_images": len(getattr(trainer.validator, "rates", ()))}, path)


def main(out: str, *files: str) -> None:
    patch()
    if os.environ.get("NAN_LOSS_AT"):
        inject_nan(os.environ["NAN_LOSS_AT"])
    for n, file in enumerate(files):
        trainer = runpy.run_path(file, run_name="__main__")["trainer"]
        record(trainer, Path(out) / f"{n}_rank{RANK}.pt")
    dist.barrier()
    dist.destroy_process_group()


if __name__ == "__main__":
    main(*sys.argv[1:])
