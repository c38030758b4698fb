"""HSD's heterogeneous knowledge head (HKH), an ultralytics Detect with depthwise-separable 5x5 towers."""

from __future__ import annotations

import copy

import torch
from torch import nn

from ultralytics.nn.modules.block import DFL
from ultralytics.nn.modules.conv import Conv, DWConv
from ultralytics.nn.modules.head import Detect

__all__ = ("HKH", "LastAxisDFL", "ScaledConv2d", "ShortcutTower")


class LastAxisDFL(DFL):
    """Ultralytics' DFL integral (softmax over the bins, then the expected bin), with the softmax on the last axis.

    Same weights and same output as `DFL` (to float rounding). `DFL` takes the softmax over axis 1 of a
    (B, reg_max, 4, A) view, which ONNX Runtime's CPU kernel runs through transposes, a large share of a small
    model's time at 640 px. Here the bins are moved last, softmaxed and projected on the bin indices (the conv
    weight, 0..reg_max-1) with a matmul (`benchmarks/latency.py --swap-dfl` times both, docs/latency.md).

    Shapes: (B, 4 * reg_max, A) logits -> (B, 4, A) expected distances in bins.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 4 * reg_max, A) -> (B, 4, A)."""
        b, _, a = x.shape
        p = x.view(b, 4, self.c1, a).transpose(2, 3).softmax(-1)  # (B, 4, A, reg_max)
        return (p @ self.conv.weight.view(self.c1, 1).to(p.dtype)).view(b, 4, a)


