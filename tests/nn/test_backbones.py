"""The seven backbones of the crash study as model YAMLs: each builds (nothing downloaded) and runs at 64 px."""

from __future__ import annotations

import pytest
import torch
from ultralytics.nn.modules import TorchVision

from ext.models.gjadet import GJADet
from ext.nn.modules import DLA
from ext.nn.tasks import load_model_yaml

BACKBONES = {  # YAML -> (backbone layer type, P3/P4/P5 widths it gives before the 1x1 level convs)
    "gjadet-n.yaml": (None, None),  # CSPDarknet
    "gjadet-darknet-n.yaml": (None, None),
    "gjadet-resnet-n.yaml": (TorchVision, (512, 1024, 2048)),
    "gjadet-convnext-n.yaml": (TorchVision, (192, 384, 768)),
    "gjadet-swin-n.yaml": (TorchVision, (192, 384, 768)),
    "gjadet-vgg-n.yaml": (TorchVision, (256, 512, 512)),
    "gjadet-dla-n.yaml": (DLA, (128, 256, 512)),
}


@pytest.mark.parametrize("cfg", list(BACKBONES))
def test_backbone_builds_and_runs(cfg):
    kind, widths = BACKBONES[cfg]
    model = GJADet(cfg)
    net = model.model.eval()
    assert model.task == "detect" and type(net).__name__ == "GJADetModel"
    if kind is not None:
        assert isinstance(net.model[0], kind)
        d = load_model_yaml(cfg)
        levels = [net.model[i] for i in d["outputs"]]  # the 1x1 convs bringing each level to the neck's width
        assert [lv.conv.in_channels for lv in levels] == list(widths)
        assert [lv.conv.out_channels for lv in levels] == [64, 128, 256]  # CSPDarknet's widths at scale n
    with torch.no_grad():
        y, feats = net(torch.rand(1, 3, 64, 64))
    assert y.shape == (1, 4 + 5, 8 * 8 + 4 * 4 + 2 * 2)
    assert [f.shape[-1] for f in feats["feats"]] == [8, 4, 2]


def test_torchvision_backbone_takes_any_neck():
    net = GJADet("gjadet-vgg-fpn-n.yaml").model.eval()
    assert net.yaml["neck"] == "fpn"
    assert net(torch.rand(1, 3, 64, 64))[0].shape == (1, 9, 84)


def test_darknet53_at_full_scale_is_darknet53():
    """Scale l is the published Darknet-53: 52 convolutions before the neck (1 + 5 downsamples + 2 x 23 blocks)."""
    d = load_model_yaml("gjadet-darknet-l.yaml")
    assert [row[1] for row in d["backbone"] if row[2] == "Bottleneck"] == [1, 2, 8, 8, 4]
    net = GJADet("gjadet-darknet-l.yaml").model
    convs = sum(isinstance(m, torch.nn.Conv2d) for m in net.model[:11].modules())
    assert convs == 52


@pytest.mark.parametrize("cfg", ["hsd-yolo26-n.yaml", "hsd-teacher-yolo26-n.yaml", "gjadet-yolo26-n.yaml"])
def test_yolo26_backbone_is_ultralytics_yolo26n(cfg):
    """Rows 0-10 of the YOLO26-backbone YAMLs are yolo26.yaml's backbone rows; at scale n they build YOLO26n's
    backbone layers (module types, tensor names and shapes) and, from the same seed, its initial weights."""
    from ultralytics.nn.tasks import DetectionModel, yaml_model_load

    from ext.nn.tasks import DetectorModel

    assert load_model_yaml(cfg)["backbone"] == yaml_model_load("yolo26n.yaml")["backbone"]
    torch.manual_seed(0)
    ours = DetectorModel(cfg, verbose=False).model[:11]
    torch.manual_seed(0)
    theirs = DetectionModel("yolo26n.yaml", verbose=False).model[:11]
    assert [type(m) for m in ours] == [type(m) for m in theirs]
    a, b = ours.state_dict(), theirs.state_dict()
    assert list(a) == list(b) and all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("cfg", ["hsd-n.yaml", "hsd-yolo26-n.yaml"])
def test_student_has_at_most_six_tenths_of_yolo26n_parameters(cfg):
    from ultralytics.nn.tasks import DetectionModel

    from ext.nn.tasks import DetectorModel

    def count(m):
        return sum(p.numel() for p in m.parameters())

    ratio = count(DetectorModel(cfg, verbose=False)) / count(DetectionModel("yolo26n.yaml", verbose=False))
    assert 0.5 < ratio <= 0.6
