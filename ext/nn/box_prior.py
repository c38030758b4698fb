"""The initial box distribution of a DFL head: where its boxes start, in cells of their level.

A head with ``reg_max`` bins predicts, per anchor and box side, logits over the distances 0 .. reg_max - 1 (in
grid cells of the anchor's level) and reads out their expected value. Ultralytics' `Detect.bias_init` sets every
box bias to 2.0: with 16 bins the distribution starts uniform, an expected side of 7.5 cells (a ~120 px box at
stride 8). Task-aligned assignment scores anchors by IoU**6 with the ground truth, so for 6-10 px objects such a
start gives almost no anchor a signal, and they are never learned (rail-tracks' clips: docs/design.md, its
figures and command).
A direct-regression head (``reg_max: 1``) starts at 2.0 cells a side, because its distance is the bias itself.

`dfl_prior` (model YAML key, or the training key of the same name) gives a DFL head the same start as a direct-
regression head: the distribution over bins with the largest entropy whose mean is ``d`` cells, which is the
truncated geometric one, ``p_j ~ exp(-lam * j)`` (Jaynes' maximum-entropy principle: the least committed
distribution that has the mean asked for). ``d = 2.0`` is the package's default: boxes start 4 cells wide at each
level (32 px at P3, 128 px at P5), proportional to the level's stride, as a direct-regression head's do.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

__all__ = ("expected_side", "max_entropy_logits", "prior_of", "set_box_prior")


def max_entropy_logits(reg_max: int, mean: float) -> torch.Tensor:
    """Logits -lam * j (j = 0 .. reg_max - 1) of the maximum-entropy distribution with expected bin ``mean``.

    Args:
        reg_max: number of bins (> 1).
        mean: expected bin, in cells, 0 < mean < reg_max - 1; (reg_max - 1) / 2 gives the uniform start (lam = 0).

    Returns:
        (reg_max,) float32 logits, largest at bin 0 for means below the middle.
    """
    if reg_max < 2:
        raise ValueError(f"a box distribution needs reg_max > 1, got {reg_max}")
    if not 0 < mean < reg_max - 1:
        raise ValueError(f"dfl_prior={mean} must lie strictly between 0 and reg_max - 1 = {reg_max - 1} cells")
    j = torch.arange(reg_max, dtype=torch.float64)

    def mean_of(lam: float) -> float:
        return float((torch.softmax(-lam * j, 0) * j).sum())

    lo, hi = -50.0, 50.0  # mean_of decreases in lam from ~reg_max - 1 to ~0
    for _ in range(200):  # bisection to float64 precision
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if mean_of(mid) > mean else (lo, mid)
    return (-(lo + hi) / 2 * j).float()


def expected_side(logits: torch.Tensor) -> torch.Tensor:
    """Expected distance (in bins) of the distributions in ``logits`` (..., reg_max) -> (...)."""
    j = torch.arange(logits.shape[-1], dtype=torch.float32, device=logits.device)
    return (logits.float().softmax(-1) * j).sum(-1)


def _box_heads(head: nn.Module) -> list[nn.Module]:
    """The box branches (one per level) of a Detect-style head, one-to-one branch included."""
    branches = [getattr(head, "cv2", None), getattr(head, "one2one_cv2", None)]
    return [seq for b in branches if b is not None for seq in b]


def set_box_prior(head: nn.Module, cells: float | Sequence[float]) -> list[float]:
    """Set the box-logit biases of every level of ``head`` to `max_entropy_logits` with mean ``cells``.

    Args:
        head: an Ultralytics `Detect` (or subclass, e.g. HKH) with ``reg_max > 1``; its last box conv per level has
            4 * reg_max outputs ordered side-major (side * reg_max + bin), as `DFL` reads them.
        cells: one expected distance for every level, or one per level (P3, P4, ...).

    Returns:
        The expected distance per level that the biases give, in cells.
    """
    reg_max, nl = int(head.reg_max), int(head.nl)
    per_level = [float(cells)] * nl if isinstance(cells, (int, float)) else [float(c) for c in cells]
    if len(per_level) != nl:
        raise ValueError(f"dfl_prior has {len(per_level)} values for a head with {nl} levels")
    logits = [max_entropy_logits(reg_max, c) for c in per_level]
    seqs = _box_heads(head)
    for i, seq in enumerate(seqs):
        conv = seq[-1]
        with torch.no_grad():
            conv.bias.copy_(logits[i % nl].repeat(4).to(conv.bias))
    return [float(expected_side(x)) for x in logits]


def prior_of(value) -> float | list[float] | None:
    """A `dfl_prior` value as given in a YAML or on the command line: None/0/negative = Ultralytics' start."""
    if value is None or value is False:
        return None
    if isinstance(value, (list, tuple)):
        return [float(v) for v in value]
    v = float(value)
    return v if v > 0 and math.isfinite(v) else None
