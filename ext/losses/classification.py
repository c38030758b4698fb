"""Element-wise classification losses for dense detection heads.

Every loss here shares one calling convention, so that a detection criterion can swap them freely::

    loss = loss_fn(logits, targets)   # logits, targets: [..., C] -> loss: [..., C], float32

``logits`` are raw class scores, ``targets`` are (soft, IoU-aware) targets in [0, 1]; a row of ``targets``
that is all zero is a background anchor. No reduction is done: the caller sums and normalises. All
computation happens in float32 with autocast disabled, whatever the input dtype.

Losses: plain BCE, Focal, Quality Focal (QFL), EQLv2 and GJR (gradient-guided joint representation, the
GJADet classification loss). EQLv2 and GJR share :class:`GradientReweightedLoss`, which keeps per-class
gradient statistics in registered buffers (float32, shape [C]).
"""

from __future__ import annotations

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from .names import CLS_LOSSES


def _as_float(logits: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Cast logits and targets to float32 (targets moved to the logits' device)."""
    return logits.float(), targets.to(device=logits.device, dtype=torch.float32)


def _no_autocast(tensor: torch.Tensor) -> torch.autocast:
    """Context that disables autocast for the device type of ``tensor``."""
    return torch.autocast(device_type=tensor.device.type, enabled=False)


def _distributed_world() -> bool:
    """True when torch.distributed is initialised with more than one process."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def quality_focal_element(logits: torch.Tensor, targets: torch.Tensor, beta: float) -> torch.Tensor:
    """Quality focal term BCE(z, t) * |t - sigmoid(z)|^beta.

    Args:
        logits: [..., C] float32 logits z.
        targets: [..., C] float32 soft targets t in [0, 1].
        beta: modulation exponent (beta = 0 gives plain BCE).

    Returns:
        [..., C] float32 element-wise loss.
    """
    bce = F.binary_cross_entropy_with_logits(logits, targets, reduction="none")
    if beta == 0:
        return bce
    return bce * (targets - logits.sigmoid()).abs().pow(beta)


class BCELoss(nn.Module):
    """Plain binary cross-entropy with logits, no reduction: [..., C] -> [..., C] float32."""

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Return BCE(z, t) element-wise, shape of ``logits``, float32."""
        with _no_autocast(logits):
            z, t = _as_float(logits, targets)
            return F.binary_cross_entropy_with_logits(z, t, reduction="none")


class FocalLoss(nn.Module):
    """Sigmoid focal loss (Lin et al. 2017), element-wise: [..., C] -> [..., C] float32.

    loss = BCE(z, t) * (1 - p_t)^gamma * a_t with p = sigmoid(z), p_t = t p + (1 - t)(1 - p) and
    a_t = t alpha + (1 - t)(1 - alpha). Soft targets enter p_t and a_t linearly. ``alpha < 0`` (or None)
    switches the alpha balancing off.
    """

    def __init__(self, gamma: float = 1.5, alpha: float | None = 0.25):
        """Store the focusing exponent ``gamma`` and the balancing factor ``alpha``."""
        super().__init__()
        self.gamma = float(gamma)
        self.alpha = None if alpha is None or alpha < 0 else float(alpha)

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Return the focal loss element-wise, shape of ``logits``, float32."""
        with _no_autocast(logits):
            z, t = _as_float(logits, targets)
            p = z.sigmoid()
            p_t = t * p + (1 - t) * (1 - p)
            loss = F.binary_cross_entropy_with_logits(z, t, reduction="none") * (1 - p_t).pow(self.gamma)
            if self.alpha is not None:
                loss = loss * (t * self.alpha + (1 - t) * (1 - self.alpha))
            return loss

    def extra_repr(self) -> str:
        """Hyper-parameters for print(module)."""
        return f"gamma={self.gamma}, alpha={self.alpha}"


class QualityFocalLoss(nn.Module):
    """Quality focal loss (Li et al. 2020, GFL): BCE(z, t) * |t - sigmoid(z)|^beta, [..., C] -> [..., C]."""

    def __init__(self, beta: float = 2.0):
        """Store the modulation exponent ``beta``."""
        super().__init__()
        self.beta = float(beta)

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Return the quality focal loss element-wise, shape of ``logits``, float32."""
        with _no_autocast(logits):
            z, t = _as_float(logits, targets)
            return quality_focal_element(z, t, self.beta)

    def extra_repr(self) -> str:
        """Hyper-parameters for print(module)."""
        return f"beta={self.beta}"


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

    Dense one-stage design (``fg_only=True``, the default): in an Ultralytics head the class scores also
    carry background, and thousands of background anchors would make every class's negative-gradient
    share dominate, pushing every negative weight q_j to 0 (the EQLv2 collapse on one-stage detectors).
    So an anchor (a row over the last dim) is foreground when ``targets.amax(-1) > 0``; statistics are
    accumulated over foreground rows only and the weights are applied to foreground rows only; background
    rows keep the plain element loss (weight 1). ``fg_only=False`` reweights and counts every anchor (the
    public-code behaviour transplanted to a head without objectness; kept for the ablation).

    Buffers (float32, shape [C], in state_dict, moved by ``.to``): ``pos_grad``, ``neg_grad``, ``ratio``.
    Under torch.distributed with world size > 1 the per-step increments are all-reduced (SUM) before being
    added, so every rank holds identical statistics; every rank must then call the loss in lock-step. No
    host-device synchronisation happens per step.
    """

    INIT_RATIO = 100.0
    EPS = 1e-10

    def __init__(self, nc: int, gamma: float, mu: float, alpha: float, fg_only: bool = True):
        """Create the statistics buffers for ``nc`` classes and store the reweighting hyper-parameters."""
        super().__init__()
        if nc < 1:
            raise ValueError(f"nc must be >= 1, got {nc}")
        self.nc = int(nc)
        self.gamma = float(gamma)
        self.mu = float(mu)
        self.alpha = float(alpha)
        self.fg_only = bool(fg_only)
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
            if self.fg_only:
                fg = (t.amax(-1, keepdim=True) > 0).float()  # [..., 1]
                w = fg * w + (1 - fg)  # background rows: weight 1
            else:
                fg = None
            loss = w * self.element_loss(z, t)
            if self.training and torch.is_grad_enabled():
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
            fg: [..., 1] float32 foreground mask, or None to count every anchor.
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
        return f"nc={self.nc}, gamma={self.gamma}, mu={self.mu}, alpha={self.alpha}, fg_only={self.fg_only}"


class EQLv2Loss(GradientReweightedLoss):
    """EQLv2 (Tan et al. 2021) on sigmoid BCE: loss = w * BCE(z, t), [..., C] -> [..., C] float32.

    Same statistics and weights as :class:`GJRLoss` (see :class:`GradientReweightedLoss`, including the
    foreground-only default for dense one-stage heads), without the |t - p|^beta factor.
    """

    def __init__(self, nc: int, gamma: float = 12.0, mu: float = 0.8, alpha: float = 4.0, fg_only: bool = True):
        """EQLv2 with the paper's defaults gamma=12, mu=0.8, alpha=4."""
        super().__init__(nc, gamma=gamma, mu=mu, alpha=alpha, fg_only=fg_only)

    def element_loss(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """BCE with logits, [..., C] -> [..., C]."""
        return F.binary_cross_entropy_with_logits(logits, targets, reduction="none")


class GJRLoss(GradientReweightedLoss):
    """GJR, the GJADet classification loss: w * BCE(z, t) * |t - sigmoid(z)|^beta, [..., C] -> [..., C].

    Quality focal element loss reweighted per class by gradient statistics (see
    :class:`GradientReweightedLoss`). Defaults follow the GJADet training script: gamma=5, mu=0.8,
    alpha=4, beta=2. By default (``fg_only=True``) only foreground anchors (target row with any positive
    value) are reweighted and counted; background anchors keep the plain quality focal loss. The ratio
    starts at 100, so the first call equals :class:`QualityFocalLoss`. Differences from the public code:
    buffers follow the module's device, increments are all-reduced across ranks, statistics live in
    state_dict (restored on resume).
    """

    def __init__(
        self, nc: int, gamma: float = 5.0, mu: float = 0.8, alpha: float = 4.0, beta: float = 2.0, fg_only: bool = True
    ):
        """GJR for ``nc`` classes."""
        super().__init__(nc, gamma=gamma, mu=mu, alpha=alpha, fg_only=fg_only)
        self.beta = float(beta)

    def element_loss(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Quality focal term, [..., C] -> [..., C]."""
        return quality_focal_element(logits, targets, self.beta)

    def extra_repr(self) -> str:
        """Hyper-parameters for print(module)."""
        return f"{super().extra_repr()}, beta={self.beta}"


def build_cls_loss(name: str, nc: int, **kw) -> nn.Module:
    """Build an element-wise classification loss by name.

    Args:
        name: one of ``CLS_LOSSES`` ("bce", "focal", "qfl", "eqlv2", "gjr"), case-insensitive.
        nc: number of classes (used by eqlv2 / gjr).
        **kw: optional settings; keys that do not apply to ``name`` are ignored. Recognised:
            gjr_gamma, gjr_beta (gjr), eqlv2_gamma (eqlv2), gjr_mu, gjr_alpha, fg_only (gjr and eqlv2),
            focal_gamma, focal_alpha (focal), qfl_beta (qfl). A value of None means "use the default".

    Returns:
        nn.Module mapping (logits [..., C], targets [..., C]) -> float32 loss [..., C].

    Raises:
        ValueError: unknown ``name``.
    """
    key = str(name).strip().lower()
    kw = {k: v for k, v in kw.items() if v is not None}
    if key == "bce":
        return BCELoss()
    if key == "focal":
        return FocalLoss(gamma=kw.get("focal_gamma", 1.5), alpha=kw.get("focal_alpha", 0.25))
    if key == "qfl":
        return QualityFocalLoss(beta=kw.get("qfl_beta", 2.0))
    if key in ("eqlv2", "gjr"):
        shared = {"mu": kw.get("gjr_mu", 0.8), "alpha": kw.get("gjr_alpha", 4.0), "fg_only": kw.get("fg_only", True)}
        if key == "eqlv2":
            return EQLv2Loss(nc, gamma=kw.get("eqlv2_gamma", 12.0), **shared)
        return GJRLoss(nc, gamma=kw.get("gjr_gamma", 5.0), beta=kw.get("gjr_beta", 2.0), **shared)
    raise ValueError(f"unknown classification loss {name!r}; valid names: {', '.join(CLS_LOSSES)}")
