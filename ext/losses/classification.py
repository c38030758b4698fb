"""Element-wise classification losses for dense detection heads.

Every loss here shares one calling convention, so that a detection criterion can swap them freely::

    loss = loss_fn(logits, targets)   # logits, targets: [..., C] -> loss: [..., C], float32

``logits`` are raw class scores, ``targets`` are (soft, IoU-aware) targets in [0, 1]; a row of ``targets``
that is all zero is a background anchor. No reduction is done: the caller sums and normalises. All
computation happens in float32 with autocast disabled, whatever the input dtype.

Losses: plain BCE, Focal, Quality Focal (QFL), EQL (``equalization.py``), EQLv2, EQFL (equalized quality focal) and
GJR (gradient-guided joint representation, the GJADet classification loss). EQLv2, EQFL and GJR share
:class:`GradientReweightedLoss` (``reweighted.py``), which keeps per-class gradient statistics in registered buffers
(float32, shape [C]).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from ultralytics.utils import LOGGER

from ..defaults import ext_default
from .elementwise import _as_float, _no_autocast, quality_focal_element
from .equalization import EQLLoss
from .names import CLS_LOSSES
from .reweighted import EQFLoss, EQLv2Loss, GJRLoss, GradientReweightedLoss

__all__ = ("CLS_LOSSES", "BCELoss", "EQFLoss", "EQLLoss", "EQLv2Loss", "FocalLoss", "GJRLoss", "GradientReweightedLoss",
           "QualityFocalLoss", "build_cls_loss", "quality_focal_element")


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


def build_cls_loss(name: str, nc: int, **kw) -> nn.Module:
    """Build an element-wise classification loss by name.

    Args:
        name: one of ``CLS_LOSSES`` ("bce", "focal", "qfl", "eqlv2", "eqfl", "eql", "gjr"), case-insensitive.
        nc: number of classes (used by eqlv2, eqfl, eql, gjr).
        **kw: optional settings; keys that do not apply to ``name`` are ignored. Recognised:
            gjr_gamma, gjr_mu, gjr_alpha, gjr_beta (gjr; beta's default 0, the BCE element: docs/design.md),
            eqlv2_gamma, eqlv2_mu, eqlv2_alpha (eqlv2; `gjr_mu` / `gjr_alpha` still set EQLv2's, with a deprecation
            warning, where its own keys are at their defaults: `eqlv2_setting`), gjr_region (gjr, eqlv2 and eql),
            eql_lambda (eql), eqfl_gamma, eqfl_scale (eqfl), focal_gamma, focal_alpha (focal), qfl_beta (qfl). A
            value of None or a missing key means the default: the package's (cfg/default.yaml) for our keys, the
            class's own for focal_* and qfl_beta, which are not keys of a run.

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
        return FocalLoss(**{k: kw[f"focal_{k}"] for k in ("gamma", "alpha") if f"focal_{k}" in kw})
    if key == "qfl":
        return QualityFocalLoss(**{"beta": kw["qfl_beta"]} if "qfl_beta" in kw else {})
    if key == "eqfl":
        return EQFLoss(nc, gamma_b=kw.get("eqfl_gamma"), scale=kw.get("eqfl_scale"))
    if key == "eql":
        return EQLLoss(nc, lam=kw.get("eql_lambda"), region=kw.get("gjr_region"))
    if key == "eqlv2":
        return EQLv2Loss(nc, gamma=kw.get("eqlv2_gamma"), mu=eqlv2_setting(kw, "mu"), alpha=eqlv2_setting(kw, "alpha"),
                         region=kw.get("gjr_region"))
    if key == "gjr":
        return GJRLoss(nc, gamma=kw.get("gjr_gamma"), mu=kw.get("gjr_mu"), alpha=kw.get("gjr_alpha"),
                       beta=kw.get("gjr_beta"), region=kw.get("gjr_region"))
    raise ValueError(f"unknown classification loss {name!r}; valid names: {', '.join(CLS_LOSSES)}")


def eqlv2_setting(kw: dict, name: str):
    """EQLv2's `mu` or `alpha` from the keys in `kw`: its own `eqlv2_<name>`; where that is absent or at its default
    and the GJR key that EQLv2 read before it had its own (`gjr_<name>`) is set to another value than its default,
    that value, with a deprecation warning. None: neither is set (the package default applies)."""
    new, old = f"eqlv2_{name}", f"gjr_{name}"
    if kw.get(old) is not None and kw[old] != ext_default(old) and kw.get(new, ext_default(new)) == ext_default(new):
        LOGGER.warning(f"cls_loss=eqlv2 reads {old}={kw[old]}: deprecated, EQLv2 has a key of its own, {new}= "
                       f"({old} is GJR's)")
        return kw[old]
    return kw.get(new)
