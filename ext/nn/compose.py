"""Backbone + neck composition: a model YAML may name its backbone's pyramid outputs and a neck template instead
of writing a `head:` section, so that any backbone takes any neck.

A composable model YAML has `backbone:` rows, `outputs: [i3, i4, i5]` (the backbone rows giving P3/8, P4/16 and
P5/32) and `neck: NAME` (its default neck), and no `head:`. A neck template, `cfg/models/necks/NAME.yaml`, is a
`head:` section whose `from` entries are -1 (the row before), `P3` / `P4` / `P5` (the backbone outputs) or N >= 0
(the neck's own row N); its last row is the Detect head.
"""

from __future__ import annotations

import re
from copy import deepcopy

from ultralytics.utils import YAML

from ..paths import models_dir

LEVELS = ("P3", "P4", "P5")


def neck_names() -> list[str]:
    """Names of the neck templates in `cfg/models/necks` (fpn, pafpn, apafpn, dyhead)."""
    return sorted(p.stem for p in (models_dir() / "necks").glob("*.yaml"))


def compose(d: dict, neck: str | None = None) -> dict:
    """Return a copy of model dict `d` with its `head:` built from a neck template.

    Args:
        d: model dict with `backbone`, `outputs` and (unless `neck` is given) `neck`.
        neck: neck template name overriding `d['neck']`.

    Raises:
        ValueError: `d` has a head of its own (or no `outputs`) but a neck was asked for, or the neck is unknown.
    """
    if "outputs" not in d:
        if neck:
            raise ValueError(f"neck '{neck}' asked for, but this model YAML writes its own head (no `outputs:` key); "
                             "a neck can be chosen only for YAMLs that list their backbone outputs")
        return d
    name = neck or d.get("neck")
    if name not in neck_names():
        raise ValueError(f"unknown neck '{name}'; choose one of {neck_names()}")
    outputs = list(d["outputs"])
    if len(outputs) != len(LEVELS):
        raise ValueError(f"`outputs` must list the backbone rows of {LEVELS}, got {outputs}")
    offset = len(d["backbone"])

    def source(f):
        if isinstance(f, list):
            return [source(x) for x in f]
        if isinstance(f, str):
            return outputs[LEVELS.index(f)]
        return f if f < 0 else offset + f

    template = YAML.load(models_dir() / "necks" / f"{name}.yaml")["head"]
    out = deepcopy(d)
    out["head"] = [[source(f), n, m, args] for f, n, m, args in template]
    out["neck"] = name
    return out


def split_name(stem: str, ours: set[str]) -> tuple[str, str | None, str] | None:
    """Split a model name into (our YAML stem, neck or None, scale or '') or None if it names none of ours.

    'gjadet-resnet-fpn-s' -> ('gjadet-resnet', 'fpn', 's'); 'gjadet-n' -> ('gjadet', None, 'n').
    """
    m = re.fullmatch(r"(.+?)-?([nsmlx])", stem)
    for rest, scale in ((stem, ""), *(((m.group(1), m.group(2)),) if m else ())):
        if rest in ours:
            return rest, None, scale
        for neck in neck_names():
            if rest.endswith(f"-{neck}") and rest[: -len(neck) - 1] in ours:
                return rest[: -len(neck) - 1], neck, scale
    return None
