"""Ultralytics' detection loss with selectable classification (`cls_loss`) and box IoU (`iou_loss`) terms."""

from __future__ import annotations

import torch
from ultralytics.utils.loss import BboxLoss, E2ELoss, v8DetectionLoss
from ultralytics.utils.metrics import bbox_iou
from ultralytics.utils.tal import make_anchors

from ..keys import arg, check_choices
from .classification import build_cls_loss
from .names import IOU_LOSSES
from .reweighted import GradientReweightedLoss
from .vlr import valuable_region

IOU_FLAGS = {n: {f"{n[0].upper()}IoU": True} if n != "iou" else {} for n in IOU_LOSSES}  # bbox_iou's flags


class SelectableBboxLoss(BboxLoss):
    """Ultralytics' `BboxLoss` (IoU term + DFL/L1 term) whose IoU term is IoU, GIoU, DIoU or CIoU.

    Args:
        reg_max: DFL bins per box side. iou: one of `IOU_FLAGS`.
    """

    def __init__(self, reg_max: int = 16, iou: str = "ciou"):
        super().__init__(reg_max)
        self.iou = iou

    def forward(self, pred_dist, pred_bboxes, anchor_points, target_bboxes, target_scores, target_scores_sum, fg_mask,
                imgsz, stride) -> tuple[torch.Tensor, torch.Tensor]:
        """Return (IoU loss, distribution loss), each a scalar normalised by `target_scores_sum`."""
        loss_ciou, loss_dist = super().forward(pred_dist, pred_bboxes, anchor_points, target_bboxes, target_scores,
                                               target_scores_sum, fg_mask, imgsz, stride)
        if self.iou == "ciou":
            return loss_ciou, loss_dist
        fg = fg_mask.nonzero(as_tuple=True)
        weight = target_scores[fg].sum(-1, keepdim=True)
        iou = bbox_iou(pred_bboxes[fg], target_bboxes[fg], xywh=False, **IOU_FLAGS[self.iou])
        return ((1.0 - iou) * weight).sum() / target_scores_sum, loss_dist


