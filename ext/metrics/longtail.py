"""Long-tail metrics for GJADet: rare / common / frequent class groups and their AP (COCO size AP: `coco_size.py`).

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
"""

from __future__ import annotations

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
