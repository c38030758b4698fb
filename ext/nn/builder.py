"""A YAML model builder that speaks Ultralytics' grammar and also knows the `ext` modules.

The grammar is Ultralytics': `backbone` + `head` rows of `[from, repeats, module, args]`, `nc`, `reg_max`,
`end2end`, `activation` and `scales: {name: [depth, width, max_channels]}`. Ultralytics' own layers get
Ultralytics' channel and repeat rules; our layers scale through their `yaml_args(c_in, args, scale)` class
method, so they grow with width and depth like the built-ins.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

import torch
import ultralytics.nn.modules as um
import ultralytics.nn.tasks as ut
from torch import nn
from ultralytics.utils import LOGGER
from ultralytics.utils.ops import make_divisible

# Ultralytics layers whose first argument is an output width (scaled by `width`, capped by max_channels).
WIDTH_FIRST = frozenset(
    "Conv ConvTranspose GhostConv Bottleneck GhostBottleneck SPP SPPF C2fPSA C2PSA DWConv Focus BottleneckCSP C1 C2 "
    "C2f C3k2 RepNCSPELAN4 ELAN1 ADown AConv SPPELAN C3 C3TR C3Ghost ConvTranspose2d DWConvTranspose2d C3x RepC3 "
    "PSA SCDown C2fCIB A2C2f".split()
)
# ... of those, the ones that take a repeat count as their third argument.
REPEATED = frozenset("BottleneckCSP C1 C2 C2f C3k2 C3 C3TR C3Ghost C3x RepC3 C2fPSA C2fCIB C2PSA A2C2f".split())
# Ultralytics' modern blocks: a model using any of them gets Detect.legacy = False, as in Ultralytics.
MODERN = frozenset({"C3k2", "A2C2f", "C2fCIB"})


@dataclass
class Scale:
    """Compound scaling of one model scale: repeats by `depth_gain`, channels by `width_gain` up to `max_channels`."""

    depth_gain: float = 1.0
    width_gain: float = 1.0
    max_channels: float = float("inf")
    name: str = ""
    reg_max: int = 16
    end2end: bool | None = None

    def channels(self, c: int) -> int:
        """Scale a full-width channel count like Ultralytics: make_divisible(min(c, max) * width, 8)."""
        return make_divisible(min(c, self.max_channels) * self.width_gain, 8)

    def depth(self, n: int) -> int:
        """Scale a repeat count like Ultralytics: max(round(n * depth), 1) when n > 1."""
        return max(round(n * self.depth_gain), 1) if n > 1 else n


def resolve_module(name: str):
    """Return the class named in a YAML row: `nn.X`, `torchvision.ops.X`, an `ext` module, or an Ultralytics one."""
    from . import modules as ours

    if name.startswith("nn."):
        return getattr(nn, name[3:])
    if name.startswith("torchvision.ops."):
        return getattr(__import__("torchvision").ops, name[16:])
    for space in (ours, um, ut):
        if hasattr(space, name):
            return getattr(space, name)
    raise KeyError(f"unknown module '{name}' in model YAML: not in torch.nn, ext.nn.modules or ultralytics.nn")


def names_ext_module(d: dict) -> bool:
    """True when a row of the model dict names a module of ours (or a `torchvision.ops` one), which only our
    `parse_model` builds; Ultralytics' own YAMLs name none and go to Ultralytics' `parse_model`."""
    from . import modules as ours

    names = {str(r[2]) for r in d.get("backbone", []) + d.get("head", [])}
    return any(n.startswith("torchvision.ops.") or (n in ours.__all__ and not hasattr(um, n)) for n in names)


def _scale_of(d: dict) -> Scale:
    """Read the scale of a model dict (`scale` picks a row of `scales`; default: the first row)."""
    s = Scale(reg_max=d.get("reg_max", 16), end2end=d.get("end2end"))
    scales, name = d.get("scales"), d.get("scale")
    if scales:
        if not name:
            name = next(iter(scales))
            LOGGER.warning(f"no model scale given, assuming scale='{name}'")
        if name not in scales:
            raise KeyError(f"scale '{name}' not in this model's scales {list(scales)}")
        s.depth_gain, s.width_gain, s.max_channels = scales[name]
    else:
        s.depth_gain, s.width_gain = d.get("depth_multiple", 1.0), d.get("width_multiple", 1.0)
    s.name = name or ""
    return s


def _literal(a, names: dict):
    """Turn YAML string arguments into values: model names such as `nc`, else Python literals, else keep."""
    if not isinstance(a, str):
        return a
    if a in names:
        return names[a]
    try:
        return ast.literal_eval(a)
    except (ValueError, SyntaxError):
        return a


def parse_model(d: dict, ch: int, verbose: bool = True) -> tuple[nn.Sequential, list[int]]:
    """Build the layers of a model dict. Same signature and return value as `ultralytics.nn.tasks.parse_model`.

    Args:
        d: model dict (Ultralytics YAML grammar).
        ch: input image channels.
        verbose: log one line per layer.

    Returns:
        (layers, save): the layers as an `nn.Sequential` with `.i`, `.f`, `.type`, `.np` set on each, and the sorted
        indices of layers whose outputs later layers read.
    """
    from ultralytics.nn.modules import Conv

    scale = _scale_of(d)
    names = {"nc": d["nc"]}
    act, default_act = d.get("activation"), Conv.default_act
    if act:  # e.g. "nn.ReLU()"; under Ultralytics' restricted (safe) checkpoint loading, resolved without eval
        safe = getattr(ut, "_SafeLoad", None)
        restricted = safe is not None and safe.restricted()
        Conv.default_act = safe.activation(act) if restricted else eval(act, {"nn": nn, "torch": torch})
    rows = d["backbone"] + d["head"]
    modern = any(r[2] in MODERN for r in rows)
    if verbose:
        LOGGER.info(f"\n{'':>3}{'from':>20}{'n':>3}{'params':>10}  {'module':<45}{'arguments':<30}")
    chs, layers, save, list_out = [], [], [], set()
    try:
        for i, (f, n, name, args) in enumerate(rows):
            m = resolve_module(name)
            args = [_literal(a, names) for a in args]
            n = n_ = scale.depth(n)
            c_in = (chs[f] if i else ch) if isinstance(f, int) else [chs[x] for x in f]
            if hasattr(m, "yaml_args"):  # an ext module
                args, c2 = m.yaml_args(c_in, args, scale)
                if getattr(m, "returns_list", False):
                    list_out.add(i)
            elif name.split(".")[-1] in WIDTH_FIRST:
                c2 = scale.channels(args[0])
                args = [c_in, c2, *args[1:]]
                if name in REPEATED:
                    args.insert(2, n)
                    n = 1
                if name == "C3k2" and scale.name in {"m", "l", "x"}:
                    args[3:4] = [True]
                if name == "A2C2f" and scale.name in {"l", "x"}:
                    args.extend((True, 1.2))
            elif m is nn.BatchNorm2d:
                args, c2 = [c_in], c_in
            elif m is um.Concat:
                c2 = sum(c_in)
            elif isinstance(m, type) and issubclass(m, um.Detect):
                args = [*args, scale.reg_max, scale.end2end, list(c_in)]
                m.legacy = not modern
                c2 = None
            elif m in (um.TorchVision, um.Index):
                src = f if f >= 0 else i + f
                if m is um.Index and src in list_out:  # our multi-output modules: one width, or one per output
                    c2 = c_in[args[1]] if isinstance(c_in, list) else c_in
                else:
                    c2 = args[0]
                args = args[1:]
            else:
                c2 = c_in
            block = nn.Sequential(*(m(*args) for _ in range(n))) if n > 1 else m(*args)
            if m is um.SPPF and len(args) <= 3:  # legacy SPPF rows keep an activated cv1, as in Ultralytics
                for b in block if n > 1 else [block]:
                    b.cv1.act = Conv.default_act
            block.np = sum(x.numel() for x in block.parameters())
            block.i, block.f, block.type = i, f, str(m)[8:-2].replace("__main__.", "")
            if verbose:
                LOGGER.info(f"{i:>3}{f!s:>20}{n_:>3}{block.np:10.0f}  {block.type:<45}{args!s:<30}")
            save.extend(x % i for x in ([f] if isinstance(f, int) else f) if x != -1)
            layers.append(block)
            chs.append(c2)
    finally:
        Conv.default_act = default_act
    return nn.Sequential(*layers), sorted(save)
