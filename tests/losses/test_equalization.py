"""Tests for ext.losses.equalization: EQL on a one-stage head, against an independent float64 computation."""

import math
from types import SimpleNamespace

import pytest
import torch

from ext.defaults import ext_default
from ext.keys import check_choices
from ext.losses import EQLLoss, build_cls_loss

# 6 anchors x 3 classes: class 0 on three anchors, class 1 on one, class 2 on none, two background anchors.
LOGITS = [[0.5, -1.0, 0.2], [-0.3, 1.5, -2.0], [1.0, 0.4, -0.7], [-1.2, -0.1, 0.8], [0.3, 0.9, 1.4], [-0.6, 0.2, 0.5]]
TARGETS = [[0.7, 0.0, 0.0], [0.0, 0.4, 0.0], [0.9, 0.0, 0.0], [0.5, 0.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]]


def bce(z: float, t: float) -> float:
    """Binary cross-entropy with logits, float64."""
    return max(z, 0.0) - z * t + math.log1p(math.exp(-abs(z)))


def expected(rare: set, region_rows: set) -> list:
    """EQL by hand: BCE, with the element dropped where the class is rare, the target is 0 and the row is in the
    region."""
    return [[0.0 if (j in rare and t == 0 and i in region_rows) else bce(z, t) for j, (z, t) in enumerate(zip(zr, tr))]
            for i, (zr, tr) in enumerate(zip(LOGITS, TARGETS))]


def test_rare_negatives_dropped_at_the_foreground_only():
    """Counts [3, 1, 0] of 4 foreground anchors: at lam 0.3 classes 1 (25 %) and 2 (0 %) are rare; their negatives go
    at the four foreground rows, the background rows keep all, class 1 keeps its own positive."""
    loss = EQLLoss(3, lam=0.3, region="foreground")
    out = loss(torch.tensor(LOGITS), torch.tensor(TARGETS))
    assert loss.fg_count.tolist() == [3.0, 1.0, 0.0]
    assert loss.rare.tolist() == [False, True, True]
    torch.testing.assert_close(out.double(), torch.tensor(expected({1, 2}, {0, 1, 2, 3}), dtype=torch.float64))


def test_candidates_also_drop_at_the_marked_background_rows():
    loss = EQLLoss(3, lam=0.3, region="candidates")
    loss.candidates = torch.tensor([False, False, False, False, True, False])[:, None]
    out = loss(torch.tensor(LOGITS), torch.tensor(TARGETS))
    torch.testing.assert_close(out.double(), torch.tensor(expected({1, 2}, {0, 1, 2, 3, 4}), dtype=torch.float64))
    loss.candidates = None
    with pytest.raises(ValueError, match="candidates"):
        loss(torch.tensor(LOGITS), torch.tensor(TARGETS))
    assert loss.fg_count.tolist() == [3.0, 1.0, 0.0]  # the refused call counted nothing


def test_counts_accumulate_in_training_only_and_set_the_rare_classes():
    loss = EQLLoss(3, lam=0.3)
    z, t = torch.tensor(LOGITS), torch.tensor(TARGETS)
    loss.eval()
    torch.testing.assert_close(loss(z, t).double(), torch.tensor(expected(set(), set()), dtype=torch.float64))
    assert loss.fg_count.sum() == 0  # nothing counted, no class rare: plain BCE
    loss.train()
    with torch.no_grad():
        loss(z, t)
    assert loss.fg_count.sum() == 0
    loss(z, t)
    loss(z, t.roll(1, dims=1))  # class 1 now on three anchors, class 2 on one: counts [3, 4, 1]
    assert loss.fg_count.tolist() == [3.0, 4.0, 1.0]
    assert loss.rare.tolist() == [False, False, True]  # 1 / 8 < 0.3


def test_no_rare_class_is_bce_and_gradients_flow():
    z = torch.tensor(LOGITS, requires_grad=True)
    out = EQLLoss(3, lam=0.0)(z, torch.tensor(TARGETS))
    torch.testing.assert_close(out.double(), torch.tensor(expected(set(), set()), dtype=torch.float64))
    out.sum().backward()
    assert torch.isfinite(z.grad).all()


def test_refuses_region_all_and_a_wrong_class_count():
    with pytest.raises(ValueError, match="at every anchor a rare class would never learn background"):
        EQLLoss(3, region="all")
    with pytest.raises(ValueError, match="region='none' is invalid"):
        EQLLoss(3, region="none")
    with pytest.raises(ValueError, match="expected 3 classes"):
        EQLLoss(3)(torch.zeros(2, 4), torch.zeros(2, 4))
    for lam in (1.0, -0.1):
        with pytest.raises(ValueError, match=r"must be in \[0, 1\)"):
            EQLLoss(3, lam=lam)


@pytest.mark.parametrize("args", [{"cls_loss": "eql", "gjr_region": "all"},
                                  SimpleNamespace(cls_loss="EQL", gjr_region="All")])
def test_run_arguments_refuse_eql_at_every_anchor(args):
    """Refused with the run's arguments (dict or namespace, any case), before any data or model is built."""
    with pytest.raises(ValueError, match="'cls_loss=eql gjr_region=all' is invalid"):
        check_choices(args)
    check_choices({"cls_loss": "gjr", "gjr_region": "all"})  # GJR at every anchor is the public code's form


def test_built_by_name_with_the_package_defaults_and_state_round_trip():
    loss = build_cls_loss("EQL", 3)
    assert isinstance(loss, EQLLoss) and loss.lam == ext_default("eql_lambda") == 0.05
    assert loss.region == ext_default("gjr_region")
    assert build_cls_loss("eql", 3, eql_lambda=0.2, gjr_region="candidates").lam == 0.2
    loss(torch.tensor(LOGITS), torch.tensor(TARGETS))
    other = EQLLoss(3)
    other.load_state_dict(loss.state_dict())
    assert other.fg_count.tolist() == [3.0, 1.0, 0.0]
