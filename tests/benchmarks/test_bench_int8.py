"""benchmarks/int8.py: class agreement between fp32 and INT8 predictions, against hand counts."""

import math

import numpy as np
import torch
from ultralytics.engine.results import Results

import int8


def result(rows):
    return Results(np.zeros((100, 100, 3), np.uint8), path="", names={0: "a", 1: "b"},
                   boxes=torch.tensor(rows, dtype=torch.float32).reshape(-1, 6))


def test_agreement_counts_same_class_overlaps_of_confident_fp32_boxes():
    fp32 = result([[0, 0, 10, 10, 0.9, 0], [20, 20, 30, 30, 0.8, 1], [50, 50, 60, 60, 0.1, 0]])  # last: too weak
    int8_ = result([[1, 0, 10, 10, 0.7, 0], [20, 20, 30, 30, 0.8, 0]])  # first found; second: other class
    assert int8.agreement(fp32, int8_) == 0.5
    assert int8.agreement(fp32, result([])) == 0.0
    assert math.isnan(int8.agreement(result([]), int8_))
