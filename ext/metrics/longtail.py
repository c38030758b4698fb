"""Long-tail metrics for GJADet: rare / common / frequent class groups, their AP, and COCO size AP.

Class groups. LVIS splits classes by the number of training *images* holding them (rare 1-10, common 11-100,
frequent > 100); those absolute counts do not fit sets of a few hundred images such as Crash2024, where every
class would be "common" or "frequent". Here the default split is by each class's *share of all training
instances* (boxes):

    rare      share <  5 %
    common    5 % <= share <= 25 %
    frequent  share > 25 %

so a dominant class (Crash2024's "point" markers) is frequent and the small tail (bogie, wheel, absorber,
rigid wall) is rare. Shares are absolute fractions, which suits sets with a handful of classes (2-10); with
many classes (uniform share 1/C < 5 %) pass other thresholds or ``by="count"`` (absolute instance counts,
defaults 11 and 100: rare <= 10, common 11-100, frequent > 100, LVIS-like but counting boxes). A class with
no training instance is rare. Any group may be empty (e.g. no "common" class in Crash2024).

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
from pathlib import Path

import numpy as np

from .image_level import to_numpy

GROUPS = ("rare", "common", "frequent")
SHARE_THRESHOLDS = (0.05, 0.25)
COUNT_THRESHOLDS = (11, 100)


def train_instance_counts(labels, nc: int | None = None) -> np.ndarray:
    """Count training instances (boxes) per class.

    Args:
        labels: one of
            - an Ultralytics ``YOLODataset`` (its ``.labels`` is used),
            - a list of label dicts as in ``YOLODataset.labels``, each with 'cls' of shape [n, 1] (or [n]),
            - a list of YOLO label ``.txt`` files (class id first on each line).
        nc (int | None): number of classes; default max class id + 1.

    Returns:
        (np.ndarray): [nc] int64 instance counts.
    """
    labels = getattr(labels, "labels", labels)
    ids = []
    for item in labels:
        if isinstance(item, dict):
            ids.append(to_numpy(item.get("cls"), np.float64))
        else:
            rows = [line.split() for line in Path(item).read_text().splitlines() if line.strip()]
            ids.append(np.array([float(r[0]) for r in rows], dtype=np.float64))
    ids = np.round(np.concatenate(ids)).astype(np.int64) if ids else np.zeros(0, np.int64)
    n = int(nc) if nc is not None else (int(ids.max()) + 1 if ids.size else 0)
    return np.bincount(ids, minlength=n)[:n] if n else np.zeros(0, np.int64)


def class_groups(train_counts, thresholds=None, by: str = "share") -> dict[str, list[int]]:
    """Split classes into rare / common / frequent by their training instances.

    Args:
        train_counts (dict[int, int] | list[int] | np.ndarray): instances per class id; a list/array is indexed
            by class id, a dict may skip classes (they are not grouped).
        thresholds (tuple[float, float] | None): (low, high); rare when value < low, frequent when value > high,
            common otherwise. Default (0.05, 0.25) for ``by="share"``, (11, 100) for ``by="count"``.
        by (str): "share" (fraction of all training instances) or "count" (absolute instance count).

    Returns:
        (dict[str, list[int]]): {'rare': [...], 'common': [...], 'frequent': [...]} sorted class ids.
    """
    if by not in ("share", "count"):
        raise ValueError(f"by must be 'share' or 'count', got {by!r}")
    if not isinstance(train_counts, dict):
        train_counts = dict(enumerate(to_numpy(train_counts, np.float64).tolist()))
    low, high = thresholds or (SHARE_THRESHOLDS if by == "share" else COUNT_THRESHOLDS)
    total = float(sum(train_counts.values()))
    groups = {g: [] for g in GROUPS}
    for c in sorted(train_counts):
        n = float(train_counts[c])
        value = (n / total if total > 0 else 0.0) if by == "share" else n
        group = "rare" if value < low else "frequent" if value > high else "common"
        groups[group].append(int(c))
    return groups


def full_class_ap(values, ap_class_index, nc: int) -> np.ndarray:
    """Spread per-class values given only for some classes into an [nc] array, NaN elsewhere.

    Ultralytics' ``metrics.box.ap`` (mAP50-95) and ``metrics.box.ap50`` hold one value per class in
    ``metrics.box.ap_class_index`` (classes present in the validation set). Use this rather than
    ``metrics.box.maps``, which fills absent classes with the overall mAP and would bias group means.

    Args:
        values (array-like): [K] per-class values.
        ap_class_index (array-like): [K] class id of each value.
        nc (int): number of classes.

    Returns:
        (np.ndarray): [nc] float64, NaN for classes not in ``ap_class_index``.
    """
    out = np.full(int(nc), np.nan)
    idx = to_numpy(ap_class_index, np.float64).astype(np.int64)
    out[idx] = to_numpy(values)
    return out


def group_ap(ap_per_class, groups: dict[str, list[int]]) -> dict[str, float]:
    """Mean AP of each class group.

    Args:
        ap_per_class (array-like): [C] AP per class id (e.g. mAP50-95 from ``full_class_ap``); NaN = not evaluated.
        groups (dict[str, list[int]]): output of ``class_groups``.

    Returns:
        (dict[str, float]): 'AP_rare', 'AP_common', 'AP_frequent' (every key present): the mean over the group's
            classes that have a finite AP; NaN when the group is empty or none of its classes was evaluated.
    """
    ap = to_numpy(ap_per_class)
    out = {}
    for g in GROUPS:
        ids = [c for c in groups.get(g, []) if 0 <= c < ap.size]
        vals = ap[ids] if ids else np.zeros(0)
        vals = vals[np.isfinite(vals)]
        out[f"AP_{g}"] = float(vals.mean()) if vals.size else math.nan
    return out


def group_of(groups: dict[str, list[int]]) -> dict[int, str]:
    """Invert ``class_groups``: class id -> group name."""
    return {c: g for g, ids in groups.items() for c in ids}


def per_class_table(names, ap50, ap, counts, groups: dict[str, list[int]] | None = None) -> str:
    """Readable per-class table: class, instances(train), AP50, AP50-95, group.

    Args:
        names (dict[int, str] | list[str]): class names by id (Ultralytics ``model.names``).
        ap50 (array-like): [C] AP at IoU 0.5 per class id (NaN printed as '-').
        ap (array-like): [C] AP at IoU 0.50:0.95 per class id.
        counts (array-like | dict[int, int]): [C] training instances per class id.
        groups (dict | None): class groups; default ``class_groups(counts)``.

    Returns:
        (str): the table, one line per class plus a header, no trailing newline.
    """
    names = dict(enumerate(names)) if not isinstance(names, dict) else names
    if isinstance(counts, dict):
        counts = [counts.get(c, 0) for c in range(max(names) + 1)]
    counts = to_numpy(counts).astype(np.int64)
    ap50, ap = to_numpy(ap50), to_numpy(ap)
    where = group_of(groups if groups is not None else class_groups(counts))

    def cell(arr, i):
        return f"{arr[i]:.3f}" if i < arr.size and np.isfinite(arr[i]) else "-"

    width = max([len("class")] + [len(str(n)) for n in names.values()])
    lines = [f"{'class':<{width}}  {'instances(train)':>16}  {'AP50':>6}  {'AP50-95':>7}  group"]
    for c in sorted(names):
        n = int(counts[c]) if c < counts.size else 0
        lines.append(f"{names[c]:<{width}}  {n:>16}  {cell(ap50, c):>6}  {cell(ap, c):>7}  {where.get(c, '-')}")
    return "\n".join(lines)


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
        from pycocotools.coco import COCO
        from pycocotools.cocoeval import COCOeval

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
