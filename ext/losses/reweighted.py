"""Gradient-reweighted classification losses: EQLv2, GJR (GJADet) and EQFL, on one base that keeps per-class gradient
statistics in registered buffers (float32, shape [C]), all-reduced across DDP ranks; and `region_rows`, the anchors
where a long-tail loss acts (`gjr_region`), shared with EQL (`equalization.py`). Calling convention as in
`classification.py`: (logits [..., C], targets [..., C]) -> loss [..., C], float32."""

from __future__ import annotations

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from ..defaults import or_default
from .elementwise import _as_float, _distributed_world, _no_autocast, quality_focal_element
from .names import REWEIGHT_REGIONS


def checked_region(region: str) -> str:
    """``region`` in lower case, one of REWEIGHT_REGIONS.

    Raises:
        ValueError: any other value.
    """
    region = str(region).lower()
    if region not in REWEIGHT_REGIONS:
        raise ValueError(f"region={region!r} is invalid; valid regions: {', '.join(REWEIGHT_REGIONS)}")
    return region


def region_rows(targets: torch.Tensor, region: str, candidates: torch.Tensor | None = None) -> torch.Tensor | None:
    """[..., 1] float32, 1 on the rows (anchors) of ``region`` (REWEIGHT_REGIONS), or None for "all".

    "foreground": rows of ``targets`` [..., C] with a positive entry; "candidates": those and the rows marked in
    ``candidates`` ([..., 1] bool, the assigner's candidates, `DetectionLoss.candidates`).

    Raises:
        ValueError: "candidates" without ``candidates`` shaped like the targets' rows.
    """
    if region == "all":
        return None
    fg = targets.amax(-1, keepdim=True) > 0
    if region == "candidates":
        if candidates is None or candidates.shape != fg.shape:
            raise ValueError(f"region='candidates' needs `candidates` [..., 1] set before the call, shaped like the "
                             f"targets' rows {tuple(fg.shape)}; got "
                             f"{None if candidates is None else tuple(candidates.shape)}")
        fg = fg | candidates.to(fg.device, torch.bool)
    return fg.float()


