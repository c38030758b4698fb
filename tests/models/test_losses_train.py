"""Each cls_loss / iou_loss choice gives a finite loss on a real batch, and trains one tiny epoch."""

from __future__ import annotations

import math

import pytest
import torch
from ultralytics.cfg import get_cfg

import ext
from ext.losses.detection import DetectionLoss
from ext.nn.tasks import GJADetModel


def _batch(nc=5):
    g = torch.Generator().manual_seed(0)
    n = 6
    xywh = torch.rand(n, 4, generator=g) * 0.4 + 0.1
    return {"img": torch.rand(2, 3, 64, 64, generator=g), "batch_idx": torch.tensor([0, 0, 0, 1, 1, 1.0]),
            "cls": torch.randint(0, nc, (n, 1), generator=g).float(), "bboxes": xywh}


@pytest.mark.parametrize("cls_loss", ["bce", "focal", "qfl", "eqlv2", "eqfl", "eql", "gjr"])
@pytest.mark.parametrize("iou_loss", ["iou", "giou", "diou", "ciou"])
def test_loss_choices_finite(cls_loss, iou_loss):
    model = GJADetModel("gjadet-n.yaml", nc=5, verbose=False)
    model.args = get_cfg(overrides={"cls_loss": cls_loss, "iou_loss": iou_loss})
    model.train()
    loss, items = model.loss(_batch())
    assert isinstance(model.criterion, DetectionLoss)
    assert model.criterion.cls_name == cls_loss and model.criterion.bbox_loss.iou == iou_loss
    assert torch.isfinite(loss).all() and loss.sum() > 0
    loss.sum().backward()


@pytest.mark.parametrize("cls_loss", ["focal", "eql", "gjr"])
def test_one_epoch_each(cls_loss, tmp_path, crash_tiny, tiny):
    model = ext.GJADet("gjadet-n.yaml")
    model.train(data="crash-synth-tiny", cls_loss=cls_loss, project=str(tmp_path), name=cls_loss, **tiny)
    import csv

    row = list(csv.DictReader(open(model.trainer.save_dir / "results.csv")))[-1]
    assert math.isfinite(float(row["train/cls_loss"])) and math.isfinite(float(row["train/box_loss"]))


def test_end2end_yolo26_trains_with_our_losses(tmp_path, fault_tiny, tiny):
    """NMS-free heads (YOLO26) train with Ultralytics' E2ELoss built from our DetectionLoss on both branches."""
    from ultralytics.utils.loss import E2ELoss

    model = ext.Detector("yolo26n.yaml")
    model.train(data="fault-synth-tiny", cls_loss="gjr", iou_loss="giou", project=str(tmp_path), name="y26", **tiny)
    crit = model.trainer.model.criterion
    assert isinstance(crit, E2ELoss) and isinstance(crit.one2many, DetectionLoss)
    assert crit.one2one.cls_name == "gjr" and crit.one2one.iou_name == "giou"


@pytest.mark.parametrize("family, model_yaml, data", [("GJADet", "gjadet-n.yaml", "crash-synth-tiny"),
                                                     ("Detector", "yolo26n.yaml", "fault-synth-tiny")])
def test_gjr_warmup_trains_the_first_epochs_on_the_plain_loss(family, model_yaml, data, tmp_path, crash_tiny,
                                                               fault_tiny, tiny):
    """`gjr_warmup=1` on 2 epochs: at the end of epoch 1 GJR's statistics are still at their start (ratio 100, no
    gradient counted: every weight 1), at the end of epoch 2 they have counted (on both branches of an NMS-free
    head); `gjr_warmup=0` counts from the first epoch."""
    from ultralytics.utils.loss import E2ELoss

    def losses(trainer):
        crit = trainer.model.criterion
        return [crit.one2many.bce, crit.one2one.bce] if isinstance(crit, E2ELoss) else [crit.bce]

    for warmup in (1, 0):
        seen = []
        model = getattr(ext, family)(model_yaml)
        model.add_callback("on_train_epoch_end", lambda tr: seen.append([float(x.pos_grad.sum()) for x in losses(tr)]))
        model.train(data=data, cls_loss="gjr", gjr_warmup=warmup, project=str(tmp_path), name=f"w{warmup}",
                    **{**tiny, "epochs": 2})
        first, second = seen
        assert all(p > 0 for p in second)
        assert all(p == 0 for p in first) if warmup else all(p > 0 for p in first)


