"""HSD's heterogeneous knowledge neck (HKN)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ultralytics.nn.modules.conv import Conv, DWConv

from .attention import CoordAtt

__all__ = ("HKN",)


class HKN(nn.Module):
    """Heterogeneous knowledge neck: an FPN with coordinate attention and 7x7 depthwise-separable outputs.

    Per level i (P3..P5 in a detector, any number of levels works):
      1. lateral 1x1 Conv (BN + act) ch_in[i] -> c2;
      2. coordinate attention on the lateral map (its output is used; the public code dropped it);
      3. top-down: from the coarsest level down, lateral[i] += nearest-upsample(lateral[i + 1]) to lateral[i]'s size;
      4. output conv: depthwise 7x7 Conv (BN + act) then pointwise 1x1 Conv (BN + act), added to its input when
         residual=True (x + out(x)); the paper's neck is without.

    Ablation switches: ca=False skips step 2; dw7=False uses a plain 3x3 Conv as the output conv (the standard
    FPN baseline) instead of the 7x7 depthwise-separable pair; top_down=False skips step 3.

    Args:
        ch_in (list[int]): Input channels per level, finest first.
        c2 (int): Common output width.
        ca, dw7, top_down, residual (bool): Switches above.

    Shapes:
        forward(list of (B, ch_in[i], H_i, W_i)) -> list of (B, c2, H_i, W_i), same order.
    """

    returns_list = True  # the YAML builder: Index rows reading this layer get c2 channels

    def __init__(self, ch_in: list[int], c2: int, ca: bool = True, dw7: bool = True, top_down: bool = True,
                 residual: bool = False):
        """Build one lateral conv, attention and output conv per level."""
        super().__init__()
        self.top_down, self.residual = top_down, residual
        self.lateral = nn.ModuleList(Conv(c, c2, 1) for c in ch_in)
        self.attention = nn.ModuleList((CoordAtt(c2) if ca else nn.Identity()) for _ in ch_in)
        self.output = nn.ModuleList(
            (nn.Sequential(DWConv(c2, c2, 7), Conv(c2, c2, 1)) if dw7 else Conv(c2, c2, 3)) for _ in ch_in
        )

    @classmethod
    def yaml_args(cls, c_in, args: list, scale) -> tuple[list, int]:
        """YAML 'from' is a list of levels; args [c2, ca=True, dw7=True, top_down=True, residual=False], c2 scaled
        by width.

        Returns ([c_in list, scaled c2, *switches], scaled c2): every output level has c2 channels.
        """
        c_in = list(c_in) if isinstance(c_in, (list, tuple)) else [c_in]
        c2 = scale.channels(args[0])
        return [c_in, c2, *args[1:]], c2

    def forward(self, x: list[torch.Tensor]) -> list[torch.Tensor]:
        """list of (B, ch_in[i], H_i, W_i) -> list of (B, c2, H_i, W_i)."""
        feats = [att(lat(xi)) for xi, lat, att in zip(x, self.lateral, self.attention)]
        if self.top_down:
            for i in range(len(feats) - 2, -1, -1):
                feats[i] = feats[i] + F.interpolate(feats[i + 1], size=feats[i].shape[-2:], mode="nearest")
        if getattr(self, "residual", False):  # checkpoints from before the switch have no attribute: without
            return [f + out(f) for f, out in zip(feats, self.output)]
        return [out(f) for f, out in zip(feats, self.output)]
