"""COCO AP by object size for GJADet's small markers.

COCO size AP. ``CocoSizeAP`` builds COCO ground truth and detections in memory and runs pycocotools'
``COCOeval`` ('bbox'): AP (IoU 0.50:0.95), AP50, AP_small / AP_medium / AP_large with COCO's *absolute*
pixel areas (small < 32^2, medium 32^2..96^2, large > 96^2, both ends inclusive in pycocotools). Boxes must
be in pixels of the ORIGINAL image (area = w * h there); at small image sizes nearly every box is "small".
COCOeval reports -1 where a size group (or the whole set) has no ground truth; that is returned as NaN.
Ultralytics' own mAP50-95 uses the same 101-point interpolation but no area ranges and no max-detections
cap, so the two may differ slightly.
"""

from __future__ import annotations

import contextlib
import io
import math

import numpy as np
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from .image_level import to_numpy


class CocoSizeAP:
    """Accumulate boxes per image and compute COCO AP / AP50 / AP_small / AP_medium / AP_large (pycocotools).

    Args:
        max_dets (int): COCOeval's detections cap per image for the reported APs (COCO uses 100; raise it for
            dense scenes such as Crash2024's marker points).
        num_classes (int | None): declare class ids 0..num_classes-1 as categories even if never seen.

    Feeding from Ultralytics 8.4 ``DetectionValidator.update_metrics(preds, batch)``, per image ``si``
    (``from ultralytics.utils import ops``)::

        pbatch = self._prepare_batch(si, batch)    # 'bboxes' [M,4] xyxy in letterboxed pixels, 'cls' [M]
        predn = self._prepare_pred(preds[si])      # 'bboxes' [N,4] xyxy letterboxed, 'conf' [N], 'cls' [N]
        h, w = pbatch["ori_shape"]                 # original image (height, width)
        pred_xyxy = self.scale_preds(predn, pbatch)["bboxes"]          # -> original pixels
        gt_xyxy = ops.scale_boxes(pbatch["imgsz"], pbatch["bboxes"].clone(), pbatch["ori_shape"],
                                  ratio_pad=pbatch["ratio_pad"])       # -> original pixels
        coco.update(pbatch["im_file"], w, h, pred_xyxy, predn["conf"], predn["cls"], gt_xyxy, pbatch["cls"])

    After ``compute()``, ``self.class_ap`` holds COCO AP (0.50:0.95, all sizes) per class id (NaN without
    ground truth of that class).
    """

    def __init__(self, max_dets: int = 100, num_classes: int | None = None):
        self.max_dets = int(max_dets)
        self.num_classes = num_classes
        self.reset()

    def reset(self) -> None:
        """Forget all images."""
        self.images: list[dict] = []
        self.class_ap: dict[int, float] = {}

    def __len__(self) -> int:
        """Number of images seen."""
        return len(self.images)

    def update(self, image_id, width, height, pred_bboxes_xyxy, pred_conf, pred_cls, gt_bboxes_xyxy, gt_cls):
        """Add one image.

        Args:
            image_id (hashable): any identifier (e.g. the image path); only kept for reference.
            width (int | float): original image width in pixels.
            height (int | float): original image height in pixels.
            pred_bboxes_xyxy (array-like | Tensor): [N, 4] predicted boxes, xyxy, original-image pixels.
            pred_conf (array-like | Tensor): [N] scores.
            pred_cls (array-like | Tensor): [N] class ids.
            gt_bboxes_xyxy (array-like | Tensor): [M, 4] ground-truth boxes, xyxy, original-image pixels.
            gt_cls (array-like | Tensor): [M] class ids.
        """
        self.images.append(
            {
                "image_id": image_id,
                "width": float(width),
                "height": float(height),
                "pred_bboxes": to_numpy(pred_bboxes_xyxy).reshape(-1, 4),
                "pred_conf": to_numpy(pred_conf),
                "pred_cls": np.round(to_numpy(pred_cls)).astype(np.int64),
                "gt_bboxes": to_numpy(gt_bboxes_xyxy).reshape(-1, 4),
                "gt_cls": np.round(to_numpy(gt_cls)).astype(np.int64),
            }
        )

    def merge(self, other: "CocoSizeAP") -> None:
        """Append the images of another accumulator (e.g. one gathered from another DDP rank)."""
        self.images += other.images

    def _coco_dicts(self) -> tuple[dict, dict]:
        """Ground-truth and detection datasets in COCO format (ids from 1; category id = class id + 1)."""
        classes = set(range(self.num_classes or 0))
        for im in self.images:
            classes |= set(im["gt_cls"].tolist()) | set(im["pred_cls"].tolist())
        categories = [{"id": c + 1, "name": str(c)} for c in sorted(classes)]
        images, gts, dets = [], [], []
        for k, im in enumerate(self.images, start=1):
            images.append({"id": k, "width": im["width"], "height": im["height"]})
            for box, c in zip(im["gt_bboxes"], im["gt_cls"]):
                w, h = float(box[2] - box[0]), float(box[3] - box[1])
                bbox = [float(box[0]), float(box[1]), w, h]
                gts.append({"id": len(gts) + 1, "image_id": k, "category_id": int(c) + 1, "bbox": bbox,
                            "area": w * h, "iscrowd": 0})
            for box, s, c in zip(im["pred_bboxes"], im["pred_conf"], im["pred_cls"]):
                w, h = float(box[2] - box[0]), float(box[3] - box[1])
                bbox = [float(box[0]), float(box[1]), w, h]
                dets.append({"id": len(dets) + 1, "image_id": k, "category_id": int(c) + 1, "bbox": bbox,
                             "area": w * h, "iscrowd": 0, "score": float(s)})
        return ({"images": images, "annotations": gts, "categories": categories},
                {"images": images, "annotations": dets, "categories": categories})

    def compute(self) -> dict[str, float]:
        """Run COCOeval on everything seen.

        Returns:
            (dict[str, float]): 'AP' (IoU 0.50:0.95), 'AP50', 'AP_small', 'AP_medium', 'AP_large' in [0, 1], at
                ``max_dets`` detections per image; NaN where COCOeval has no ground truth (its -1).
        """
        keys = ("AP", "AP50", "AP_small", "AP_medium", "AP_large")
        self.class_ap = {}
        gt_data, dt_data = self._coco_dicts()
        if not gt_data["annotations"]:
            return dict.fromkeys(keys, math.nan)
        with contextlib.redirect_stdout(io.StringIO()):
            coco_gt, coco_dt = COCO(), COCO()
            coco_gt.dataset, coco_dt.dataset = gt_data, dt_data
            coco_gt.createIndex()
            coco_dt.createIndex()
            ev = COCOeval(coco_gt, coco_dt, "bbox")
            ev.params.maxDets = [1, 10, self.max_dets]
            ev.evaluate()
            ev.accumulate()
        precision = ev.eval["precision"]  # [T iou, R recall, K classes, A areas, M maxDets], -1 = undefined
        area = {label: i for i, label in enumerate(ev.params.areaRngLbl)}  # all, small, medium, large
        iou50 = np.isclose(ev.params.iouThrs, 0.5)

        def mean_defined(p):
            p = p[p > -1]
            return float(p.mean()) if p.size else math.nan

        out = {
            "AP": mean_defined(precision[:, :, :, area["all"], -1]),
            "AP50": mean_defined(precision[iou50][:, :, :, area["all"], -1]),
        }
        for size in ("small", "medium", "large"):
            out[f"AP_{size}"] = mean_defined(precision[:, :, :, area[size], -1])
        for k, cat in enumerate(ev.params.catIds):
            self.class_ap[int(cat) - 1] = mean_defined(precision[:, :, k, area["all"], -1])
        return out


def coco_size_ap(preds, gts, max_dets: int = 100, num_classes: int | None = None) -> dict[str, float]:
    """One-shot COCO AP with size breakdown.

    Args:
        preds (list[dict]): per image, 'bboxes' [N, 4] xyxy original pixels, 'conf' [N], 'cls' [N].
        gts (list[dict]): per image (same order), 'bboxes' [M, 4] xyxy original pixels, 'cls' [M], 'width',
            'height' (original image size in pixels), optional 'image_id'.
        max_dets (int): detections per image counted (COCO: 100).
        num_classes (int | None): number of classes, to declare unseen ones.

    Returns:
        (dict[str, float]): see ``CocoSizeAP.compute``.
    """
    if len(preds) != len(gts):
        raise ValueError(f"{len(preds)} prediction entries for {len(gts)} images")
    acc = CocoSizeAP(max_dets=max_dets, num_classes=num_classes)
    for i, (p, g) in enumerate(zip(preds, gts)):
        acc.update(g.get("image_id", i), g["width"], g["height"], p["bboxes"], p["conf"], p["cls"],
                   g["bboxes"], g["cls"])
    return acc.compute()
