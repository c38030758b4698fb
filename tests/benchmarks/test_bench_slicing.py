"""benchmarks/slicing.py: the matching that counts found parts, and the label reading, against hand counts."""

import torch

import slicing


def test_matches_is_one_to_one_by_score_and_class(tmp_path):
    gt = torch.tensor([[0, 0, 0, 10, 10], [0, 20, 0, 30, 10], [1, 40, 0, 50, 10]], dtype=torch.float32)
    pred = torch.tensor([
        [0, 0, 10, 10, 0.9, 0],  # finds gt 0
        [1, 0, 10, 10, 0.8, 0],  # same gt again: not counted twice
        [20, 0, 30, 10, 0.7, 1],  # right place, wrong class
        [40, 0, 50, 10, 0.6, 1],  # finds gt 2
        [60, 0, 70, 10, 0.5, 0],  # nothing there
    ], dtype=torch.float32)
    assert slicing.matches(pred, gt) == 2
    assert slicing.matches(pred[:0], gt) == 0 and slicing.matches(pred, gt[:0]) == 0


def test_labels_of_reads_pixel_corners(tmp_path):
    f = tmp_path / "a.txt"
    f.write_text("3 0.5 0.25 0.1 0.2\n")
    torch.testing.assert_close(slicing.labels_of(f, 200, 100), torch.tensor([[3.0, 90.0, 15.0, 110.0, 35.0]]))
