"""Tests for ext.losses.vlr (LD's valuable localization region) and region_distillation, against numpy by hand."""

import numpy as np
import torch

from ext.losses import ld_kl, region_distillation, valuable_region


def iou_diou(a, g):
    """Plain-python IoU and DIoU of two xyxy boxes."""
    iw = max(0.0, min(a[2], g[2]) - max(a[0], g[0]))
    ih = max(0.0, min(a[3], g[3]) - max(a[1], g[1]))
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (g[2] - g[0]) * (g[3] - g[1]) - inter
    iou = inter / union
    c2 = (max(a[2], g[2]) - min(a[0], g[0])) ** 2 + (max(a[3], g[3]) - min(a[1], g[1])) ** 2
    d2 = ((a[0] + a[2]) / 2 - (g[0] + g[2]) / 2) ** 2 + ((a[1] + a[3]) / 2 - (g[1] + g[3]) / 2) ** 2
    return iou, iou - d2 / c2


def reference_region(anchors, strides, sizes, gts, scale, lower, topk):
    """The VLR by its definition, one box and one anchor at a time."""
    out = np.zeros(len(anchors))
    for g in gts:
        boxes = [(x - s * scale / 2, y - s * scale / 2, x + s * scale / 2, y + s * scale / 2)
                 for (x, y), s in zip(anchors, strides)]
        pairs = [iou_diou(b, g) for b in boxes]
        centre = ((g[0] + g[2]) / 2, (g[1] + g[3]) / 2)
        cand, start = [], 0
        for n in sizes:
            d = [np.hypot(anchors[i][0] - centre[0], anchors[i][1] - centre[1]) for i in range(start, start + n)]
            cand += [pairs[start + i][0] for i in np.argsort(d, kind="stable")[:topk]]
            start += n
        t = np.mean(cand) + np.std(cand, ddof=1)
        for i, (iou, diou) in enumerate(pairs):
            if lower * t <= diou < t:
                out[i] = max(out[i], iou)
    return out


def grid(size, stride):
    """Anchor centres of a size x size level, pixels."""
    return [((j + 0.5) * stride, (i + 0.5) * stride) for i in range(size) for j in range(size)]


def test_region_matches_its_definition_on_two_levels_and_two_boxes():
    anchors = grid(8, 8) + grid(4, 16)  # 64 px image, strides 8 and 16
    strides = [8.0] * 64 + [16.0] * 16
    gts = [(10.0, 12.0, 30.0, 26.0), (36.0, 30.0, 60.0, 62.0)]
    got = valuable_region(torch.tensor(anchors), torch.tensor(strides), [64, 16], torch.tensor([gts]),
                          torch.tensor([[True, True]]), scale=2.0, lower=0.25, topk=4)
    want = reference_region(anchors, strides, [64, 16], gts, 2.0, 0.25, 4)
    assert got.shape == (1, 80)
    np.testing.assert_allclose(got[0].numpy(), want, rtol=1e-5, atol=1e-6)
    assert 0 < (want > 0).sum() < 80  # a ring, not nothing and not everything


def test_padding_rows_and_empty_images_give_no_region():
    anchors, strides = torch.tensor(grid(4, 8)), torch.full((16,), 8.0)
    gt = torch.tensor([[[4.0, 4.0, 20.0, 20.0], [0.0, 0.0, 0.0, 0.0]], [[0.0, 0.0, 0.0, 0.0]] * 2])
    got = valuable_region(anchors, strides, [16], gt, gt.sum(-1) > 0, scale=2.0, topk=4)
    alone = valuable_region(anchors, strides, [16], gt[:1, :1], torch.tensor([[True]]), scale=2.0, topk=4)
    torch.testing.assert_close(got[:1], alone)  # the padding row adds nothing
    assert not got[1].any()  # an image without boxes has no region
    assert not valuable_region(anchors, strides, [16], gt[:, :0], gt[:, :0, 0] > 0).any()


def test_region_distillation_is_the_iou_weighted_ld_sum_per_image():
    g = torch.Generator().manual_seed(0)
    b, a, r = 2, 5, 8
    s = {"boxes": torch.randn(b, 4 * r, a, generator=g), "scores": torch.randn(b, 3, a, generator=g)}
    t = {"boxes": torch.randn(b, 4 * r, a, generator=g)}
    region = torch.tensor([[0.0, 0.5, 0.0, 0.2, 0.0], [0.1, 0.0, 0.0, 0.0, 0.0]])
    per = ld_kl(s["boxes"].permute(0, 2, 1).reshape(b, a, 4, r), t["boxes"].permute(0, 2, 1).reshape(b, a, 4, r), 10.0)
    want = 1.5 * (0.5 * per[0, 1] + 0.2 * per[0, 3] + 0.1 * per[1, 0]) / b
    torch.testing.assert_close(region_distillation(s, t, region, r, 10.0, 1.5), want.reshape(1))
    assert region_distillation(s, t, torch.zeros(b, a), r, 10.0, 1.5).item() == 0
