"""Modulated deformable convolution (DCNv2) built from ONNX-exportable operators.

torchvision.ops.deform_conv2d has no ONNX symbolic and ONNX Runtime has no DeformConv kernel, so the
sampling here is done with ``F.grid_sample`` (bilinear, zeros padding, align_corners=False; ONNX
GridSample needs opset >= 16) and the weighting with a 1x1 ``F.conv2d`` over the sampled columns.
The numbers match ``torchvision.ops.deform_conv2d`` (same offset and mask layout).

Offset layout (as torchvision): offset has shape (B, 2 * G * kh * kw, Ho, Wo), viewed as
(B, G, kh * kw, 2, Ho, Wo) with index 0 the row (y) shift and 1 the column (x) shift, kernel taps in
row-major order; input channels are split into G contiguous offset groups. Mask: (B, G * kh * kw, Ho, Wo).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ("DeformConv", "ModulatedDeformConv2d", "deform_conv2d_exportable")


def _pair(v) -> tuple[int, int]:
    """Return v as an (int, int) pair."""
    return (int(v[0]), int(v[1])) if isinstance(v, (tuple, list)) else (int(v), int(v))


def deform_conv2d_exportable(
    x: torch.Tensor,
    offset: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None = None,
    mask: torch.Tensor | None = None,
    stride=1,
    padding=0,
    dilation=1,
) -> torch.Tensor:
    """Modulated deformable 2D convolution with exportable ops (same semantics as torchvision's).

    Args:
        x (torch.Tensor): Input, shape (B, C, H, W).
        offset (torch.Tensor): Sampling shifts in pixels, shape (B, 2 * G * kh * kw, Ho, Wo).
        weight (torch.Tensor): Kernel, shape (Cout, C // groups, kh, kw); groups = C // weight.shape[1].
        bias (torch.Tensor | None): Shape (Cout,).
        mask (torch.Tensor | None): Modulation scalars, shape (B, G * kh * kw, Ho, Wo); None means all ones (DCNv1).
        stride, padding, dilation (int | tuple[int, int]): As in nn.Conv2d.

    Returns:
        (torch.Tensor): Output, shape (B, Cout, Ho, Wo).
    """
    b, c, h, w = x.shape
    c_out, c_per_group, kh, kw = weight.shape
    k = kh * kw
    sh, sw = _pair(stride)
    ph, pw = _pair(padding)
    dh, dw = _pair(dilation)
    ho, wo = offset.shape[-2:]
    g = offset.shape[1] // (2 * k)  # offset groups

    # Sampling positions in input pixels, shape (B, G, K, Ho, Wo); float32 even for half inputs (fp16 would
    # quantise positions past 64 px to 1/16 px or worse)
    f32 = dict(dtype=torch.float32, device=x.device)
    off = offset.float().reshape(b, g, k, 2, ho, wo)
    rows = torch.arange(ho, **f32) * sh - ph  # (Ho,)
    cols = torch.arange(wo, **f32) * sw - pw  # (Wo,)
    tap_y = (torch.arange(kh, **f32) * dh).repeat_interleave(kw)  # (K,)
    tap_x = (torch.arange(kw, **f32) * dw).repeat(kh)  # (K,)
    py = rows.view(1, 1, 1, -1, 1) + tap_y.view(1, 1, k, 1, 1) + off[:, :, :, 0]
    px = cols.view(1, 1, 1, 1, -1) + tap_x.view(1, 1, k, 1, 1) + off[:, :, :, 1]

    # Pixel -> normalised coordinates for align_corners=False: pixel centre i sits at (2 i + 1) / size - 1
    gx = (2 * px + 1) / w - 1
    gy = (2 * py + 1) / h - 1
    grid = torch.stack((gx, gy), dim=-1).reshape(b * g, k * ho, wo, 2).to(x.dtype)

    sampled = F.grid_sample(
        x.reshape(b * g, c // g, h, w), grid, mode="bilinear", padding_mode="zeros", align_corners=False
    )  # (B*G, C/G, K*Ho, Wo)
    sampled = sampled.reshape(b, g, c // g, k, ho, wo)
    if mask is not None:
        sampled = sampled * mask.reshape(b, g, 1, k, ho, wo)
    columns = sampled.reshape(b, c * k, ho, wo)  # channel-major, tap-minor: matches weight.reshape below
    return F.conv2d(columns, weight.reshape(c_out, c_per_group * k, 1, 1), bias, groups=c // c_per_group)


class ModulatedDeformConv2d(nn.Module):
    """DCNv2 layer whose offsets and mask are given by the caller.

    Args:
        c1 (int): Input channels.
        c2 (int): Output channels.
        k (int): Kernel size.
        s (int): Stride.
        p (int | None): Padding; None gives 'same' padding d * (k - 1) // 2.
        d (int): Dilation.
        groups (int): Convolution groups (weight groups, not offset groups).
        bias (bool): Learnable bias.

    Shapes:
        forward(x (B, c1, H, W), offset (B, 2*G*k*k, Ho, Wo), mask (B, G*k*k, Ho, Wo) | None) -> (B, c2, Ho, Wo)
    """

    def __init__(self, c1: int, c2: int, k: int = 3, s: int = 1, p: int | None = None, d: int = 1, groups: int = 1,
                 bias: bool = True):
        """Create the weight (c2, c1 // groups, k, k) with nn.Conv2d's default initialisation."""
        super().__init__()
        self.stride, self.dilation, self.k = s, d, k
        self.padding = d * (k - 1) // 2 if p is None else p
        self.weight = nn.Parameter(torch.empty(c2, c1 // groups, k, k))
        self.bias = nn.Parameter(torch.zeros(c2)) if bias else None
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            bound = 1 / math.sqrt(c1 // groups * k * k)
            nn.init.uniform_(self.bias, -bound, bound)

    def forward(self, x: torch.Tensor, offset: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Apply the deformable convolution, (B, c1, H, W) -> (B, c2, Ho, Wo)."""
        return deform_conv2d_exportable(
            x, offset, self.weight, self.bias, mask, self.stride, self.padding, self.dilation
        )


class DeformConv(nn.Module):
    """Self-offset DCNv2 block (DyHead style): offsets and mask come from a conv on the input itself.

    The offset conv (same k, s, d as the main conv) outputs 3 * G * k * k channels: the first 2 * G * k * k are
    offsets, the rest pass through a sigmoid to give the mask. It is zero-initialised, so training starts from
    the regular grid with mask 0.5 everywhere, as DyHead does. A BatchNorm follows the deformable conv.

    Args:
        c1 (int): Input channels.
        c2 (int): Output channels.
        k (int): Kernel size.
        s (int): Stride.
        d (int): Dilation.
        offset_groups (int): Channel groups sharing one offset field (c1 % offset_groups == 0).

    Shapes:
        forward(x (B, c1, H, W)) -> (B, c2, Ho, Wo), Ho = (H + 2 p - d (k - 1) - 1) // s + 1 with p = d (k - 1) // 2.
    """

    def __init__(self, c1: int, c2: int, k: int = 3, s: int = 1, d: int = 1, offset_groups: int = 1):
        """Build the offset/mask predictor, the deformable conv (no bias) and a BatchNorm."""
        super().__init__()
        p = d * (k - 1) // 2
        self.n_offset = 2 * offset_groups * k * k
        self.offset_conv = nn.Conv2d(c1, 3 * offset_groups * k * k, k, s, p, dilation=d)
        nn.init.zeros_(self.offset_conv.weight)
        nn.init.zeros_(self.offset_conv.bias)
        self.dcn = ModulatedDeformConv2d(c1, c2, k, s, p, d, bias=False)
        self.bn = nn.BatchNorm2d(c2)

    @classmethod
    def yaml_args(cls, c_in, args: list, scale) -> tuple[list, int]:
        """YAML args [c2, k=3, s=1, d=1, offset_groups=1]; c2 is a full-width number scaled by scale.channels."""
        c2 = scale.channels(args[0])
        return [c_in, c2, *args[1:]], c2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Predict offsets/mask from x and apply the deformable conv, (B, c1, H, W) -> (B, c2, Ho, Wo)."""
        om = self.offset_conv(x)
        offset, mask = om[:, : self.n_offset], om[:, self.n_offset :].sigmoid()
        return self.bn(self.dcn(x, offset, mask))
