"""`pretrained=path`: Ultralytics checkpoints and torchvision state dicts transfer, counted; nothing matching is
an error; the trainer uses it."""

from __future__ import annotations

import pytest
import torch
import torchvision

import ext
from ext.models.gjadet import GJADet
from ext.nn.pretrained import load_pretrained, torchvision_names


def test_ultralytics_checkpoint_transfers_by_name(tmp_path):
    src = GJADet("gjadet-n.yaml").model
    f = tmp_path / "ckpt.pt"
    torch.save({"model": src}, f)
    dst = GJADet("gjadet-fpn-n.yaml").model  # same backbone, other neck: the backbone and some neck rows transfer
    src_sd, dst_sd = src.state_dict(), dst.state_dict()
    expected = [k for k in dst_sd if k in src_sd and src_sd[k].shape == dst_sd[k].shape]
    assert 0 < len(expected) < len(dst_sd)
    assert load_pretrained(dst, f) == len(expected)
    assert all(torch.equal(dst.state_dict()[k], src_sd[k]) for k in expected if k.startswith("model.0."))


def test_torchvision_state_dict_initialises_the_backbone(tmp_path):
    net = torchvision.models.resnet50(weights=None)
    f = tmp_path / "resnet50.pth"
    torch.save(net.state_dict(), f)
    model = GJADet("gjadet-resnet-n.yaml").model
    names = torchvision_names(model)
    assert names["conv1"] == "model.0.m.0" and names["layer4"] == "model.0.m.7" and "fc" not in names
    n = load_pretrained(model, f)
    assert n == len([k for k in net.state_dict() if not k.startswith("fc.")])  # every tensor but the classifier
    assert torch.equal(model.state_dict()["model.0.m.4.0.conv1.weight"], net.state_dict()["layer1.0.conv1.weight"])


def test_nested_torchvision_names():
    """ConvNeXt's `features` children are unwrapped one level down, as Ultralytics' TorchVision block does."""
    names = torchvision_names(GJADet("gjadet-convnext-n.yaml").model)
    assert names["features.0"] == "model.0.m.0" and names["features.7"] == "model.0.m.7"
    assert "classifier" not in names  # truncated


def test_nothing_matching_is_refused(tmp_path):
    f = tmp_path / "other.pth"
    torch.save({"encoder.weight": torch.rand(3, 3)}, f)
    model = GJADet("gjadet-n.yaml").model
    with pytest.raises(ValueError, match=r"none of its 1 tensors matches this model"):
        load_pretrained(model, f)
    with pytest.raises(FileNotFoundError, match="never downloaded"):
        load_pretrained(model, tmp_path / "missing.pt")


def test_trainer_uses_it(tmp_path, crash_tiny, tiny, monkeypatch):
    import ext.models.detector.train as train_mod

    bad = tmp_path / "other.pth"
    torch.save({"encoder.weight": torch.rand(3, 3)}, bad)
    with pytest.raises(ValueError, match="none of its 1 tensors"):  # before the first epoch
        GJADet("gjadet-n.yaml").train(data="crash-synth-tiny", pretrained=str(bad), project=str(tmp_path), **tiny)

    counts = []
    real = train_mod.load_pretrained
    monkeypatch.setattr(train_mod, "load_pretrained", lambda m, p: counts.append(real(m, p)) or counts[-1])
    src = GJADet("gjadet-n.yaml").model
    good = tmp_path / "good.pt"
    torch.save({"model": src}, good)
    model = GJADet("gjadet-n.yaml")
    model.train(data="crash-synth-tiny", pretrained=str(good), project=str(tmp_path), name="ok", **tiny)
    assert counts == [len(src.state_dict())]  # same architecture: every tensor
    assert ext.GJADet(str(model.trainer.best)).model is not None
