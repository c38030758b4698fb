"""Backbone + neck composition: names pick the neck, templates wire to the backbone outputs, errors are clear."""

from __future__ import annotations

import pytest
import torch

from ext.nn.compose import compose, neck_names, split_name
from ext.nn.modules import AdaptiveAttention
from ext.nn.tasks import DetectorModel, load_model_yaml


def test_neck_names_and_split():
    assert neck_names() == ["apafpn", "dyhead", "fpn", "pafpn"]
    ours = {"gjadet", "gjadet-resnet", "hsd"}
    assert split_name("gjadet-resnet-fpn-s", ours) == ("gjadet-resnet", "fpn", "s")
    assert split_name("gjadet-fpn", ours) == ("gjadet", "fpn", "")  # 'n' of fpn is not a scale here
    assert split_name("gjadet-apafpn-n", ours) == ("gjadet", "apafpn", "n")
    assert split_name("gjadets", ours) == ("gjadet", None, "s")
    assert split_name("resnet-fpn-n", ours) is None


@pytest.mark.parametrize("neck, n_attention, n_deform", [("fpn", 0, 0), ("pafpn", 0, 0), ("apafpn", 4, 0),
                                                         ("dyhead", 4, 4)])
def test_each_neck_wires_to_the_backbone(neck, n_attention, n_deform):
    d = load_model_yaml(f"gjadet-{neck}-n.yaml")
    assert d["neck"] == neck and d["scale"] == "n"
    m = DetectorModel(d, nc=3, verbose=False).eval()
    att = [x for x in m.modules() if isinstance(x, AdaptiveAttention)]
    assert len(att) == n_attention
    assert sum(getattr(a.spatial, "dcn", None) is not None for a in att) == n_deform
    head = m.model[-1]
    # FPN: its P3 and P4 outputs and the backbone's P5; the others their three C2f outputs
    assert head.f == {"fpn": [15, 12, 9], "pafpn": [15, 18, 21]}.get(neck, [17, 21, 25])
    assert m.model[10].f == 9  # every neck starts from the backbone's P5 output (row 9)
    assert m(torch.rand(1, 3, 64, 64))[0].shape == (1, 4 + 3, 84)


def test_default_neck_is_the_yaml_s_and_apafpn_is_gjadet():
    """`gjadet-n.yaml` (its default neck) and `gjadet-apafpn-n.yaml` are the same model, same weights."""
    torch.manual_seed(0)
    a = DetectorModel("gjadet-n.yaml", verbose=False).state_dict()
    torch.manual_seed(0)
    b = DetectorModel("gjadet-apafpn-n.yaml", verbose=False).state_dict()
    assert list(a) == list(b) and all(torch.equal(a[k], b[k]) for k in a)


def test_neck_for_a_model_with_its_own_head_is_refused():
    with pytest.raises(ValueError, match="writes its own head"):
        load_model_yaml("hsd-fpn-n.yaml")
    with pytest.raises(ValueError, match="unknown neck 'bifpn'"):
        compose({"backbone": [], "outputs": [0, 1, 2], "neck": "bifpn"})
    with pytest.raises(ValueError, match="must list the backbone rows"):
        compose({"backbone": [], "outputs": [0, 1], "neck": "fpn"})
