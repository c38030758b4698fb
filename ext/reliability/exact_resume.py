"""An exactly reproducible resume (`exact_resume`): a (seed, epoch) shuffle for single-process loaders and
`weights/resume_state.pt`, what Ultralytics' last.pt rounds or leaves out.

Callbacks here are module-level functions (see `nonfinite.py`), so that Ultralytics' DDP entry file can carry them.
"""

from __future__ import annotations

import os
import random
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.data import BatchSampler, DistributedSampler, RandomSampler
from ultralytics.utils import LOGGER, RANK
from ultralytics.utils.torch_utils import unwrap_model

from ..data.repeat_factor import RepeatFactorSampler, image_share, repeat_factors

RESUME_STATE = "resume_state.pt"  # beside last.pt; not 'last*.pt', which Ultralytics' get_latest_run() would pick


def batch_source(loader):
    """The sampler that a loader's batches are drawn from: InfiniteDataLoader -> _RepeatSampler -> BatchSampler ->
    sampler (None when the chain is not that)."""
    batches = getattr(loader.batch_sampler, "sampler", None)
    return batches.sampler if isinstance(batches, BatchSampler) else None


def epoch_shuffle_start(trainer) -> None:
    """Callback (epoch start): set the epoch of the single-process (seed, epoch) shuffle (`use_epoch_shuffle`) or of
    repeat-factor sampling (`rfs`, any number of processes: Ultralytics sets only the loader's own DDP sampler)."""
    sampler = batch_source(trainer.train_loader)
    if isinstance(sampler, RepeatFactorSampler) or (RANK == -1 and isinstance(sampler, DistributedSampler)):
        sampler.set_epoch(trainer.epoch)


def use_epoch_shuffle(loader, seed: int):
    """Make a single-process training loader shuffle like one DDP rank: epoch e's order depends on (seed, e) only.

    Ultralytics' single-process loader draws each epoch's order from one generator that runs on from the first
    epoch (and that also seeds its iterators), so a resumed run, with a fresh generator, sees other orders. Here the
    batch sampler draws from a one-replica `DistributedSampler(seed=seed)` instead of the loader's `RandomSampler`,
    set to the epoch by `epoch_shuffle_start` before the epoch's first batch is drawn (the loader itself is not
    touched: its batches come from its batch sampler). Other samplers (rect, DDP) are left alone.
    """
    if isinstance(batch_source(loader), RandomSampler):
        loader.batch_sampler.sampler.sampler = DistributedSampler(loader.dataset, num_replicas=1, rank=0,
                                                                  shuffle=True, seed=int(seed))
    return loader


def use_repeat_factors(loader, threshold: float, nc: int, seed: int, rank: int = -1, asked: bool = True):
    """Draw a training loader's batches by repeat-factor sampling with threshold `threshold` (`rfs`), its epoch
    order by (seed, epoch) as `use_epoch_shuffle`'s; under DDP each rank takes its share of the same epoch list.
    `asked=False` (the threshold is a family default, not the user's): a threshold that repeats no image is logged
    as information, not warned about.

    Raises:
        ValueError: the loader's batches do not come from a plain sampler (e.g. `rect=True`).
    """
    if getattr(loader.dataset, "rect", False) or batch_source(loader) is None:
        raise ValueError("rfs (repeat-factor sampling) needs the shuffled training loader; not with rect=True")
    factors = repeat_factors([lb["cls"] for lb in loader.dataset.labels], nc, float(threshold))
    world, rank = (int(os.environ.get("WORLD_SIZE", 1)), int(os.environ.get("RANK", rank))) if rank != -1 else (1, 0)
    loader.batch_sampler.sampler.sampler = RepeatFactorSampler(factors, seed, world, rank)
    LOGGER.info(f"rfs={threshold}: repeat factors {factors.min():.2f}-{factors.max():.2f}, {len(factors)} images -> "
                f"{round(factors.sum())} per epoch")
    share = image_share([lb["cls"] for lb in loader.dataset.labels], nc) if factors.max() <= 1.0 else None
    if share is not None and share.any():  # a no-op: say why (the rarest class present is not rare by image)
        rarest = int(np.flatnonzero(share)[share[share > 0].argmin()])
        name = dict(getattr(loader.dataset, "data", {}).get("names", {})).get(rarest, rarest)
        say = LOGGER.warning if asked else LOGGER.info
        say(f"rfs={threshold} repeats no image: the rarest class ({name}) is in {share[rarest]:.1%} of the training "
            f"images. Repeat-factor sampling rebalances by image; an rfs above {share[rarest]:.3f} repeats some, but "
            "classes that share their images with frequent ones cannot be rebalanced this way (a class-aware loss "
            "can: cls_loss=gjr or eqfl)")
    return loader


