"""DLA-34 (Deep Layer Aggregation, Yu et al., CVPR 2018) as a backbone returning its P3/P4/P5 features.

No installed package provides DLA (torchvision does not), so it is written here from the paper's description:
residual basic blocks grouped into hierarchical trees whose outputs are merged by aggregation nodes (1x1 conv +
BN + activation over the concatenated children), stage widths 16-32-64-128-256-512, tree depths 1-2-2-1 for
stages 2-5. Built from Ultralytics' `Conv` (conv + BN + SiLU), so it fuses like the rest of the model.
"""

from __future__ import annotations

import torch
from torch import nn
from ultralytics.nn.modules import Conv


class DLABlock(nn.Module):
    """Residual basic block: 3x3 conv (stride s) -> 3x3 conv (no activation) -> + residual -> SiLU.

    (B, c1, H, W) -> (B, c2, H/s, W/s); the residual is given by the caller (its tree) or is the input itself.
    """

    def __init__(self, c1: int, c2: int, s: int = 1):
        super().__init__()
        self.cv1 = Conv(c1, c2, 3, s)
        self.cv2 = Conv(c2, c2, 3, 1, act=False)
        self.act = nn.SiLU()

    def forward(self, x: torch.Tensor, residual: torch.Tensor | None = None) -> torch.Tensor:
        return self.act(self.cv2(self.cv1(x)) + (x if residual is None else residual))


class DLATree(nn.Module):
    """A hierarchical aggregation tree of `levels` levels of DLABlocks, c1 -> c2 channels at stride s.

    A level-1 tree is two blocks whose outputs (and, for a stage root, the stage input) are merged by an aggregation
    node; a deeper tree is two subtrees, the second merging everything the first passed along.
    """

    def __init__(self, levels: int, c1: int, c2: int, s: int = 1, stage_root: bool = False, root_c: int = 0):
        super().__init__()
        root_c = root_c or 2 * c2
        if stage_root:
            root_c += c1
        self.levels, self.stage_root = levels, stage_root
        if levels == 1:
            self.tree1, self.tree2 = DLABlock(c1, c2, s), DLABlock(c2, c2, 1)
            self.root = Conv(root_c, c2, 1)  # aggregation node over [tree2, tree1, *stage input]
        else:
            self.tree1 = DLATree(levels - 1, c1, c2, s)
            self.tree2 = DLATree(levels - 1, c2, c2, 1, root_c=root_c + c2)
        self.down = nn.MaxPool2d(s, s) if s > 1 else nn.Identity()
        self.project = Conv(c1, c2, 1, act=False) if c1 != c2 else nn.Identity()

    def forward(self, x: torch.Tensor, residual=None, children: list | None = None) -> torch.Tensor:
        children = [] if children is None else children
        bottom = self.down(x)
        if self.stage_root:
            children.append(bottom)
        x1 = self.tree1(x, self.project(bottom))
        if self.levels == 1:
            return self.root(torch.cat([self.tree2(x1), x1, *children], 1))
        children.append(x1)
        return self.tree2(x1, children=children)


class DLA(nn.Module):
    """DLA backbone: (B, 3, H, W) -> [P3 (B, c[3], H/8, W/8), P4 (B, c[4], H/16, W/16), P5 (B, c[5], H/32, W/32)].

    Args:
        c1: input channels. widths: the six stage widths (DLA-34: 16, 32, 64, 128, 256, 512).
        levels: tree depths of stages 2-5 (DLA-34: 1, 2, 2, 1).
    """

    returns_list = True  # the YAML builder: `Index` rows reading this layer get that level's width

    def __init__(self, c1: int = 3, widths=(16, 32, 64, 128, 256, 512), levels=(1, 2, 2, 1)):
        super().__init__()
        w = list(widths)
        self.stem = nn.Sequential(Conv(c1, w[0], 7), Conv(w[0], w[0], 3), Conv(w[0], w[1], 3, 2))  # stages 0-1, /2
        self.stages = nn.ModuleList(
            DLATree(lv, w[i + 1], w[i + 2], 2, stage_root=i > 0) for i, lv in enumerate(levels)
        )  # /4, /8, /16, /32
        self.widths = w

    @classmethod
    def yaml_args(cls, c_in, args: list, scale) -> tuple[list, list[int]]:
        """YAML args [widths=DLA-34's, levels=DLA-34's], not scaled (a published backbone, like TorchVision's).

        Returns ([c_in, *args], [P3, P4, P5 widths]).
        """
        widths = list(args[0]) if args else [16, 32, 64, 128, 256, 512]
        return [c_in, *args], widths[3:]

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = self.stem(x)
        outs = []
        for stage in self.stages:
            x = stage(x)
            outs.append(x)
        return outs[1:]  # strides 8, 16, 32
