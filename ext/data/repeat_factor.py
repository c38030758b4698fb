"""Repeat-factor sampling (LVIS, Gupta et al., CVPR 2019): images with rare classes are seen more often per epoch.

Each training image i gets the repeat factor r_i = max over the classes c in it of max(1, sqrt(t / f_c)), where f_c
is the share of training images that contain class c and t the threshold (`rfs=t`; LVIS uses 0.001 on 1,203 classes:
with a handful of classes a larger t, e.g. 0.3, is what makes a class in 3 % of the images repeat: r = sqrt(0.3 /
0.03) = 3.2). Images without labels get 1. An epoch then holds every image floor(r_i) times plus, for the
fractional parts, a systematic probability-proportional-to-size draw of exactly round(sum frac r_i) more images, so an
epoch always has L = round(sum r_i) images (Ultralytics sizes its schedule by the loader length once) while image i
is drawn frac(r_i) * k / sum frac extra times in expectation (k = L - sum floor r_i extra draws): Detectron2's
stochastic rounding, frac(r_i), up to the rounding of the epoch length.

The order of epoch e depends on (seed, e) only (set by `set_epoch`, as a `DistributedSampler`), so a resumed run
sees the orders an uninterrupted one would; with several processes each takes every num_replicas-th index of the
same epoch list.
"""

from __future__ import annotations

import math

import numpy as np
from torch.utils.data import Sampler


def repeat_factors(labels: list[np.ndarray], nc: int, threshold: float) -> np.ndarray:
    """Per-image repeat factors r_i (module docstring).

    Args:
        labels: per image, its class ids (any shape, flattened).
        nc: number of classes.
        threshold: t > 0.

    Returns:
        (N,) float64 array, each >= 1.
    """
    if threshold <= 0:
        raise ValueError(f"rfs={threshold}: the repeat-factor threshold must be > 0 (0 turns sampling off)")
    present = [np.unique(np.asarray(c, dtype=np.int64).ravel()) for c in labels]
    per_class = np.maximum(1.0, np.sqrt(threshold / np.maximum(image_share(labels, nc), 1e-12)))
    return np.array([per_class[p].max() if len(p) else 1.0 for p in present])


def image_share(labels: list[np.ndarray], nc: int) -> np.ndarray:
    """(nc,) float64: f_c, the share of the images (per image, its class ids) that contain class c."""
    freq = np.zeros(nc)
    for c in labels:
        freq[np.unique(np.asarray(c, dtype=np.int64).ravel())] += 1
    return freq / max(len(labels), 1)


class RepeatFactorSampler(Sampler):
    """Indices of one epoch of repeat-factor sampling (module docstring); length round(sum r_i) / num_replicas.

    Args:
        factors: (N,) repeat factors from `repeat_factors`.
        seed: base seed; epoch e draws from seed + e.
        num_replicas, rank: DDP world size and this process's rank.
    """

    def __init__(self, factors: np.ndarray, seed: int = 0, num_replicas: int = 1, rank: int = 0):
        self.factors = np.asarray(factors, dtype=np.float64)
        self.seed, self.num_replicas, self.rank, self.epoch = int(seed), int(num_replicas), int(rank), 0
        self.total = int(round(self.factors.sum()))

    def set_epoch(self, epoch: int) -> None:
        """Use the order of `epoch` on the next iteration."""
        self.epoch = int(epoch)

    def epoch_indices(self) -> np.ndarray:
        """All processes' indices of the current epoch, shuffled: (total,) int64."""
        rng = np.random.default_rng(self.seed + self.epoch)
        whole = np.floor(self.factors).astype(np.int64)
        frac = self.factors - whole
        k = self.total - int(whole.sum())  # extra draws for the fractional parts
        extra = np.zeros(0, dtype=np.int64)
        if k > 0:
            edges = np.cumsum(frac) / frac.sum() * k  # systematic sampling: image i covers [edges[i-1], edges[i])
            points = rng.uniform() + np.arange(k)
            extra = np.searchsorted(edges, points, side="right")
        idx = np.concatenate([np.repeat(np.arange(len(whole)), whole), extra])
        return idx[rng.permutation(len(idx))]

    def __iter__(self):
        return iter(self.epoch_indices()[self.rank::self.num_replicas].tolist())

    def __len__(self) -> int:
        return math.ceil((self.total - self.rank) / self.num_replicas)
