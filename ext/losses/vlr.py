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
    out = torch.zeros(gt.shape[0], anchors.shape[0], device=anchors.device)
    with torch.no_grad(), torch.autocast(device_type=anchors.device.type, enabled=False):
        half = strides.float().reshape(-1, 1) * scale / 2
        boxes = torch.cat([anchors.float() - half, anchors.float() + half], -1)  # [A, 4]
        for i in range(gt.shape[0]):  # one image at a time: [A, M] pairs, not [B, A, M] (8400 x 200 at 640 px)
            g = gt[i][gt_mask[i].bool()].float()  # [M, 4]
            if len(g):
                out[i] = _one_image(anchors.float(), boxes, level_sizes, g, lower, topk)
    return out


def _one_image(anchors: torch.Tensor, boxes: torch.Tensor, level_sizes: list[int], gt: torch.Tensor, lower: float,
               topk: int) -> torch.Tensor:
    """[A] VLR IoU of one image: anchors [A, 2] px, their boxes [A, 4] xyxy px, ground truth [M, 4] xyxy px."""
    iou = bbox_iou(boxes[:, None], gt[None], xywh=False).squeeze(-1)  # [A, M]
    diou = bbox_iou(boxes[:, None], gt[None], xywh=False, DIoU=True).squeeze(-1)
    dist = (anchors[:, None] - (gt[None, :, :2] + gt[None, :, 2:]) / 2).norm(dim=-1)  # [A, M] centre distances
    candidates, start = [], 0
    for n in level_sizes:
        idx = dist[start:start + n].topk(min(topk, n), dim=0, largest=False).indices + start  # [k, M]
        candidates.append(iou.gather(0, idx))
        start += n
    cand = torch.cat(candidates)  # [K, M]
    t = cand.mean(0) + cand.std(0).nan_to_num()  # [M] ATSS threshold
    inside = (diou >= lower * t) & (diou < t)
    return torch.where(inside, iou, torch.zeros_like(iou)).amax(-1)