@pytest.mark.parametrize("overrides, name, gamma", [
    ({"cls_loss": "eqlv2"}, "EQLv2Loss", 12.0),  # EQLv2's paper, not GJR's 5
    ({"cls_loss": "gjr"}, "GJRLoss", 5.0),
    ({"cls_loss": "eqlv2", "eqlv2_gamma": 8.0, "gjr_gamma": 3.0}, "EQLv2Loss", 8.0),
    ({"cls_loss": "gjr", "eqlv2_gamma": 8.0, "gjr_gamma": 3.0}, "GJRLoss", 3.0),
])
def test_each_gradient_reweighted_loss_has_its_own_gamma(overrides, name, gamma):
    """Through the run's arguments (cfg/default.yaml's defaults included), EQLv2 and GJR each read their own key."""
    model = GJADetModel("gjadet-n.yaml", nc=5, verbose=False)
    model.args = get_cfg(overrides=overrides)
    crit = DetectionLoss(model)
    loss = crit.classification_loss
    assert type(loss).__name__ == name and loss.gamma == gamma
    assert crit.bce is loss  # the name Ultralytics' parent loss calls


@pytest.mark.parametrize("overrides, mu_alpha", [({"eqlv2_mu": 0.6, "eqlv2_alpha": 2.0}, (0.6, 2.0)),
                                                 ({"gjr_mu": 0.5, "gjr_alpha": 3.0}, (0.5, 3.0)),  # deprecated
                                                 ({}, (0.8, 4.0))])
def test_eqlv2_mu_and_alpha_from_its_own_keys_or_the_old_gjr_ones(overrides, mu_alpha):
    model = GJADetModel("gjadet-n.yaml", nc=5, verbose=False)
    model.args = get_cfg(overrides={"cls_loss": "eqlv2", **overrides})
    loss = DetectionLoss(model).classification_loss
    assert (loss.mu, loss.alpha) == mu_alpha


@pytest.mark.parametrize("overrides, beta", [({}, 0.0), ({"gjr_beta": 2.0}, 2.0)])
def test_gjr_element_is_bce_unless_the_paper_beta_is_asked(overrides, beta):
    """The package's GJR (cfg/default.yaml gjr_beta 0) is the reweighting over BCE: before any statistics (ratio 100,
    weight 1) it equals torch's BCE; gjr_beta=2 gives the paper's quality-focal element BCE * |t - p|^2."""
    model = GJADetModel("gjadet-n.yaml", nc=5, verbose=False)
    model.args = get_cfg(overrides={"cls_loss": "gjr", **overrides})
    gjr = DetectionLoss(model).classification_loss.eval()
    z, t = torch.randn(7, 5), torch.rand(7, 5) * (torch.rand(7, 5) > 0.5)
    bce = torch.nn.functional.binary_cross_entropy_with_logits(z, t, reduction="none")
    assert gjr.beta == beta
    torch.testing.assert_close(gjr(z, t), bce * (t - z.sigmoid()).abs() ** beta)


@pytest.mark.parametrize("iou_loss", ["iou", "giou", "diou", "ciou"])
def test_iou_term_equals_torchvision(iou_loss):
    """The box term of each `iou_loss` is the target-score-weighted mean of torchvision's loss of that name over the
    foreground anchors (an independent implementation of IoU, GIoU, DIoU and CIoU)."""
    from torchvision.ops import complete_box_iou_loss, distance_box_iou_loss, generalized_box_iou_loss

    from ext.losses.detection import SelectableBboxLoss
    from torchvision.ops import box_iou

    g = torch.Generator().manual_seed(0)
    a = 12
    xy = torch.rand(1, a, 2, generator=g) * 40
    pred = torch.cat([xy, xy + 4 + torch.rand(1, a, 2, generator=g) * 20], -1).double()
    xy2 = xy + torch.randn(1, a, 2, generator=g) * 3
    target = torch.cat([xy2, xy2 + 4 + torch.rand(1, a, 2, generator=g) * 20], -1).double()
    scores = torch.rand(1, a, 3, generator=g).double()
    fg = torch.rand(1, a, generator=g) > 0.3
    total = scores.sum()
    loss = SelectableBboxLoss(reg_max=16, iou=iou_loss)
    anchors = torch.full((a, 2), 20.0).double()
    got, _ = loss(torch.zeros(1, a, 64).double(), pred, anchors, target, scores, total, fg, torch.tensor([64, 64]), 8)
    p, t, w = pred[fg], target[fg], scores[fg].sum(-1)
    ref = {"iou": lambda p, t: 1 - box_iou(p, t).diagonal(), "giou": generalized_box_iou_loss,
           "diou": distance_box_iou_loss, "ciou": complete_box_iou_loss}[iou_loss](p, t)
    assert float(got) == pytest.approx(float((ref * w).sum() / total), rel=1e-6)


