"""`SlicedPredictor`: Ultralytics' detection predictor with optional sliced inference (`slice=` px tiles).

Small parts in a large frame (a 30 px cotter pin in a 1400x1024 line-scan frame) shrink to a few pixels when the
frame is letterboxed to the model's input size. With `slice=S` every image is also cut into S x S tiles that
overlap by `slice_overlap` (fraction of S; tile windows from sahi's `get_slice_bboxes`), each tile is predicted at
the model's `imgsz`, the boxes are shifted back to frame pixels, and all boxes (plus those of the usual full-frame
pass when `slice_full=True`, for parts larger than a tile) are merged by sahi's greedy non-maximum merging
(per class, intersection over the smaller box >= 0.5, merged box = union, score = the highest), as sahi's own
`get_sliced_prediction` does by default. Everything else (sources, streaming, `save`, `save_txt`, `show`, speed,
callbacks) is Ultralytics' predictor, so `Results` come out as usual: `boxes.xyxy` in frame pixels.

`slice=0` (the default) is exactly Ultralytics' `DetectionPredictor`. It is the predictor of `ext.HSD`,
`ext.GJADet` and `ext.Detector` (`fdet predict ... slice=640`); for a plain `YOLO` object pass it:
`YOLO("best.pt").predict(source, slice=640, predictor=SlicedPredictor)`.
"""

from __future__ import annotations

import numpy as np
import torch
from sahi.postprocess.combine import batched_greedy_nmm
from sahi.slicing import get_slice_bboxes
from ultralytics.engine.results import Results
from ultralytics.models.yolo.detect import DetectionPredictor
from ultralytics.utils import nms, ops

from ..keys import arg

TILE_BATCH = 16  # tiles per forward pass


def merge_detections(dets: torch.Tensor, threshold: float = 0.5, metric: str = "IOS") -> torch.Tensor:
    """Greedy non-maximum merging of detections from overlapping tiles (sahi's `batched_greedy_nmm`, per class).

    Args:
        dets: [N, 6] float (x1, y1, x2, y2 in px, score, class).
        threshold: overlap at or above which a lower-scored box of the same class is merged into a kept one.
        metric: 'IOS' (intersection over the smaller box, sahi's default for slices) or 'IOU'.

    Returns:
        [K, 6], K <= N, sorted by score (highest first): each kept box grown to the union of the boxes merged
        into it, its score and class unchanged (it has the highest score of its group).
    """
    if len(dets) == 0:
        return dets.reshape(0, 6)
    groups = batched_greedy_nmm(dets[:, :6].detach().cpu().numpy().astype(np.float64), metric, threshold)
    out = []
    for keep, merged in groups.items():
        group = dets[[keep, *merged]]
        out.append(torch.cat([group[:, :2].min(0).values, group[:, 2:4].max(0).values, dets[keep, 4:6]]))
    out = torch.stack(out)
    return out[out[:, 4].argsort(descending=True)]


class SlicedPredictor(DetectionPredictor):
    """DetectionPredictor that, with `slice > 0`, also predicts on overlapping tiles and merges the boxes.

    Keys (cfg/default.yaml): `slice` (tile side in px of the original image, 0 = off), `slice_overlap`
    (fraction of the tile side shared by neighbouring tiles), `slice_full` (also the full-frame pass).
    """

    def slicing(self) -> int:
        """The tile side in px, 0 when slicing is off."""
        return max(int(arg(self.args, "slice") or 0), 0)

    def inference(self, im, *args, **kwargs):
        """The full-frame pass; skipped (None) when slicing without `slice_full`."""
        if self.slicing() and not arg(self.args, "slice_full"):
            return None
        return super().inference(im, *args, **kwargs)

    def postprocess(self, preds, img, orig_imgs, **kwargs):
        """Ultralytics' results of the full frame, then (when slicing) tile boxes merged into them."""
        if preds is None:  # no full-frame pass: empty results to merge the tiles into
            results = [Results(o, path=p, names=self.model.names, boxes=torch.zeros((0, 6), device=self.device))
                       for o, p in zip(orig_imgs, self.batch[0])]
        else:
            results = super().postprocess(preds, img, orig_imgs, **kwargs)
        size = self.slicing()
        if not size:
            return results
        for r in results:
            dets = torch.cat([r.boxes.data[:, :6].to(self.device), self.tile_detections(r.orig_img, size)])
            r.update(boxes=merge_detections(dets)[: self.args.max_det])
        return results

    def tile_detections(self, image: np.ndarray, size: int) -> torch.Tensor:
        """Detections [N, 6] (x1, y1, x2, y2 in frame px, score, class) of the `size` x `size` tiles of `image`
        (H, W, 3) BGR uint8, each predicted at the model's input size with the run's conf / iou / classes."""
        h, w = image.shape[:2]
        overlap = float(arg(self.args, "slice_overlap"))
        windows = get_slice_bboxes(h, w, size, size, auto_slice_resolution=False, overlap_height_ratio=overlap,
                                   overlap_width_ratio=overlap)
        out = [torch.zeros((0, 6), device=self.device)]
        for k in range(0, len(windows), TILE_BATCH):
            chunk = windows[k:k + TILE_BATCH]
            tiles = [np.ascontiguousarray(image[y0:y1, x0:x1]) for x0, y0, x1, y1 in chunk]
            im = self.preprocess(tiles)
            preds = super().inference(im)
            dets = nms.non_max_suppression(preds, self.args.conf, self.args.iou, self.args.classes,
                                           self.args.agnostic_nms, max_det=self.args.max_det,
                                           end2end=getattr(self.model, "end2end", False))
            for d, (x0, y0, _, _), tile in zip(dets, chunk, tiles):
                d = d[:, :6].clone()
                d[:, :4] = ops.scale_boxes(im.shape[2:], d[:, :4], tile.shape)
                d[:, [0, 2]] += x0
                d[:, [1, 3]] += y0
                out.append(d)
        return torch.cat(out)
