"""EQL, the equalization loss (Tan et al., "Equalization Loss for Long-Tailed Object Recognition", CVPR 2020), on a
dense one-stage head: sigmoid BCE whose negatives of rare classes are ignored at foreground anchors. Calling
convention as in `classification.py`: (logits [..., C], targets [..., C]) -> loss [..., C], float32."""

from __future__ import annotations

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from ..defaults import or_default
from .elementwise import _as_float, _distributed_world, _no_autocast
from .names import EQL_EVERY_ANCHOR
from .reweighted import checked_region, region_rows


class EQLLoss(nn.Module):
    """EQL over BCE: a rare class's negative elements get weight 0 in the region (``region``), everything else 1::

        w_ij  = 1 - E_i * T(f_j) * [t_ij = 0]       E_i: anchor i in the region; T(f) = [f < lam]
        loss  = w * BCE(z, t)                       [..., C] -> [..., C], no reduction

    EQL's reason: at an object of a frequent class, every rare class receives a negative gradient, and a rare class
    meets far more of those than it has positives of its own; EQL drops them. Its paper takes f_j from the share of
    the images holding class j and E from a two-stage detector's foreground proposals. Here, on a one-stage head
    without objectness:

    - E is the foreground (the anchors with a positive target, `region="foreground"`, default) or also the
      assigner's candidates (`"candidates"`, the anchors whose centre lies in a ground-truth box; set
      ``self.candidates`` [..., 1] bool before each call). Background anchors keep every negative: they are what
      teaches a class where there is nothing (so `"all"` is refused: a rare class would never learn background);
    - f_j is class j's share of the foreground anchors seen so far in training (buffer ``fg_count`` [C], counted
      before the weights of each training call, all-reduced across DDP ranks): those are the anchors whose
      negatives EQL drops, and the share follows the batches as sampled (with `rfs`, the resampled tail). The
      package's rare group is the same kind of share, of boxes, below 5 % (`ext.metrics.longtail`), hence ``lam``'s
      default 0.05 (`eql_lambda`). Before any count no class is rare (plain BCE).

    Args:
        nc: classes. lam: share threshold (None: `eql_lambda`). region: "foreground" or "candidates" (None:
            `gjr_region`).
    """

    def __init__(self, nc: int, lam: float | None = None, region: str | None = None):
        super().__init__()
        if nc < 1:
            raise ValueError(f"nc must be >= 1, got {nc}")
        lam, region = float(or_default(lam, "eql_lambda")), checked_region(or_default(region, "gjr_region"))
        if not 0 <= lam < 1:
            raise ValueError(f"eql_lambda={lam}: the rare-class share threshold must be in [0, 1) (1 would make every "
                             "class rare)")
        if region == "all":
            raise ValueError(EQL_EVERY_ANCHOR)
        self.nc, self.lam, self.region = int(nc), lam, region
        self.candidates = None  # [..., 1] bool, set by the caller before each call when region == "candidates"
        self.register_buffer("fg_count", torch.zeros(self.nc, dtype=torch.float32))

    @property
    def rare(self) -> torch.Tensor:
        """[C] bool: the classes whose share of the counted foreground anchors is below ``lam``."""
        return self.fg_count < self.lam * self.fg_count.sum()  # no counts yet: none

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """BCE with the rare classes' negatives in the region dropped; [..., C] -> [..., C] float32.

        Raises:
            ValueError: a class count other than ``nc``; region "candidates" without ``candidates``.
        """
        if logits.shape[-1] != self.nc:
            raise ValueError(f"expected {self.nc} classes in the last dim, got shape {tuple(logits.shape)}")
        if self.fg_count.device != logits.device:
            self.to(logits.device)
        with _no_autocast(logits):
            z, t = _as_float(logits, targets)
            region = region_rows(t, self.region, self.candidates)  # checked before anything is counted
            if self.training and torch.is_grad_enabled():
                self._count(t)
            ignored = region * self.rare.float() * (t <= 0).float()  # [..., C]
            return (1 - ignored) * F.binary_cross_entropy_with_logits(z, t, reduction="none")

    @torch.no_grad()
    def _count(self, targets: torch.Tensor) -> None:
        """Add this call's foreground anchors per class (a row counts for each class with a positive target)."""
        counts = (targets > 0).float().reshape(-1, self.nc).sum(0)
        if _distributed_world():
            dist.all_reduce(counts, op=dist.ReduceOp.SUM)
        self.fg_count.add_(counts)

    def extra_repr(self) -> str:
        """Hyper-parameters for print(module)."""
        return f"nc={self.nc}, lam={self.lam}, region={self.region}"
