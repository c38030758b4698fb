"""benchmarks/gjadet_neck.py: the neck variants are what their names say, and their YAMLs build and train as written."""

from __future__ import annotations

from torch import nn

import gjadet_neck
from ext.models import family_of
from ext.nn.modules.attention import AdaptiveAttention
from ext.nn.tasks import load_model_yaml


def parts_of(model) -> set[tuple[bool, bool, bool]]:
    """(spatial, scale, task) switched on, per AdaptiveAttention block of a model."""
    return {tuple(not isinstance(getattr(m, p), nn.Identity) for p in gjadet_neck.PARTS)
            for m in model.modules() if isinstance(m, AdaptiveAttention)}


def test_variants_switch_parts_and_widen_the_plain_neck(tmp_path):
    paths = gjadet_neck.write_yamls(gjadet_neck.variants([1.5]), tmp_path)
    assert len(paths) == 1 + 1 + 3 + 3 + 1 and all(p.endswith(".yaml") for p in paths.values())
    nets = {name: family_of(p)(p).model for name, p in paths.items()}
    assert parts_of(nets["plain PAFPN"]) == set() == parts_of(nets["plain PAFPN, neck x1.5 wide"])
    assert parts_of(nets["adaptive (spatial + scale + task)"]) == {(True, True, True)}
    assert parts_of(nets["adaptive (scale)"]) == {(False, True, False)}
    assert parts_of(nets["adaptive (spatial + task)"]) == {(True, False, True)}
    plain, wide = load_model_yaml(paths["plain PAFPN"]), load_model_yaml(paths["plain PAFPN, neck x1.5 wide"])
    assert plain["backbone"] == wide["backbone"] and wide["scale"] == "n"
    for a, b in zip(plain["head"], wide["head"]):
        if a[2] in ("C2f", "Conv"):
            assert b[3][0] == round(a[3][0] * 1.5) and b[3][1:] == a[3][1:]
        else:
            assert a == b
    n = {k: sum(p.numel() for p in m.parameters()) for k, m in nets.items()}
    assert n["plain PAFPN"] < n["plain PAFPN, neck x1.5 wide"] and n["plain PAFPN"] < n["adaptive (task)"]


def test_a_variant_yaml_trains(tmp_path, crash_tiny, tiny):
    path = gjadet_neck.write_yamls({"adaptive (scale)": gjadet_neck.variants([])["adaptive (scale)"]}, tmp_path)
    model = family_of(path["adaptive (scale)"])(path["adaptive (scale)"])
    model.train(data=crash_tiny, **tiny, val=False, project=str(tmp_path), name="t")
    assert (tmp_path / "t" / "weights" / "last.pt").is_file()
