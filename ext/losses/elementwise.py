"""Shared by the classification losses: float32 casts with autocast off, the distributed-world test, and the
quality-focal element (BCE modulated by |target - p|^beta)."""

from __future__ import annotations

import torch
import torch.distributed as dist
import torch.nn.functional as F


def _as_float(logits: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Cast logits and targets to float32 (targets moved to the logits' device)."""
    return logits.float(), targets.to(device=logits.device, dtype=torch.float32)


def _no_autocast(tensor: torch.Tensor) -> torch.autocast:
    """Context that disables autocast for the device type of ``tensor``."""
    return torch.autocast(device_type=tensor.device.type, enabled=False)


def _distributed_world() -> bool:
    """True when torch.distributed is initialised with more than one process."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def quality_focal_element(logits: torch.Tensor, targets: torch.Tensor, beta: float | torch.Tensor) -> torch.Tensor:
    """Quality focal term BCE(z, t) * |t - sigmoid(z)|^beta.

    Args:
        logits: [..., C] float32 logits z.
        targets: [..., C] float32 soft targets t in [0, 1].
        beta: modulation exponent (beta = 0 gives plain BCE), or a [C] tensor of one exponent per class (EQFL).

    Returns:
        [..., C] float32 element-wise loss.
    """
    bce = F.binary_cross_entropy_with_logits(logits, targets, reduction="none")
    if not isinstance(beta, torch.Tensor) and beta == 0:
        return bce
    return bce * (targets - logits.sigmoid()).abs().pow(beta)
