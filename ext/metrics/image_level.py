"""Image-level detection rates of HSD (FDR, MDR, CDR), swept over score thresholds.

HSD (Adv. Eng. Informatics 57, 2023, 102091) does not report mAP; it reports, per image and from the
top-scoring box only, whether the image was a false detection or a missed detection:

- an image is *positive* when it has at least one ground-truth box, *negative* when it has none;
- its top score ``s`` is the highest box confidence after NMS (``-inf`` when the model returned no box);
- false detection at threshold ``t``: a negative image with ``s >= t``;
- missed detection at threshold ``t``: a positive image with ``s < t`` (no box at or above ``t``);
- ``FDR = false detections / all images``, ``MDR = missed detections / all images``,
  ``CDR = 1 - FDR - MDR`` (the share of images handled correctly). All three rates are fractions in
  [0, 1] of *all* evaluated images, as in the paper, not of the negative or positive images alone.

No box location is checked: a positive image counts as detected when any box reaches the threshold,
wherever it lies. The rates of an empty accumulator are NaN (0 / 0).

Fault-flagging variant (optional, ``fault_classes``): the paper's data sets are single components whose
classes may come as normal/fault pairs (e.g. COH_T / COH_F). With ``fault_classes`` given, an image is
*faulty* when it has a ground-truth box of one of those classes, and *flagged* at ``t`` when its top-scoring
box is of a fault class and has score ``>= t``. Then ``fault_FDR`` = (not faulty and flagged) / images,
``fault_MDR`` = (faulty and not flagged) / images, ``fault_CDR = 1 - fault_FDR - fault_MDR``. The plain
object-presence rates are always given as well.

Feeding from Ultralytics 8.4 ``DetectionValidator.update_metrics(preds, batch)``, per image ``si``::

    pbatch = self._prepare_batch(si, batch)      # pbatch["cls"]: [M] ground-truth classes
    predn = self._prepare_pred(preds[si])        # predn["conf"]: [N], predn["cls"]: [N] (after NMS)
    rates.update(predn["conf"], predn["cls"], pbatch["cls"])

Tensors on any device are accepted (they are moved to the CPU). Only scores above the validator's NMS
``conf`` (0.001 by default) reach here, far below the 0.5..0.9 sweep.
"""

from __future__ import annotations

import csv
import math
import re
from pathlib import Path

import numpy as np

DEFAULT_THRESHOLDS = (0.5, 0.6, 0.7, 0.8, 0.9)
FAULT_NAME = re.compile(r"(broken|missing|fault|crack|loose|_f$)", re.IGNORECASE)  # HSD: fault-state names


def fault_class_ids(names: dict[int, str], faults=None) -> list[int]:
    """Class ids that mean "fault": `faults` (class names or ids) when given, else the names that mark a fault
    state (`broken`, `missing`, `fault`, `crack`, `loose`, or ending in `_f` as in Nut_s / Nut_f).

    Raises:
        ValueError: a name or id in `faults` that is not a class of `names`.
    """
    if faults is None or faults == []:
        return [i for i, n in names.items() if FAULT_NAME.search(str(n))]
    by_name = {str(n): i for i, n in names.items()}
    out = []
    for f in faults if isinstance(faults, (list, tuple)) else [faults]:
        i = by_name.get(str(f), f if isinstance(f, int) and f in names else None)
        if i is None:
            raise ValueError(f"faults: '{f}' is not a class of this model; classes: {list(names.values())}")
        out.append(i)
    return sorted(set(out))


def to_numpy(x, dtype=np.float64) -> np.ndarray:
    """Return ``x`` (torch Tensor on any device, numpy array, list, scalar or None) as a flat 1-D numpy array."""
    if x is None:
        return np.zeros(0, dtype=dtype)
    if hasattr(x, "detach"):  # torch.Tensor without importing torch
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=dtype).reshape(-1)


def threshold_key(t: float) -> str:
    """Short text of a threshold for flat keys and CSV rows: 0.5 -> '0.5', 0.55 -> '0.55'."""
    return f"{float(t):g}"