def test_assigned_boxes_are_kept_around_their_anchors_in_cells():
    """`fg_targets` (read by `ld_gate`): at each foreground anchor, in cells of its level with the anchor at the
    origin, one of its image's ground-truth boxes, which contains the anchor (task-aligned candidates)."""
    model = GJADetModel("gjadet-n.yaml", nc=5, verbose=False)
    model.args = get_cfg()
    model.train()
    batch = _batch()
    model.loss(batch)
    crit = getattr(model.criterion, "one2many", model.criterion)
    fg, rel = crit.fg_mask, crit.fg_targets
    assert fg.any() and rel.shape == (*fg.shape, 4)
    centres, strides = [], []  # anchor centres in px and strides, level by level, row-major (independent of make_anchors)
    for s in model.stride.tolist():
        n = 64 // int(s)
        ys, xs = torch.meshgrid(torch.arange(n), torch.arange(n), indexing="ij")
        centres.append((torch.stack([xs, ys], -1).reshape(-1, 2) + 0.5) * s)
        strides.append(torch.full((n * n, 1), s))
    centres, strides = torch.cat(centres), torch.cat(strides)
    xywh = batch["bboxes"] * 64
    gt = torch.cat([xywh[:, :2] - xywh[:, 2:] / 2, xywh[:, :2] + xywh[:, 2:] / 2], -1)  # px xyxy
    for b, a in fg.nonzero().tolist():
        box = rel[b, a] * strides[a] + centres[a].repeat(2)  # back to px
        own = gt[batch["batch_idx"] == b]
        assert (own - box).abs().amax(-1).min() < 1e-3
        assert (rel[b, a, :2] < 0).all() and (rel[b, a, 2:] > 0).all()


def test_gjr_region_candidates_are_the_anchors_inside_a_ground_truth_box():
    """`gjr_region=candidates`: the loss is given, at each call, the anchors whose centre lies in one of their image's
    ground-truth boxes (sides under the assigner's 16 px floor widened to it about the centre), and reweights there."""
    model = GJADetModel("gjadet-n.yaml", nc=5, verbose=False)
    model.args = get_cfg(overrides={"cls_loss": "gjr", "gjr_region": "candidates"})
    model.train()
    batch = _batch()
    model.loss(batch)
    model.loss(batch)  # the second call: statistics no longer at their start, weights not 1
    cand = model.criterion.classification_loss.candidates
    centres = torch.cat([(torch.stack(torch.meshgrid(torch.arange(64 // s), torch.arange(64 // s), indexing="xy"), -1)
                          .reshape(-1, 2) + 0.5) * s for s in (8, 16, 32)])  # px, level by level, row-major
    xywh = batch["bboxes"] * 64
    xywh[:, 2:] = xywh[:, 2:].clamp(min=16)
    lo, hi = xywh[:, :2] - xywh[:, 2:] / 2, xywh[:, :2] + xywh[:, 2:] / 2
    inside = ((centres[None] > lo[:, None]) & (centres[None] < hi[:, None])).all(-1)  # [boxes, anchors]
    want = torch.stack([inside[batch["batch_idx"] == b].any(0) for b in (0, 1)])
    assert cand.shape == (2, len(centres), 1) and torch.equal(cand[..., 0], want)
    assert model.criterion.fg_mask.sum() < want.sum()  # more anchors than the foreground
    with pytest.raises(ValueError, match="'gjr_region=near' is invalid"):
        model.args = get_cfg(overrides={"cls_loss": "gjr", "gjr_region": "near"})
        DetectionLoss(model)


@pytest.mark.parametrize("user, name", [({}, "GJRLoss"), ({"cls_loss": "bce"}, "BCEWithLogitsLoss"),
                                        ({"cls_loss": "eql"}, "EQLLoss")])
def test_gjadet_family_takes_gjr_over_bce_unless_told(user, name, crash_tiny, tiny, tmp_path):
    """GJADet's family default (docs/design.md, #32): GJR's reweighting over BCE (gjr_beta 0) beside rfs=1.0; a
    `cls_loss` the user names wins."""
    from ext.models.gjadet.train import GJADetTrainer

    trainer = GJADetTrainer(overrides={**tiny, "model": "gjadet-n.yaml", "data": crash_tiny, "project": str(tmp_path),
                                       **user})
    model = trainer.get_model(cfg="gjadet-n.yaml", verbose=False)
    model.args = trainer.args
    loss = DetectionLoss(model).classification_loss
    assert type(loss).__name__ == name and trainer.args.rfs == 1.0
    assert ("cls_loss" in trainer.family_keys) == (not user)
    if name == "GJRLoss":
        assert loss.beta == 0.0 and loss.region == "foreground"