class GradientReweightedLoss(nn.Module):
    """Per-class reweighting driven by accumulated positive/negative gradient statistics (EQLv2 / GJR).

    Element loss ``e`` (BCE for EQLv2, quality focal for GJR) is multiplied by a per-element weight::

        q_j   = 1 / (1 + exp(-gamma (r_j - mu)))          per class j
        w     = (1 + alpha (1 - q_j)) * t + q_j * (1 - t)  positive weight on t, negative weight on 1 - t
        loss  = w * e                                       [..., C], no reduction

    After the loss is formed, and only when ``self.training`` and ``torch.is_grad_enabled()``, the
    statistics are updated with the detached weight and g = |sigmoid(z) - t|::

        pos_grad_j += sum(g * t * w),  neg_grad_j += sum(g * (1 - t) * w),  ratio_j = pos_j / (neg_j + 1e-10)

    ``ratio`` starts at 100, so q ~= 1 and the first step is the un-weighted element loss. A class that has
    collected no gradient at all after an update gets ratio 0 (as in EQLv2 and the GJADet code).

    Dense one-stage design (``region``): in an Ultralytics head the class scores also carry background, and
    thousands of background anchors would make every class's negative-gradient share dominate, pushing every
    negative weight q_j to 0 (the EQLv2 collapse on one-stage detectors). So statistics are counted and weights
    applied in a region of anchors (rows over the last dim); the other rows keep the plain element loss (weight 1):

    - ``"foreground"`` (default): rows with a positive target, ``targets.amax(-1) > 0``;
    - ``"candidates"``: the foreground and the anchors the caller marks in ``self.candidates`` ([..., 1] bool, set
      before each call; `DetectionLoss` sets the assigner's candidates, anchors whose centre lies in a ground-truth
      box), so a rare class's negatives near other classes' objects count and are suppressed there;
    - ``"all"``: every row (the public-code behaviour transplanted to a head without objectness).

    ``paused`` (attribute, default False; `gjr_warmup` sets it for the first epochs): the statistics are not
    updated, so the weights stay where they are: at the start (ratio 100) every weight is 1 and the loss is the plain
    element loss, and the statistics count from the first step after the pause.

    Buffers (float32, shape [C], in state_dict, moved by ``.to``): ``pos_grad``, ``neg_grad``, ``ratio``.
    Under torch.distributed with world size > 1 the per-step increments are all-reduced (SUM) before being
    added, so every rank holds identical statistics; every rank must then call the loss in lock-step. No
    host-device synchronisation happens per step.
    """

    INIT_RATIO = 100.0
    EPS = 1e-10

    def __init__(self, nc: int, gamma: float, mu: float, alpha: float, region: str = "foreground"):
        """Create the statistics buffers for ``nc`` classes and store the reweighting hyper-parameters."""
        super().__init__()
        if nc < 1:
            raise ValueError(f"nc must be >= 1, got {nc}")
        region = checked_region(region)
        self.nc = int(nc)
        self.gamma = float(gamma)
        self.mu = float(mu)
        self.alpha = float(alpha)
        self.region = region
        self.candidates = None  # [..., 1] bool, set by the caller before each call when region == "candidates"
        self.paused = False  # True: statistics not updated (`gjr_warmup`)
        self.register_buffer("pos_grad", torch.zeros(self.nc, dtype=torch.float32))
        self.register_buffer("neg_grad", torch.zeros(self.nc, dtype=torch.float32))
        self.register_buffer("ratio", torch.full((self.nc,), self.INIT_RATIO, dtype=torch.float32))

    def element_loss(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Un-weighted element loss, [..., C] float32 -> [..., C] float32 (defined by subclasses)."""
        raise NotImplementedError

    @property
    def gradient_ratio(self) -> torch.Tensor:
        """Current per-class ratio r = pos_grad / (neg_grad + 1e-10), a detached copy, shape [C]."""
        return self.ratio.detach().clone()

    def class_weights(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-class (positive weight, negative weight), each [C] float32, from the current ratio."""
        q = torch.sigmoid(self.gamma * (self.ratio - self.mu))
        return 1 + self.alpha * (1 - q), q

    def reset_statistics(self) -> None:
        """Zero the gradient sums and set the ratio back to its initial value (100)."""
        self.pos_grad.zero_()
        self.neg_grad.zero_()
        self.ratio.fill_(self.INIT_RATIO)

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Reweighted element-wise loss.

        Args:
            logits: [..., C] class logits (any float dtype).
            targets: [..., C] soft targets in [0, 1]; all-zero rows are background.

        Returns:
            [..., C] float32 element-wise loss (no reduction).
        """
        if logits.shape[-1] != self.nc:
            raise ValueError(f"expected {self.nc} classes in the last dim, got shape {tuple(logits.shape)}")
        if self.ratio.device != logits.device:  # follow the data if the caller forgot .to(device)
            self.to(logits.device)
        with _no_autocast(logits):
            z, t = _as_float(logits, targets)
            pos_w, neg_w = self.class_weights()
            w = pos_w * t + neg_w * (1 - t)  # [..., C]
            fg = region_rows(t, self.region, self.candidates)
            if fg is not None:
                w = fg * w + (1 - fg)  # rows outside the region: weight 1
            loss = w * self.element_loss(z, t)
            if self.training and torch.is_grad_enabled() and not self.paused:
                self._update_statistics(z.detach(), t, w.detach(), fg)
        return loss

    @torch.no_grad()
    def _update_statistics(
        self, logits: torch.Tensor, targets: torch.Tensor, weights: torch.Tensor, fg: torch.Tensor | None
    ) -> None:
        """Add this step's weighted gradient sums (all-reduced across ranks) and refresh the ratio.

        Args:
            logits: [..., C] float32 detached logits.
            targets: [..., C] float32 targets.
            weights: [..., C] float32 detached weights used in the loss.
            fg: [..., 1] float32 mask of the region (`region_rows`), or None to count every anchor.
        """
        gw = (logits.sigmoid() - targets).abs() * weights
        if fg is not None:
            gw = gw * fg
        pos = (gw * targets).reshape(-1, self.nc).sum(0)
        neg = (gw * (1 - targets)).reshape(-1, self.nc).sum(0)
        increments = torch.stack((pos, neg))  # [2, C]
        if _distributed_world():
            dist.all_reduce(increments, op=dist.ReduceOp.SUM)
        self.pos_grad.add_(increments[0])
        self.neg_grad.add_(increments[1])
        self.ratio.copy_(self.pos_grad / (self.neg_grad + self.EPS))

    def extra_repr(self) -> str:
        """Hyper-parameters for print(module)."""
        return f"nc={self.nc}, gamma={self.gamma}, mu={self.mu}, alpha={self.alpha}, region={self.region}"


class EQLv2Loss(GradientReweightedLoss):
    """EQLv2 (Tan et al. 2021) on sigmoid BCE: loss = w * BCE(z, t), [..., C] -> [..., C] float32.

    Same statistics and weights as :class:`GJRLoss` (see :class:`GradientReweightedLoss`, including the
    foreground-only default for dense one-stage heads), without the |t - p|^beta factor.
    """

    def __init__(self, nc: int, gamma: float | None = None, mu: float | None = None, alpha: float | None = None,
                 region: str | None = None):
        """EQLv2; None takes the package default of `eqlv2_gamma`, `eqlv2_mu`, `eqlv2_alpha` (cfg/default.yaml: the
        paper's 12, 0.8, 4)."""
        super().__init__(nc, gamma=or_default(gamma, "eqlv2_gamma"), mu=or_default(mu, "eqlv2_mu"),
                         alpha=or_default(alpha, "eqlv2_alpha"), region=or_default(region, "gjr_region"))

    def element_loss(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """BCE with logits, [..., C] -> [..., C]."""
        return F.binary_cross_entropy_with_logits(logits, targets, reduction="none")


class GJRLoss(GradientReweightedLoss):
    """GJR, the GJADet classification loss: w * BCE(z, t) * |t - sigmoid(z)|^beta, [..., C] -> [..., C].

    Quality focal element loss reweighted per class by gradient statistics (see
    :class:`GradientReweightedLoss`). An argument left None takes the package default of its key
    (cfg/default.yaml, the one place: `gjr_gamma` 5, `gjr_mu` 0.8, `gjr_alpha` 4 as the GJADet training script,
    `gjr_beta` 0, the BCE element: GJR's reweighting over plain BCE, which trained better on crash-synth and
    rail-tracks, docs/design.md); the paper's form is `beta=2` (`gjr_beta=2`). By default
    (`gjr_region` foreground) only foreground anchors (target row with any positive value) are reweighted and
    counted; background anchors keep the plain element loss. The ratio starts at 100, so the first call
    equals the un-weighted element (:class:`QualityFocalLoss` at beta 2, BCE at beta 0). Differences from
    the public code: buffers follow the module's device, increments are all-reduced across ranks,
    statistics live in state_dict (restored on resume).
    """

    def __init__(self, nc: int, gamma: float | None = None, mu: float | None = None, alpha: float | None = None,
                 beta: float | None = None, region: str | None = None):
        """GJR for ``nc`` classes; None takes the package default of `gjr_gamma`, `gjr_mu`, `gjr_alpha`, `gjr_beta`,
        `gjr_region`."""
        super().__init__(nc, gamma=or_default(gamma, "gjr_gamma"), mu=or_default(mu, "gjr_mu"),
                         alpha=or_default(alpha, "gjr_alpha"), region=or_default(region, "gjr_region"))
        self.beta = float(or_default(beta, "gjr_beta"))

    def element_loss(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Quality focal term, [..., C] -> [..., C]."""
        return quality_focal_element(logits, targets, self.beta)

    def extra_repr(self) -> str:
        """Hyper-parameters for print(module)."""
        return f"{super().extra_repr()}, beta={self.beta}"


class EQFLoss(GradientReweightedLoss):
    """Equalized quality focal loss (EQFL; Li et al., "Equalized Focal Loss for Dense Long-Tailed Object
    Detection", CVPR 2022): the one-stage successor of EQLv2, on the quality focal element of GFL.

    Per class j, with g_j = min(1, pos_grad_j / neg_grad_j) the accumulated gradient ratio (statistics of
    :class:`GradientReweightedLoss`, counted without weights over every anchor, as the EFL code does)::

        beta_j = gamma_b + scale * (1 - g_j)                 focusing exponent: larger for rarer classes
        loss   = (beta_j / gamma_b) * BCE(z, t) * |t - sigmoid(z)|^beta_j     [..., C] -> [..., C]

    The ratio starts at 100 (g = 1), so the first call is the quality focal loss with beta = gamma_b. Unlike
    EQLv2 / GJR it does not down-weight negatives: a rare class gets a larger focusing exponent (its many easy
    negatives fade) and a larger weight (its few hard samples count more), on positive and negative elements alike.

    Args:
        nc: classes. gamma_b: base focusing exponent; scale: s, the focusing range (None: the package defaults
            `eqfl_gamma`, `eqfl_scale`, the EFL paper's 2 and 8).
    """

    def __init__(self, nc: int, gamma_b: float | None = None, scale: float | None = None):
        """EQFL for ``nc`` classes."""
        super().__init__(nc, gamma=0.0, mu=0.0, alpha=0.0, region="all")
        self.gamma_b, self.scale = float(or_default(gamma_b, "eqfl_gamma")), float(or_default(scale, "eqfl_scale"))

    def exponents(self) -> torch.Tensor:
        """Per-class focusing exponents beta_j, [C] float32."""
        return self.gamma_b + self.scale * (1 - self.ratio.clamp(0, 1))

    def class_weights(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The weight beta_j / gamma_b for positive and negative elements alike."""
        w = self.exponents() / self.gamma_b
        return w, w

    def element_loss(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Quality focal term with the per-class exponent, [..., C] -> [..., C]."""
        return quality_focal_element(logits, targets, self.exponents())

    @torch.no_grad()
    def _update_statistics(self, logits, targets, weights, fg) -> None:
        """The base's update with unit weights (EFL's statistics are of the plain gradient |p - t|)."""
        super()._update_statistics(logits, targets, torch.ones_like(weights), fg)

    def extra_repr(self) -> str:
        """Hyper-parameters for print(module)."""
        return f"nc={self.nc}, gamma_b={self.gamma_b}, scale={self.scale}"
