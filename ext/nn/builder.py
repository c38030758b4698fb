"""Ultralytics' `parse_model`, extended by the `ext` modules.

The grammar is Ultralytics': `backbone` + `head` rows of `[from, repeats, module, args]`, `nc`, `reg_max`,
`end2end`, `activation` and `scales: {name: [depth, width, max_channels]}`. A row naming a module of ours is built
by that module's `yaml_args(c_in, args, scale)` class method, so it grows with width and depth like the built-ins;
every other row is built by Ultralytics' own `parse_model`, one row at a time, so Ultralytics' channel, repeat and
legacy rules are never copied here: the row goes in after one `Index` placeholder row per source (each declaring
that source's width, the one thing Ultralytics reads of it), and the width Ultralytics records for the row is read
back from a `BatchNorm2d` row after it, built on the meta device (no memory).
"""

from __future__ import annotations

import ast
import warnings
from copy import deepcopy
from dataclasses import dataclass

import torch
import ultralytics.nn.modules as um
import ultralytics.nn.tasks as ut
from torch import nn
from ultralytics.nn.modules import Conv
from ultralytics.nn.tasks import parse_model as ultralytics_parse_model  # the original, whatever is swapped in later
from ultralytics.utils import LOGGER
from ultralytics.utils.ops import make_divisible

from . import modules as ours

# Blocks that make Ultralytics build a head in its modern form (`legacy = False` in its `parse_model`); a head row
# after one of them goes in after a marker row of that kind, so that Ultralytics' own rule decides. The marker has
# no channels: no parameters, and it draws no random numbers (seeded builds keep their weights).
MODERN = ("C3k2", "A2C2f", "C2fCIB")
MARKER = [-1, 0, "C3k2", [0, False]]


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


def our_module(name: str):
    """The class of ours a YAML row names (`ext.nn.modules`, not also an Ultralytics name), else None."""
    return getattr(ours, name) if name in ours.__all__ and not hasattr(um, name) else None


def names_ext_module(d: dict) -> bool:
    """True when a row of the model dict names a module of ours; other dicts (every Ultralytics YAML) go to
    Ultralytics' `parse_model` whole."""
    return any(our_module(str(r[2])) is not None for r in d.get("backbone", []) + d.get("head", []))


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


def _ultralytics_row(d: dict, scale: Scale, row: list, i: int, chs: list, ch: int, modern: bool):
    """Build row ``i`` of ``d`` (no module of ours) with Ultralytics' `parse_model`.

    Args:
        d: the model dict (its top-level keys: nc, scales, activation, reg_max, end2end...).
        scale: the resolved scale (its name is handed to Ultralytics).
        row: ``[from, repeats, module, args]`` as in the YAML (repeats and widths unscaled: Ultralytics scales).
        i: the row's index. chs: output widths of rows 0 .. i-1 (an int, a list for multi-output rows, None for a
            head). ch: image channels. modern: an earlier row is one of `MODERN` (decides a head's legacy form).

    Returns:
        (block, c2): the built layer (``.i``, ``.f`` of this model) and the width Ultralytics gives its output.
    """
    f, n, name, args = row
    if not (name.startswith(("nn.", "torchvision.ops.")) or hasattr(ut, name)):
        raise KeyError(f"unknown module '{name}' in model YAML row {i}: not in torch.nn, torchvision.ops, "
                       "ext.nn.modules or ultralytics.nn")
    head = isinstance(getattr(ut, name, None), type) and issubclass(getattr(ut, name), um.Detect)
    marker = [MARKER] if head and modern else []
    if i == 0:  # reads the image
        rows, g = marker, f
    else:
        sources = [x % i for x in ([f] if isinstance(f, int) else f)]
        order = sorted(set(sources))
        rows = marker + [[-1, 1, "Index", [chs[j], 0]] for j in order]  # `Index` rows declare an output width
        at = {j: len(marker) + k for k, j in enumerate(order)}
        g = at[sources[0]] if isinstance(f, int) else [at[j] for j in sources]
    top = {k: v for k, v in d.items() if k not in ("backbone", "head")}
    mini = {**top, "scale": scale.name or None, "head": [], "backbone": [*rows, [g, n, name, args]]}
    with warnings.catch_warnings():  # the marker's "Initializing zero-element tensors is a no-op"
        warnings.simplefilter("ignore", UserWarning)
        layers, _ = ultralytics_parse_model(deepcopy(mini), ch, verbose=False)
    block, c2 = layers[-1], None
    if not head:  # Ultralytics' BatchNorm2d row takes the width it recorded for the row before it
        mini["backbone"].append([-1, 1, "nn.BatchNorm2d", []])
        with torch.device("meta"):
            probe = ultralytics_parse_model(deepcopy(mini), ch, verbose=False)[0][-1]
        c2 = probe.num_features
    block.i, block.f = i, f
    return block, c2


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
    scale = _scale_of(d)
    names = {"nc": d["nc"]}
    act, default_act = d.get("activation"), Conv.default_act
    if act:  # e.g. "nn.ReLU()"; under Ultralytics' restricted (safe) checkpoint loading, resolved without eval
        safe = getattr(ut, "_SafeLoad", None)
        restricted = safe is not None and safe.restricted()
        Conv.default_act = safe.activation(act) if restricted else eval(act, {"nn": nn, "torch": torch})
    if verbose:
        LOGGER.info(f"\n{'':>3}{'from':>20}{'n':>3}{'params':>10}  {'module':<45}{'arguments':<30}")
    chs, layers, save, list_out, modern = [], [], [], set(), False
    try:
        for i, (f, n, name, args) in enumerate(d["backbone"] + d["head"]):
            m, n_ = our_module(name), scale.depth(n)
            c_in = (chs[f] if i else ch) if isinstance(f, int) else [chs[x] for x in f]
            if m is None and name == "Index" and isinstance(f, int) and f % i in list_out:
                m = um.Index  # reads one output of a multi-output module of ours: that output's width
                c2 = c_in[args[1]] if isinstance(c_in, list) else c_in
                args = args[1:]
            elif m is not None:
                args, c2 = m.yaml_args(c_in, [_literal(a, names) for a in args], scale)
                if getattr(m, "returns_list", False):
                    list_out.add(i)
            if m is None:
                block, c2 = _ultralytics_row(d, scale, [f, n, name, args], i, chs, ch, modern)
                modern = modern or name in MODERN
            else:
                block = nn.Sequential(*(m(*args) for _ in range(n_))) if n_ > 1 else m(*args)
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
