"""Knowledge-distillation terms for the HSD student: localization distillation and class-logit distillation.

Both functions return a per-anchor loss (no reduction over anchors), computed in float32 with autocast
disabled; the teacher side is detached, so gradients reach the student only.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def _check_temperature(T: float) -> float:
    """Validate and return the distillation temperature as a float."""
    T = float(T)
    if not T > 0:
        raise ValueError(f"temperature T must be > 0, got {T}")
    return T


def ld_kl(
    student_logits: torch.Tensor, teacher_logits: torch.Tensor, T: float, weight: torch.Tensor | None = None
) -> torch.Tensor:
    """Localization distillation (LD, Zheng et al. 2022) on box-side distributions, per anchor.

    For each side s of an anchor, with p = softmax(teacher / T) and q = softmax(student / T) over the R bins::

        ld_side = T^2 * mean_over_bins( p_i * (log p_i - log q_i) )     = T^2 * KL(p || q) / R
        ld      = mean over the 4 sides of ld_side                        (then * weight if given)

    "Averaged over the bins of each side" (REFERENCE.md, HSD) is the LD/GFL implementation
    ``kl_div(reduction='none').mean(-1) * T^2``: the per-side KL is divided by R, not summed over bins. The
    LD head then averages the 4 sides of an anchor (its ``avg_factor=4``), which is the mean over sides here.

    Args:
        student_logits: [N, 4, R] (or [..., 4, R]) or [N * 4, R] student box-distribution logits.
        teacher_logits: same shape as ``student_logits``; detached inside.
        T: temperature (> 0); HSD uses T = 15.
        weight: optional per-anchor weight [N] (e.g. the class score), treated as a constant (detached).

    Returns:
        [N] float32 per-anchor loss (the caller sums / normalises, e.g. over positive anchors).
    """
    T = _check_temperature(T)
    if student_logits.shape != teacher_logits.shape:
        raise ValueError(f"shape mismatch: student {tuple(student_logits.shape)} teacher {tuple(teacher_logits.shape)}")
    with torch.autocast(device_type=student_logits.device.type, enabled=False):
        s = student_logits.float()
        t = teacher_logits.detach().to(device=s.device, dtype=torch.float32)
        if s.dim() == 2:  # [N * 4, R] -> [N, 4, R]
            if s.shape[0] % 4:
                raise ValueError(f"first dim of a 2-D input must be a multiple of 4, got {tuple(s.shape)}")
            s, t = s.reshape(-1, 4, s.shape[-1]), t.reshape(-1, 4, t.shape[-1])
        if s.dim() < 3 or s.shape[-2] != 4:
            raise ValueError(f"expected [N, 4, R] or [N*4, R] logits, got {tuple(student_logits.shape)}")
        log_q = F.log_softmax(s / T, dim=-1)
        log_p = F.log_softmax(t / T, dim=-1)
        kl = F.kl_div(log_q, log_p, reduction="none", log_target=True)  # p * (log p - log q), [..., 4, R]
        loss = kl.mean(-1).mean(-1) * (T * T)  # [...]
        if weight is not None:
            loss = loss * weight.detach().to(device=loss.device, dtype=torch.float32).reshape(loss.shape)
    return loss


def kl_cls(student_logits: torch.Tensor, teacher_logits: torch.Tensor, T: float) -> torch.Tensor:
    """Class-logit distillation for sigmoid (multi-label) heads, per anchor.

    Each class is an independent Bernoulli, as in a YOLO / GFL sigmoid classifier (no softmax across
    classes, which would be wrong for heads whose background is "all classes low"). With
    p = sigmoid(teacher / T) and q = sigmoid(student / T)::

        kl_j = p_j log(p_j / q_j) + (1 - p_j) log((1 - p_j) / (1 - q_j))
        loss = T^2 * sum over classes j of kl_j

    computed stably as BCE_with_logits(student / T, p) - BCE_with_logits(teacher / T, p).

    Args:
        student_logits: [N, C] (or [..., C]) student class logits.
        teacher_logits: same shape; detached inside.
        T: temperature (> 0).

    Returns:
        [N] (or [...]) float32 per-anchor loss, >= 0 up to rounding.
    """
    T = _check_temperature(T)
    if student_logits.shape != teacher_logits.shape:
        raise ValueError(f"shape mismatch: student {tuple(student_logits.shape)} teacher {tuple(teacher_logits.shape)}")
    with torch.autocast(device_type=student_logits.device.type, enabled=False):
        s = student_logits.float() / T
        t = teacher_logits.detach().to(device=student_logits.device, dtype=torch.float32) / T
        p = t.sigmoid()
        cross = F.binary_cross_entropy_with_logits(s, p, reduction="none")
        entropy = F.binary_cross_entropy_with_logits(t, p, reduction="none")
        return (cross - entropy).sum(-1) * (T * T)