class ImageLevelRates:
    """Accumulate one record per image and compute FDR / MDR / CDR at each score threshold.

    Args:
        thresholds (sequence[float]): score thresholds in [0, 1]; the paper sweeps 0.5, 0.6, 0.7, 0.8, 0.9.
        fault_classes (sequence[int] | None): class ids that mean "fault"; when given, ``compute`` also returns
            the fault-flagging rates ``fault_FDR``, ``fault_MDR``, ``fault_CDR`` (see the module docstring).

    Per image it stores: top score (float, ``-inf`` without boxes), class of the top box (``-1`` without
    boxes), whether the image has ground truth, and whether it has a fault-class ground-truth box.
    """

    def __init__(self, thresholds=DEFAULT_THRESHOLDS, fault_classes=None):
        self.thresholds = tuple(float(t) for t in thresholds)
        self.fault_classes = None if fault_classes is None else sorted({int(c) for c in fault_classes})
        self.reset()

    def reset(self) -> None:
        """Forget all images."""
        self.top_conf: list[float] = []
        self.top_cls: list[int] = []
        self.has_gt: list[bool] = []
        self.has_fault_gt: list[bool] = []

    def __len__(self) -> int:
        """Number of images seen."""
        return len(self.top_conf)

    def update(self, pred_conf, pred_cls, gt_cls) -> None:
        """Add one image.

        Args:
            pred_conf (np.ndarray | torch.Tensor | list): [N] box scores in [0, 1] after NMS (N may be 0).
            pred_cls (np.ndarray | torch.Tensor | list): [N] predicted class ids (floats allowed).
            gt_cls (np.ndarray | torch.Tensor | list): [M] ground-truth class ids of the image (M may be 0);
                a [M, 1] array is flattened.
        """
        conf = to_numpy(pred_conf)
        cls = to_numpy(pred_cls)
        gt = to_numpy(gt_cls)
        if conf.shape != cls.shape:
            raise ValueError(f"pred_conf {conf.shape} and pred_cls {cls.shape} must have the same length")
        if conf.size:
            i = int(np.argmax(conf))
            self.top_conf.append(float(conf[i]))
            self.top_cls.append(int(round(cls[i])))
        else:
            self.top_conf.append(-math.inf)
            self.top_cls.append(-1)
        self.has_gt.append(bool(gt.size))
        faulty = bool(self.fault_classes) and bool(np.isin(np.round(gt).astype(int), self.fault_classes).any())
        self.has_fault_gt.append(faulty)

    def merge(self, other: "ImageLevelRates") -> None:
        """Append the images of another accumulator (e.g. one gathered from another DDP rank)."""
        self.top_conf += other.top_conf
        self.top_cls += other.top_cls
        self.has_gt += other.has_gt
        self.has_fault_gt += other.has_fault_gt

    def counts(self, threshold: float) -> dict[str, int]:
        """Image counts at one threshold.

        Returns:
            (dict[str, int]): 'images', 'false' (false detections), 'missed' (missed detections) and, with
                ``fault_classes``, 'fault_false' and 'fault_missed'.
        """
        conf = np.asarray(self.top_conf, dtype=np.float64)
        gt = np.asarray(self.has_gt, dtype=bool)
        hit = conf >= threshold
        out = {"images": int(conf.size), "false": int((hit & ~gt).sum()), "missed": int((~hit & gt).sum())}
        if self.fault_classes is not None:
            faulty = np.asarray(self.has_fault_gt, dtype=bool)
            flagged = hit & np.isin(np.asarray(self.top_cls, dtype=int), self.fault_classes)
            out["fault_false"] = int((flagged & ~faulty).sum())
            out["fault_missed"] = int((~flagged & faulty).sum())
        return out

    def compute(self) -> dict[float, dict[str, float]]:
        """Rates at every threshold.

        Returns:
            (dict[float, dict[str, float]]): ``{threshold: {'FDR', 'MDR', 'CDR'}}`` as fractions of all images
                (NaN when no image was seen); with ``fault_classes`` also 'fault_FDR', 'fault_MDR', 'fault_CDR'.
        """
        out = {}
        for t in self.thresholds:
            c = self.counts(t)
            n = c["images"]
            fdr = c["false"] / n if n else math.nan
            mdr = c["missed"] / n if n else math.nan
            row = {"FDR": fdr, "MDR": mdr, "CDR": 1.0 - fdr - mdr}
            if self.fault_classes is not None:
                ffdr = c["fault_false"] / n if n else math.nan
                fmdr = c["fault_missed"] / n if n else math.nan
                row.update(fault_FDR=ffdr, fault_MDR=fmdr, fault_CDR=1.0 - ffdr - fmdr)
            out[t] = row
        return out

    def summary(self) -> dict[str, float]:
        """Flat version of ``compute()`` for logging: keys like 'CDR@0.5', 'MDR@0.9', 'fault_CDR@0.7'."""
        return {f"{k}@{threshold_key(t)}": v for t, row in self.compute().items() for k, v in row.items()}

    def to_csv(self, path) -> Path:
        """Write one row per threshold; columns threshold,images,FDR,MDR,CDR (+ fault_FDR,fault_MDR,fault_CDR).

        Args:
            path (str | Path): output CSV file; parent folders are created.

        Returns:
            (Path): the written file.
        """
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        rates = self.compute()
        columns = ["FDR", "MDR", "CDR"]
        if self.fault_classes is not None:
            columns += ["fault_FDR", "fault_MDR", "fault_CDR"]
        with open(path, "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["threshold", "images", *columns])
            for t, row in rates.items():
                writer.writerow([threshold_key(t), len(self), *(f"{row[k]:.6f}" for k in columns)])
        return path


def image_level_rates(top_conf, has_gt, thresholds=DEFAULT_THRESHOLDS) -> dict[float, dict[str, float]]:
    """One-shot version of ``ImageLevelRates`` for images already reduced to their top score.

    Args:
        top_conf (array-like): [I] top box score per image; use ``-inf`` (or any value below every threshold,
            e.g. -1) for images without boxes.
        has_gt (array-like): [I] bool, True when the image has at least one ground-truth box.
        thresholds (sequence[float]): score thresholds.

    Returns:
        (dict[float, dict[str, float]]): ``{threshold: {'FDR', 'MDR', 'CDR'}}`` (fractions of all I images).
    """
    acc = ImageLevelRates(thresholds)
    acc.top_conf = [float(x) for x in to_numpy(top_conf)]
    acc.top_cls = [-1] * len(acc.top_conf)
    acc.has_gt = [bool(x) for x in to_numpy(has_gt, bool)]
    acc.has_fault_gt = [False] * len(acc.top_conf)
    if len(acc.has_gt) != len(acc.top_conf):
        raise ValueError("top_conf and has_gt must have the same length")
    return acc.compute()
