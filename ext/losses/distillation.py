"""Knowledge-distillation terms for the HSD student, in float32 with the teacher side detached (gradients reach
the student only).

- Per anchor: `ld_kl` (localization distillation on box-side distributions) and `kl_cls` (class-logit KL).
- Per batch, at the student's foreground anchors of a head output {"boxes", "scores"}:
  `localization_distillation` (score-weighted LD sum per image), `box_distillation` (GIoU to the teacher's box,
  for heads without matching distributions), `teacher_ahead` (the `ld_gate` mask) and `region_distillation` (LD on
  the valuable localization region around the foreground, `ld_vlr`; the region: `ext.losses.vlr`).

`ext.models.hsd.distill` wires them into Ultralytics' distillation; its docstring gives the weights.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from ultralytics.utils.metrics import bbox_iou


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


def _around_anchor(d: torch.Tensor) -> torch.Tensor:
    """[N, 4] side distances (l, t, r, b) -> [N, 4] xyxy box with its anchor at the origin."""
    return torch.cat([-d[:, :2], d[:, 2:]], -1)


def _sides(head_out: dict, read_out: nn.Module, fg: torch.Tensor) -> torch.Tensor:
    """[N, 4] float32 expected side distances (l, t, r, b, cells) at the foreground anchors `fg` [B, A] of a head
    output {"boxes": [B, 4 * R, A]}, read out by the head's `dfl` module ([B, 4 * R, A] -> [B, 4, A]). The read-out
    runs with autocast off: under AMP the DFL's 1x1 conv would otherwise give bf16/fp16 sides."""
    boxes = head_out["boxes"]
    with torch.autocast(device_type=boxes.device.type, enabled=False):
        return read_out(boxes.float()).permute(0, 2, 1)[fg]


def teacher_ahead(s: dict, t: dict, fg: torch.Tensor, read_out: tuple[nn.Module, nn.Module],
                  targets: torch.Tensor) -> torch.Tensor:
    """`ld_gate`'s mask: [N] float32, 1 at the foreground anchors where the teacher's box has a higher IoU with
    the assigned ground-truth box than the student's, else 0 (ties: 0). No gradient.

    Args:
        s, t, fg, read_out: as in `box_distillation`.
        targets: [B, A, 4] assigned ground-truth boxes, xyxy in cells with each anchor at the origin
            (`ext.losses.DetectionLoss.fg_targets`).
    """
    with torch.no_grad():
        gt = targets[fg].float()
        iou_s = bbox_iou(_around_anchor(_sides(s, read_out[0], fg)), gt, xywh=False).squeeze(-1)
        iou_t = bbox_iou(_around_anchor(_sides(t, read_out[1], fg)), gt, xywh=False).squeeze(-1)
        return (iou_t > iou_s).float()


def box_distillation(s: dict, t: dict, fg: torch.Tensor, read_out: tuple[nn.Module, nn.Module],
                     weight: float, gate: torch.Tensor | None = None) -> torch.Tensor:
    """Box distillation [1] (module docstring): weight * sum w_i (1 - GIoU_i) / sum w_i.

    Args:
        s, t: student / teacher head outputs {"boxes": [B, 4 * R, A], "scores": [B, C, A]}.
        fg: [B, A] bool, the student's foreground anchors.
        read_out: (student, teacher) heads' `dfl` modules, [B, 4 * R, A] -> [B, 4, A] expected side distances
            (Ultralytics' DFL integral, or the identity of a reg_max 1 head).
        weight: the gain (ld_weight * box / 0.25).
        gate: optional [N] mask (`teacher_ahead`) on the terms; the normalisation stays the sum of all w_i.
    """
    ds = _sides(s, read_out[0], fg)  # [N, 4] l, t, r, b in cells
    dt = _sides({"boxes": t["boxes"].detach()}, read_out[1], fg)
    w = t["scores"].detach().permute(0, 2, 1)[fg].float().sigmoid().amax(-1)  # [N] teacher's confidence
    giou = bbox_iou(_around_anchor(ds), _around_anchor(dt), xywh=False, GIoU=True).squeeze(-1)
    kept = w if gate is None else w * gate
    return (weight * ((1 - giou) * kept).sum() / w.sum().clamp(min=1e-9)).reshape(1)


def _ld_sum(s: dict, t: dict, mask: torch.Tensor, w: torch.Tensor, reg_max: int, T: float) -> torch.Tensor:
    """sum over the anchors of `mask` [B, A] of w_i * ld_kl_i, w [N] one weight per masked anchor."""
    b, _, a = s["boxes"].shape
    sd = s["boxes"].permute(0, 2, 1).reshape(b, a, 4, reg_max)[mask]  # [N, 4, R]
    td = t["boxes"].permute(0, 2, 1).reshape(b, a, 4, reg_max)[mask]
    return ld_kl(sd, td, T, weight=w).sum()


def localization_distillation(s: dict, t: dict, fg: torch.Tensor, reg_max: int, T: float,
                              weight: float, gate: torch.Tensor | None = None) -> torch.Tensor:
    """HSD's LD term [1] per image: weight * sum over fg anchors of (top score * ld_kl) / B.

    Args:
        s, t: student / teacher head outputs, {"boxes": [B, 4 * reg_max, A] logits, "scores": [B, C, A] logits}.
        fg: [B, A] bool, the student's foreground anchors.
        reg_max: bins per box side.
        T: temperature; weight: the LD gain (ld_weight * dfl / 0.25).
        gate: optional [N] mask (`teacher_ahead`) multiplying each anchor's term.
    """
    w = s["scores"].permute(0, 2, 1)[fg].detach().float().sigmoid().amax(-1)  # [N] student's top class score
    w = w if gate is None else w * gate
    return (weight * _ld_sum(s, t, fg, w, reg_max, T) / s["boxes"].shape[0]).reshape(1)


def region_distillation(s: dict, t: dict, region: torch.Tensor, reg_max: int, T: float,
                        weight: float) -> torch.Tensor:
    """LD on the valuable localization region [1] per image: weight * sum over anchors of region_i * ld_kl_i / B.

    Args:
        s, t, reg_max, T: as in `localization_distillation`.
        region: [B, A] per-anchor weights, 0 outside the region (`ext.losses.vlr.valuable_region`: the anchor box's
            IoU with its ground-truth box, the student's foreground removed).
        weight: the gain (ld_vlr * dfl / 0.25).
    """
    keep = region > 0
    return (weight * _ld_sum(s, t, keep, region[keep], reg_max, T) / s["boxes"].shape[0]).reshape(1)
