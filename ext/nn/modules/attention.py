"""Attention blocks: coordinate attention (HSD's neck) and GJADet's adaptive attention.

Both are shape-preserving, (B, C, H, W) -> (B, C, H, W), and use only ONNX-exportable operators
(global pooling is written as a mean over dims, not adaptive pooling).
"""

from __future__ import annotations

import torch
from torch import nn

from ultralytics.nn.modules.conv import Conv, SpatialAttention

from .deform import DeformConv

__all__ = ("AdaptiveAttention", "CoordAtt", "DeformSpatial", "DynamicReLU", "ScaleAttention")


class CoordAtt(nn.Module):
    """Coordinate attention (Hou et al., CVPR 2021).

    Pool along W (giving a (B, C, H, 1) column) and along H (giving (B, C, 1, W), turned to (B, C, W, 1)),
    concatenate to (B, C, H + W, 1), 1x1 conv C -> mid with BN and h-swish (an ultralytics Conv, so fuse()
    folds the BN), split back, then one 1x1 conv + sigmoid per direction: a_h (B, C, H, 1), a_w (B, C, 1, W).
    Output x * a_h * a_w.

    Args:
        c1 (int): Channels C (input = output).
        reduction (int): mid = max(8, C // reduction).
    """

    def __init__(self, c1: int, reduction: int = 32):
        """Build the shared 1x1 reduction and the two direction convs."""
        super().__init__()
        mid = max(8, c1 // reduction)
        self.reduce = Conv(c1, mid, 1, act=nn.Hardswish())
        self.conv_h = nn.Conv2d(mid, c1, 1)
        self.conv_w = nn.Conv2d(mid, c1, 1)

    @classmethod
    def yaml_args(cls, c_in, args: list, scale) -> tuple[list, int]:
        """YAML args [reduction=32]; channels come from the input, c2 = c_in."""
        return [c_in, *args], c_in

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) -> (B, C, H, W)."""
        h = x.shape[2]
        pooled_h = x.mean(dim=3, keepdim=True)  # (B, C, H, 1): one value per row
        pooled_w = x.mean(dim=2, keepdim=True).transpose(2, 3)  # (B, C, W, 1): one value per column
        y = self.reduce(torch.cat((pooled_h, pooled_w), dim=2))  # (B, mid, H + W, 1)
        y_h, y_w = y[:, :, :h], y[:, :, h:]
        a_h = self.conv_h(y_h).sigmoid()  # (B, C, H, 1)
        a_w = self.conv_w(y_w.transpose(2, 3)).sigmoid()  # (B, C, 1, W)
        return x * a_h * a_w


class ScaleAttention(nn.Module):
    """Scale-aware attention: x * hard_sigmoid(relu(conv1x1_{C->1}(GAP(x)))); (B, C, H, W) -> same.

    The factor lies in [0.5, 1] (DyHead's design: ReLU before the hard sigmoid).
    """

    def __init__(self, c1: int):
        """1x1 conv C -> 1 with bias."""
        super().__init__()
        self.fc = nn.Conv2d(c1, 1, 1)
        self.act = nn.Hardsigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) -> (B, C, H, W)."""
        return x * self.act(self.fc(x.mean(dim=(2, 3), keepdim=True)).relu())


class DynamicReLU(nn.Module):
    """Task-aware attention, dynamic ReLU (DyReLU-B as in DyHead).

    theta = hard_sigmoid(fc2(relu(fc1(GAP(x))))) - 0.5, fc1: C -> C/4, fc2: C/4 -> 4C, split along channels
    into a1, b1, a2, b2 (each (B, C, 1, 1), in that order); a1 <- 2 a1 + 1, a2 <- 2 a2;
    out = max(a1 * x + b1, a2 * x + b2). Shapes: (B, C, H, W) -> (B, C, H, W).
    """

    def __init__(self, c1: int, reduction: int = 4):
        """fc1 C -> max(C // reduction, 1), fc2 -> 4C, both 1x1 convs with bias."""
        super().__init__()
        mid = max(c1 // reduction, 1)
        self.fc1 = nn.Conv2d(c1, mid, 1)
        self.fc2 = nn.Conv2d(mid, 4 * c1, 1)
        self.act = nn.Hardsigmoid()

    def coefficients(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Return (a1, b1, a2, b2), each (B, C, 1, 1), after the 2a1+1 / 2a2 mapping."""
        theta = self.act(self.fc2(self.fc1(x.mean(dim=(2, 3), keepdim=True)).relu())) - 0.5
        a1, b1, a2, b2 = theta.chunk(4, dim=1)
        return 2 * a1 + 1, b1, 2 * a2, b2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) -> (B, C, H, W)."""
        a1, b1, a2, b2 = self.coefficients(x)
        return torch.maximum(a1 * x + b1, a2 * x + b2)


class DeformSpatial(nn.Module):
    """DyHead-style spatial part: a 3x3 modulated deformable conv C -> C (+BN) replaces the 7x7 attention map.

    Offsets start at zero and the mask at 0.5 (zero-initialised predictor). (B, C, H, W) -> (B, C, H, W).
    """

    def __init__(self, c1: int):
        """Self-offset DCNv2 3x3, stride 1."""
        super().__init__()
        self.dcn = DeformConv(c1, c1, 3, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) -> (B, C, H, W)."""
        return self.dcn(x)


class AdaptiveAttention(nn.Module):
    """GJADet's adaptive attention, applied after each Concat of the PAFPN: spatial -> scale -> task.

    - spatial: mean and max over channels -> 7x7 conv -> sigmoid -> multiply (ultralytics SpatialAttention);
      with deform=True a DyHead-style 3x3 modulated deformable conv (DeformSpatial) is used instead.
    - scale: ScaleAttention (GAP -> 1x1 conv to 1 channel -> ReLU -> hard sigmoid -> multiply).
    - task: DynamicReLU. Unlike the public code, this branch is applied.
    Each part can be switched off; all off is the identity.

    Args:
        c1 (int): Channels C.
        spatial, scale, task (bool): Enable each part.
        deform (bool): Use the deformable spatial part (needs ONNX opset >= 16 for GridSample).

    Shapes: (B, C, H, W) -> (B, C, H, W).
    """

    def __init__(self, c1: int, spatial: bool = True, scale: bool = True, task: bool = True, deform: bool = False):
        """Build the enabled parts; disabled ones are nn.Identity."""
        super().__init__()
        if spatial:
            self.spatial = DeformSpatial(c1) if deform else SpatialAttention(7)
        else:
            self.spatial = nn.Identity()
        self.scale = ScaleAttention(c1) if scale else nn.Identity()
        self.task = DynamicReLU(c1) if task else nn.Identity()

    @classmethod
    def yaml_args(cls, c_in, args: list, scale) -> tuple[list, int]:
        """YAML args [spatial=True, scale=True, task=True, deform=False]; c1 = c_in (e.g. a Concat's sum), c2 = c_in."""
        return [c_in, *args], c_in

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) -> (B, C, H, W)."""
        return self.task(self.scale(self.spatial(x)))
