"""`GJADetValidator`: detection validation plus long-tail metrics (class-group APs, COCO AP by object size)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from ultralytics.data.utils import IMG_FORMATS, img2label_paths
from ultralytics.utils import LOGGER, ops

from ...metrics import CocoSizeAP, class_groups, full_class_ap, group_ap, per_class_table, train_instance_counts
from ..detector import ExtValidator


def _train_label_files(data: dict) -> list[str]:
    """YOLO label files of a data dict's train split (a folder of images, a list file, or a list of either)."""
    srcs = data.get("train") or []
    files = []
    for src in srcs if isinstance(srcs, (list, tuple)) else [srcs]:
        p = Path(src)
        if p.is_dir():
            files += [str(f) for f in sorted(p.rglob("*")) if f.suffix[1:].lower() in IMG_FORMATS]
        elif p.is_file():
            files += [ln.strip() for ln in p.read_text().splitlines() if ln.strip()]
    return [f for f in img2label_paths(files) if Path(f).is_file()]


class GJADetValidator(ExtValidator):
    """Validator of the GJADet family.

    Adds, from the same predictions as mAP: AP50-95 of the rare / common / frequent class groups (grouped by each
    class's share of training instances: < 5 %, 5-25 %, > 25 %; see `ext.metrics.longtail`) and COCO AP,
    AP_small / AP_medium / AP_large (pycocotools, pixel areas of the original images). Returned stats gain
    `metrics/AP_rare` ... (results.csv during training); `metrics.extra` keeps them; standalone validation also
    prints the per-class table.
    """

    def init_metrics(self, model) -> None:
        super().init_metrics(model)
        self.coco = CocoSizeAP(max_dets=self.args.max_det, num_classes=self.nc)

    def update_metrics(self, preds, batch) -> None:
        super().update_metrics(preds, batch)
        for si, pred in enumerate(preds):
            pbatch = self._prepare_batch(si, batch)
            predn = self._prepare_pred(pred)
            h, w = pbatch["ori_shape"]
            boxes = self.scale_preds(predn, pbatch)["bboxes"]
            gt = ops.scale_boxes(pbatch["imgsz"], pbatch["bboxes"].clone(), pbatch["ori_shape"],
                                 ratio_pad=pbatch["ratio_pad"])
            self.coco.update(pbatch["im_file"], w, h, boxes, predn["conf"], predn["cls"], gt, pbatch["cls"])

    def gather_stats(self) -> None:
        super().gather_stats()
        self.merge_across_ranks(self.coco)

    def train_counts(self) -> np.ndarray:
        """Training instances per class (from the training labels; cached for the run)."""
        if getattr(self, "_train_counts", None) is None:
            self._train_counts = train_instance_counts(_train_label_files(self.data), nc=self.nc)
        return self._train_counts

    def get_stats(self) -> dict:
        stats = super().get_stats()
        box = self.metrics.box
        counts = self.train_counts()
        self.groups = class_groups(counts)
        ap = full_class_ap(box.ap, box.ap_class_index, self.nc) if len(box.ap_class_index) else np.full(self.nc, np.nan)
        extra = {**group_ap(ap, self.groups), **self.coco.compute()}
        self.metrics.extra = {k: round(float(v), 4) for k, v in extra.items()}
        stats.update({f"metrics/{k}": v for k, v in self.metrics.extra.items() if k.startswith("AP_")})
        return stats

    def print_results(self) -> None:
        super().print_results()
        box = self.metrics.box
        if not self.training and len(box.ap_class_index):
            ap50 = full_class_ap(box.ap50, box.ap_class_index, self.nc)
            ap = full_class_ap(box.ap, box.ap_class_index, self.nc)
            LOGGER.info("\n" + per_class_table(self.names, ap50, ap, self.train_counts(), self.groups))
        LOGGER.info("Long-tail     " + "  ".join(f"{k} {v:.3f}" for k, v in self.metrics.extra.items()))
