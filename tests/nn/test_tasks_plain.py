"""A plain Ultralytics YAML built and trained through `ext` is the model Ultralytics builds and the loss it trains
with (the YOLO26n / YOLO11n rows of every benchmark are Ultralytics' own, not ours in disguise)."""

import pytest
import torch
from ultralytics.cfg import get_cfg
from ultralytics.nn.tasks import DetectionModel
from ultralytics.utils.loss import E2ELoss, v8DetectionLoss

from ext.nn.tasks import DetectorModel


@pytest.mark.parametrize("cfg", ["yolo26n.yaml", "yolo11n.yaml"])
def test_plain_yaml_is_ultralytics_model_and_loss(cfg):
    torch.manual_seed(0)
    ours = DetectorModel(cfg, nc=3, verbose=False)
    torch.manual_seed(0)
    theirs = DetectionModel(cfg, nc=3, verbose=False)
    a, b = ours.state_dict(), theirs.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)  # same layers, same initial weights
    ours.args = theirs.args = get_cfg()  # with our keys at their defaults: cls_loss bce, iou_loss ciou
    img = torch.rand(2, 3, 64, 64)
    batch = {"img": img, "batch_idx": torch.tensor([0.0, 1.0, 1.0]), "cls": torch.tensor([[0.0], [2.0], [1.0]]),
             "bboxes": torch.tensor([[0.5, 0.5, 0.3, 0.4], [0.3, 0.6, 0.05, 0.05], [0.7, 0.3, 0.4, 0.3]])}
    ours.train(), theirs.train()
    (la, ia), (lb, ib) = ours.loss(batch), theirs.loss(batch)
    assert isinstance(theirs.criterion, E2ELoss if "26" in cfg else v8DetectionLoss)
    assert type(ours.criterion).__mro__[1] is type(theirs.criterion)  # ours subclasses exactly theirs
    assert torch.allclose(la, lb, rtol=1e-5, atol=1e-6) and set(ia) == set(ib)
    assert all(torch.allclose(ia[k], ib[k], rtol=1e-5, atol=1e-6) for k in ia)
