"""The valuable localization region (VLR) of localization distillation (Zheng et al., LD, CVPR 2022 / TPAMI 2023).

LD distils box distributions at the positives and, with its own weight, at a ring of anchors around each
ground-truth box that the assignment leaves negative but that still carry localization knowledge. LD defines the
ring with ATSS's adaptive threshold on anchor boxes:

- each anchor point has an anchor box, a square of side `scale * stride` centred on it (ATSS/GFL: 8 strides);
- per ground-truth box, the `topk` anchors per level whose centres are nearest its centre are the candidates,
  and t = mean + std of the candidates' IoU with it is the positive threshold (ATSS);
- the anchors with `lower * t <= DIoU(anchor box, gt) < t` (LD: lower 0.25) are its VLR, over all anchors of every
  level; an anchor in the VLR of several boxes takes the one it overlaps most.

Our heads are anchor-free (Ultralytics' task-aligned assignment), so the anchor boxes exist only to draw the ring,
as in LD's own code, and the student's own foreground is removed from it by the caller (it is LD's main region).
"""

from __future__ import annotations

import torch
from ultralytics.utils.metrics import bbox_iou


def valuable_region(anchors: torch.Tensor, strides: torch.Tensor, level_sizes: list[int], gt: torch.Tensor,
                    gt_mask: torch.Tensor, scale: float = 8.0, lower: float = 0.25, topk: int = 9) -> torch.Tensor:
    """Each anchor's IoU with the ground-truth box whose VLR holds it, 0 outside every VLR. No gradient.

    Args:
        anchors: [A, 2] anchor points (x, y) in pixels, level after level.
        strides: [A] or [A, 1] stride of each anchor's level in pixels.
        level_sizes: anchors per level, in the order of `anchors` (sums to A).
        gt: [B, M, 4] ground-truth boxes, xyxy pixels (padding rows allowed).
        gt_mask: [B, M] bool, True for real boxes.
        scale: anchor box side in strides (ATSS/GFL/LD: 8).
        lower: the VLR's lower bound as a share of the positive threshold (LD: 0.25).
        topk: candidates per level for the threshold (ATSS: 9).

    Returns:
        [B, A] float32 IoU (0 to 1) of the anchor box with its VLR box; 0 where the anchor is in no VLR.
    """
    b, m = gt.shape[:2]
    if m == 0 or not gt_mask.any():
        return torch.zeros(b, anchors.shape[0], device=anchors.device)
    with torch.no_grad(), torch.autocast(device_type=anchors.device.type, enabled=False):
        half = strides.float().reshape(-1, 1) * scale / 2
        boxes = torch.cat([anchors.float() - half, anchors.float() + half], -1)  # [A, 4]
        pair = boxes[None, :, None, :], gt.float()[:, None, :, :]  # [1, A, 1, 4], [B, 1, M, 4]
        iou = bbox_iou(*pair, xywh=False).squeeze(-1)  # [B, A, M]
        diou = bbox_iou(*pair, xywh=False, DIoU=True).squeeze(-1)
        centre = (gt[..., :2].float() + gt[..., 2:].float()) / 2  # [B, M, 2]
        dist = (anchors.float()[None, :, None, :] - centre[:, None, :, :]).norm(dim=-1)  # [B, A, M]
        candidates, start = [], 0
        for n in level_sizes:
            idx = dist[:, start:start + n].topk(min(topk, n), dim=1, largest=False).indices + start  # [B, k, M]
            candidates.append(iou.gather(1, idx))
            start += n
        cand = torch.cat(candidates, 1)  # [B, K, M]
        t = (cand.mean(1) + cand.std(1).nan_to_num()).unsqueeze(1)  # [B, 1, M] ATSS threshold
        inside = (diou >= lower * t) & (diou < t) & gt_mask[:, None, :].bool()
        return torch.where(inside, iou, torch.zeros_like(iou)).amax(-1)  # [B, A]
