"""Tensor layout adapters for backbones whose features are channels-last (torchvision's Swin Transformer)."""

from __future__ import annotations

import torch
from torch import nn


class ChannelsFirst(nn.Module):
    """(B, H, W, C) -> (B, C, H, W), as the rest of the model (neck, head) expects."""

    @classmethod
    def yaml_args(cls, c_in, args: list, scale) -> tuple[list, int]:
        """No arguments; the width is the input's."""
        return [], c_in

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.permute(0, 3, 1, 2).contiguous()