class ScaledConv2d(nn.Conv2d):
    """nn.Conv2d whose output is multiplied by one learnable scalar, ``logit_scale`` (starts at 1).

    Used as the last layer of each regression branch: GFL's per-level learnable Scale applied to the box
    distribution logits. On a DFL output it acts as a per-level softmax temperature (it sharpens or flattens the
    distribution over the reg_max bins), so it fits the distribution output; with reg_max == 1 it is FCOS's scale
    on the distances. The name contains 'logit_scale' so Ultralytics' optimizer puts it in the no-decay group.
    ``fold_scale()`` merges it into weight and bias (HKH.fuse does this). Shapes as nn.Conv2d.
    """

    def __init__(self, *args, **kwargs):
        """Same arguments as nn.Conv2d."""
        super().__init__(*args, **kwargs)
        self.logit_scale = nn.Parameter(torch.ones(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C_in, H, W) -> (B, C_out, H', W'), conv output times logit_scale."""
        return super().forward(x) * self.logit_scale

    @torch.no_grad()
    def fold_scale(self) -> None:
        """Multiply weight and bias by logit_scale and reset it to 1 (output unchanged)."""
        s = self.logit_scale.detach().clone()
        self.weight.mul_(s)
        if self.bias is not None:
            self.bias.mul_(s)
        self.logit_scale.fill_(1.0)


def _tower(c1: int, c: int, n: int) -> list[nn.Module]:
    """n depthwise-separable 5x5 blocks as a flat list: DWConv(5x5)+BN+act, Conv(1x1)+BN+act; c1 -> c channels.

    The list is flat so that tower[0] is a Conv with ``.conv`` (Ultralytics' weight transfer reads m[0].conv).
    """
    layers = []
    for i in range(n):
        cin = c1 if i == 0 else c
        layers += [DWConv(cin, cin, 5), Conv(cin, c, 1)]
    return layers


class ShortcutTower(nn.Sequential):
    """A tower of `_tower` blocks then its predictor, each block (DW 5x5, PW 1x1) added to its input where their
    shapes match (x + pw(dw(x)), as MobileNetV2 / ConvNeXt stack depthwise-separable blocks); the predictor last.

    Same layers and state-dict keys as the plain nn.Sequential tower, so either loads the other's weights.
    Shapes: (B, c1, H, W) -> (B, c_out, H, W).
    """

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, c1, H, W) -> (B, c, H, W), the blocks' output: the predictor's input."""
        for dw, pw in zip(self[:-1:2], self[1:-1:2]):
            y = pw(dw(x))
            x = x + y if y.shape == x.shape else y
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, c1, H, W) -> predictor output (B, c_out, H, W)."""
        return self[-1](self.features(x))


class HKH(Detect):
    """Heterogeneous knowledge head: separate classification and regression towers per level.

    Per level i with ch[i] input channels:
      cv2[i] (box):  n_convs x (DW 5x5 + PW 1x1) to c_box, then ScaledConv2d 1x1 -> 4 * reg_max (distribution logits);
      cv3[i] (cls):  n_convs x (DW 5x5 + PW 1x1) to c_cls, then nn.Conv2d 1x1 -> nc.
    All of Detect's forward / _inference / bias_init / end2end (one2one copies) / export code is used unchanged;
    cv2 and cv3 are replaced, and the DFL read-out by `LastAxisDFL` (same output; its ONNX Runtime timing:
    docs/latency.md). Every conv in the towers is an ultralytics Conv/DWConv with BN, so BaseModel.fuse() folds them;
    HKH.fuse() also folds the per-level scale into its conv.

    Args:
        nc (int): Classes.
        n_convs (int): Depthwise-separable blocks per tower (paper: 3; 0 gives bare 1x1 predictors).
        c_ (int | None): Tower width for both towers; None uses Detect's choice, box max(16, ch[0] // 4, 4 * reg_max)
            and cls max(ch[0], min(nc, 100)).
        reg_max (int): DFL bins per side (Ultralytics counts bins; GFL's reg_max=16 means 17 bins).
        end2end (bool): Also build the one-to-one branch (deep copies, as Detect does).
        ch (tuple[int, ...]): Input channels per level.
        shortcut (bool): Add each tower block to its input where the shapes match (`ShortcutTower`); False is the
            paper's plain stack.
        level_scale (bool): Learnable per-level scale on the regression logits (paper has one).

    Shapes:
        training: dict boxes (B, 4 * reg_max, A), scores (B, nc, A), feats (the inputs), A = sum H_i W_i
            (nested under one2many/one2one when end2end);
        eval: ((B, 4 + nc, A) decoded xywh boxes in pixels and sigmoid scores, raw dict); export: the tensor alone.
    """

    def __init__(self, nc: int = 80, n_convs: int = 3, c_: int | None = None, reg_max: int = 16,
                 end2end: bool = False, ch: tuple = (), shortcut: bool = False, *, level_scale: bool = True):
        """Build Detect (with `end2end` as given, so that the head is end-to-end exactly as Ultralytics' own, in any
        version), then replace its cv2/cv3 with the 5x5 depthwise-separable towers and its one-to-one copies."""
        super().__init__(nc, reg_max, end2end, ch)
        if self.reg_max > 1:
            self.dfl = LastAxisDFL(self.reg_max)
        c_box = c_ or max(16, ch[0] // 4, self.reg_max * 4)
        c_cls = c_ or max(ch[0], min(self.nc, 100))
        box_out = ScaledConv2d if level_scale else nn.Conv2d
        tower = ShortcutTower if shortcut and n_convs else nn.Sequential
        self.cv2 = nn.ModuleList(
            tower(*_tower(x, c_box, n_convs), box_out(c_box if n_convs else x, 4 * self.reg_max, 1)) for x in ch
        )
        self.cv3 = nn.ModuleList(
            tower(*_tower(x, c_cls, n_convs), nn.Conv2d(c_cls if n_convs else x, self.nc, 1)) for x in ch
        )
        if end2end:  # Detect copied its own towers: copy ours instead
            self.one2one_cv2 = copy.deepcopy(self.cv2)
            self.one2one_cv3 = copy.deepcopy(self.cv3)

    @classmethod
    def yaml_args(cls, c_in, args: list, scale) -> tuple[list, int]:
        """YAML args [nc, n_convs=3, width=None, shortcut=False]; width is a full-width number scaled by
        scale.channels.

        Returns ([nc, n_convs, c_, scale.reg_max, bool(scale.end2end), list(c_in), shortcut], nc).
        """
        nc = args[0]
        n_convs = args[1] if len(args) > 1 else 3
        width = args[2] if len(args) > 2 else None
        shortcut = bool(args[3]) if len(args) > 3 else False
        c_ = scale.channels(width) if width else None
        c_in = list(c_in) if isinstance(c_in, (list, tuple)) else [c_in]
        return [nc, n_convs, c_, scale.reg_max, bool(scale.end2end), c_in, shortcut], nc

    def fuse(self) -> None:
        """Fold the per-level regression scales into their convs, then drop the unused branch (Detect.fuse)."""
        for m in self.modules():
            if isinstance(m, ScaledConv2d):
                m.fold_scale()
        super().fuse()