class DetectionLoss(v8DetectionLoss):
    """`v8DetectionLoss` whose element-wise classification loss and IoU loss follow the run's arguments.

    Reads `cls_loss` (bce|focal|qfl|eqlv2|eqfl|eql|gjr), `iou_loss` (iou|giou|diou|ciou), `gjr_*`, `eqlv2_*`,
    `eqfl_*` and `eql_lambda` from `model.args`.
    The classification loss, `(logits [B, A, C], targets [B, A, C]) -> [B, A, C]`, whichever `cls_loss` names, is
    `classification_loss`. It is stored as `self.bce` because Ultralytics' `v8DetectionLoss` calls it by that name
    (its BCE, kept for `cls_loss=bce`); our code reads it as `classification_loss`.
    """

    def __init__(self, model, tal_topk: int = 10, tal_topk2: int | None = None):
        super().__init__(model, tal_topk, tal_topk2)
        h = self.hyp
        check_choices(h)
        self.cls_name, self.iou_name = str(arg(h, "cls_loss")).lower(), str(arg(h, "iou_loss")).lower()
        kw = {k: arg(h, k) for k in ("gjr_gamma", "gjr_mu", "gjr_alpha", "gjr_beta", "gjr_region", "eql_lambda",
                                   "eqlv2_gamma", "eqlv2_mu", "eqlv2_alpha", "eqfl_gamma", "eqfl_scale")}
        if self.cls_name != "bce":  # "bce" keeps Ultralytics' own nn.BCEWithLogitsLoss
            self.bce = build_cls_loss(self.cls_name, self.nc, **kw).to(self.device)  # the name its parent calls
        self.bbox_loss = SelectableBboxLoss(self.reg_max, self.iou_name).to(self.device)
        self.fg_mask = None  # [B, A] bool foreground of the last call, read by localization distillation
        self._assigned = None  # (boxes px, anchors, strides) of the last call, for fg_targets
        self._gt = None  # [B, M, 5] class and xyxy px ground truth of the last call, for valuable_region
        self._anchors_px = None  # [A, 2] anchor centres in px of the current call, for the assigner's candidates
        self._wants_candidates = getattr(self.bce, "region", None) == "candidates"  # gjr_region=candidates

    @property
    def classification_loss(self) -> torch.nn.Module:
        """The element-wise classification loss that `cls_loss` names (BCE, focal, QFL, EQL, EQLv2, EQFL or GJR)."""
        return self.bce

    def state(self) -> dict | None:
        """The classification loss's statistics (buffers) as float64 numpy arrays, or None if it has none."""
        loss = self.classification_loss
        sd = loss.state_dict() if isinstance(loss, torch.nn.Module) else {}
        return {k: v.detach().double().cpu().numpy() for k, v in sd.items()} or None

    def load_state(self, state: dict) -> None:
        """Restore statistics written by `state()`."""
        self.classification_loss.load_state_dict({k: torch.as_tensor(v, dtype=torch.float32) for k, v in state.items()})
        self.classification_loss.to(self.device)

    def pause_reweighting(self, paused: bool) -> None:
        """`gjr_warmup`: stop (True) or go on (False) updating the statistics of a gradient-reweighted classification
        loss (GJR, EQLv2, EQFL); any other loss is unaffected."""
        if isinstance(self.classification_loss, GradientReweightedLoss):
            self.classification_loss.paused = paused

    def preprocess(self, targets: torch.Tensor, batch_size: int, scale_tensor: torch.Tensor) -> torch.Tensor:
        """Ultralytics' padding of the targets per image ([B, M, 5] class, xyxy px), kept for `valuable_region`; with
        `gjr_region=candidates` also hands the classification loss this call's `candidates`."""
        self._gt = super().preprocess(targets, batch_size, scale_tensor)
        if self._wants_candidates:
            self.classification_loss.candidates = self.candidates(self._gt)
        return self._gt

    def candidates(self, gt: torch.Tensor) -> torch.Tensor:
        """[B, A, 1] bool: anchors whose centre lies in a ground-truth box (the assigner's own candidate test, tiny
        boxes widened to its stride floor), for `gjr_region=candidates`. gt: [B, M, 5] class and xyxy px."""
        boxes = gt[..., 1:5]
        valid = boxes.sum(-1, keepdim=True) > 0  # [B, M, 1]
        inside = self.assigner.select_candidates_in_gts(self._anchors_px, boxes, valid)  # [B, M, A]
        return (inside.bool() & valid).any(1).unsqueeze(-1)

    def get_assigned_targets_and_loss(self, preds: dict, batch: dict, **assign_kwargs) -> tuple:
        """Ultralytics' assignment and losses; also keeps the foreground mask and the assigned boxes for
        distillation."""
        if self._wants_candidates:  # the anchors as the parent makes them
            anchors, stride = make_anchors(preds["feats"], self.stride, 0.5)
            self._anchors_px = anchors * stride
        out = super().get_assigned_targets_and_loss(preds, batch, **assign_kwargs)
        self.fg_mask, _, *self._assigned = out[0]
        return out

    @property
    def fg_targets(self) -> torch.Tensor | None:
        """[B, A, 4] the last call's assigned boxes, xyxy in cells around each anchor (read by `ld_gate`); computed
        when asked, so training without distillation pays nothing."""
        if self._assigned is None:
            return None
        boxes, anchors, stride = self._assigned  # [B, A, 4] xyxy px, [A, 2] cells, [A, 1] px per cell
        return (boxes / stride - anchors.repeat(1, 2)).detach()

    def valuable_region(self) -> torch.Tensor | None:
        """[B, A] LD's valuable localization region of the last call (`ext.losses.vlr`): each anchor's IoU with its
        ground-truth box, 0 outside the region and on the foreground (LD's main region); read by `ld_vlr`."""
        if self._assigned is None or self._gt is None:
            return None
        _, anchors, stride = self._assigned  # [A, 2] cells, [A, 1] px per cell
        sizes = torch.unique_consecutive(stride.flatten(), return_counts=True)[1].tolist()  # anchors per level
        gt = self._gt[..., 1:5]
        region = valuable_region(anchors * stride, stride, sizes, gt, gt.sum(-1) > 0)
        return region * ~self.fg_mask


class EndToEndLoss(E2ELoss):
    """Ultralytics' `E2ELoss` (one-to-many + one-to-one branches, decaying mix) over two `DetectionLoss` branches,
    whose classification statistics (GJR, EQL buffers; one set per branch) are saved and restored together.

    `state()` keys are prefixed with the branch name (`one2many.`, `one2one.`).
    """

    BRANCHES = ("one2many", "one2one")

    def __init__(self, model):
        super().__init__(model, DetectionLoss)

    def state(self) -> dict | None:
        """Both branches' statistics as float64 numpy arrays, keys '<branch>.<buffer>', or None if neither has any."""
        out = {f"{b}.{k}": v for b in self.BRANCHES for k, v in (getattr(self, b).state() or {}).items()}
        return out or None

    def pause_reweighting(self, paused: bool) -> None:
        """`DetectionLoss.pause_reweighting` on both branches."""
        for b in self.BRANCHES:
            getattr(self, b).pause_reweighting(paused)

    def load_state(self, state: dict) -> None:
        """Restore statistics written by `state()`."""
        for b in self.BRANCHES:
            part = {k[len(b) + 1:]: v for k, v in state.items() if k.startswith(f"{b}.")}
            if part:
                getattr(self, b).load_state(part)
