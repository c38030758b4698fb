"""DLA-34 backbone and the channels-last adapter: shapes, DLA-34's size, ONNX export."""

from __future__ import annotations

import torch

from ext.nn.modules import DLA, ChannelsFirst


def test_dla34_levels_and_size():
    m = DLA().eval()
    outs = m(torch.rand(2, 3, 64, 96))
    assert [tuple(o.shape) for o in outs] == [(2, 128, 8, 12), (2, 256, 4, 6), (2, 512, 2, 3)]
    # DLA-34 without its classifier: 15.2 M parameters (15.7 M with the 1000-class layer, as published)
    assert 15.0e6 < sum(p.numel() for p in m.parameters()) < 15.5e6


def test_dla_tree_aggregates_children():
    """A stage-root tree's aggregation node sees both blocks and the stage input: 2 * c2 + c1 channels."""
    m = DLA(widths=(8, 8, 16, 16, 32, 32), levels=(1, 1, 1, 1)).eval()
    assert m.stages[1].root.conv.in_channels == 2 * 16 + 16  # stage 3: tree of level 1 with stage root
    assert m.stages[0].root.conv.in_channels == 2 * 16  # stage 2: no stage root
    assert [tuple(o.shape[1:]) for o in m(torch.rand(1, 3, 32, 32))] == [(16, 4, 4), (32, 2, 2), (32, 1, 1)]


def test_dla_and_channels_first_export(onnx_roundtrip, randomize_bn, tmp_path):
    m = DLA(widths=(8, 8, 16, 16, 32, 32))
    randomize_bn(m)
    assert onnx_roundtrip(m, (torch.rand(1, 3, 64, 64),), tmp_path / "dla.onnx") < 1e-4
    x = torch.rand(2, 5, 7, 3)
    assert torch.equal(ChannelsFirst()(x), x.permute(0, 3, 1, 2))
    assert onnx_roundtrip(ChannelsFirst(), (x,), tmp_path / "cf.onnx") == 0