def _own_state(module: nn.Module) -> dict:
    """The module's state dict without a distillation teacher (rebuilt from `distill_model` on resume)."""
    return {k: v for k, v in module.state_dict().items() if not k.startswith("teacher_model.")}


def _rng_state() -> dict:
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    return {
        "python": random.getstate(),
        "numpy": [kind, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, gauss],
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


def _set_rng_state(state: dict) -> None:
    random.setstate(tuple(x if not isinstance(x, list) else tuple(x) for x in state["python"]))
    kind, keys, pos, has_gauss, gauss = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, gauss))
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_resume_state(trainer) -> Path:
    """Write `weights/resume_state.pt` beside last.pt: what Ultralytics' checkpoint rounds or leaves out.

    last.pt holds the EMA in fp16 (the resumed model starts from it, not from the trained weights) and the optimizer
    state in fp16, and no random state. This file holds, for the same epoch: the trained weights, the EMA and the
    optimizer state in fp32, the Python / NumPy / torch random states and the training images kept for mosaic.
    """
    loader = trainer.train_loader
    state = {
        "epoch": trainer.epoch,
        "updates": trainer.ema.updates,
        "model": _own_state(unwrap_model(trainer.model)),
        "ema": _own_state(trainer.ema.ema),
        "optimizer": trainer.optimizer.state_dict(),
        "rng": _rng_state(),
        "mosaic_buffer": [int(i) for i in getattr(loader.dataset, "buffer", [])] if loader.num_workers == 0 else None,
    }
    path = Path(trainer.last).with_name(RESUME_STATE)
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)  # a kill while writing never leaves a half-written file
    return path


def load_resume_state(trainer, ckpt: dict) -> bool:
    """Restore what `save_resume_state` wrote for the checkpoint being resumed; False (with a log line) otherwise.

    Random states and the mosaic image buffer are restored in single-process runs with workers=0 only (DDP ranks
    and dataloader workers have their own, which are not saved), so only those resume exactly.
    """
    path = Path(str(trainer.args.model)).with_name(RESUME_STATE)
    if not path.is_file():
        LOGGER.info(f"exact_resume: no {path.name} beside {path.parent / 'last.pt'}, resuming from its fp16 EMA")
        return False
    state = torch.load(path, map_location="cpu", weights_only=True)
    if (state["epoch"], state["updates"]) != (ckpt.get("epoch"), ckpt.get("updates")):
        LOGGER.warning(f"exact_resume: {path} is not from this checkpoint's epoch, resuming from its fp16 EMA")
        return False
    model, ema = unwrap_model(trainer.model), trainer.ema.ema
    if set(state["model"]) != set(_own_state(model)) or set(state["ema"]) != set(_own_state(ema)):
        LOGGER.warning(f"exact_resume: {path} does not match the model, resuming from its fp16 EMA")
        return False
    model.load_state_dict(state["model"], strict=False)
    ema.load_state_dict(state["ema"], strict=False)
    trainer.optimizer.load_state_dict(state["optimizer"])
    exact = RANK == -1 and trainer.train_loader.num_workers == 0 and state["mosaic_buffer"] is not None
    if exact:
        _set_rng_state(state["rng"])
        dataset = trainer.train_loader.dataset
        if isinstance(getattr(dataset, "buffer", None), list):
            for i in dataset.buffer:
                dataset.ims[i] = dataset.im_hw0[i] = dataset.im_hw[i] = None
            dataset.buffer.clear()
            for i in state["mosaic_buffer"]:
                dataset.load_image(i)  # caches the image and appends it to the buffer, in the saved order
    LOGGER.info(f"exact_resume: fp32 weights, EMA and optimizer{', random states and mosaic buffer' if exact else ''} "
                f"restored from {path}")
    return True
