"""Tests for ext.losses.classification: element-wise BCE / Focal / QFL / EQLv2 / GJR."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from ext.losses import (
    CLS_LOSSES,
    BCELoss,
    EQFLoss,
    EQLv2Loss,
    FocalLoss,
    GJRLoss,
    QualityFocalLoss,
    build_cls_loss,
)

NC = 3
# [4, 3] example: two foreground rows with soft targets, one background row, one foreground row of class 2.
LOGITS_1 = [[0.5, -1.0, 0.2], [-0.3, 1.5, -2.0], [1.0, 0.4, -0.7], [-1.2, -0.1, 0.8]]
TARGETS_1 = [[0.7, 0.0, 0.0], [0.0, 0.4, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.9]]
LOGITS_2 = [[-0.4, 0.3, 1.1], [0.9, -0.6, 0.1], [-1.5, 2.0, 0.3], [0.2, 0.7, -0.9]]
TARGETS_2 = [[0.0, 0.8, 0.0], [0.5, 0.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.3]]


def _t(values, dtype=torch.float32):
    """Tensor from nested lists."""
    return torch.tensor(values, dtype=dtype)


def numpy_gjr(steps, gamma, mu, alpha, beta, region="foreground", candidates=None):
    """Independent float64 loop implementation of GJR: returns (losses per step, pos, neg, ratio). candidates: per
    step, one bool a row (region "candidates")."""
    pos, neg, ratio = np.zeros(NC), np.zeros(NC), np.full(NC, 100.0)
    losses = []
    for k, (logits, targets) in enumerate(steps):
        z, t = np.asarray(logits, np.float64), np.asarray(targets, np.float64)
        loss = np.zeros_like(z)
        pos_inc, neg_inc = np.zeros(NC), np.zeros(NC)
        for i in range(z.shape[0]):
            fg = max(t[i]) > 0 or region == "all" or (region == "candidates" and candidates[k][i])
            for j in range(NC):
                p = 1.0 / (1.0 + math.exp(-z[i, j]))
                q = 1.0 / (1.0 + math.exp(-gamma * (ratio[j] - mu)))
                w = (1 + alpha * (1 - q)) * t[i, j] + q * (1 - t[i, j]) if fg else 1.0
                bce = -(t[i, j] * math.log(p) + (1 - t[i, j]) * math.log(1 - p))
                loss[i, j] = w * bce * abs(t[i, j] - p) ** beta
                if fg:
                    g = abs(p - t[i, j])
                    pos_inc[j] += g * t[i, j] * w
                    neg_inc[j] += g * (1 - t[i, j]) * w
        pos, neg = pos + pos_inc, neg + neg_inc
        ratio = pos / (neg + 1e-10)
        losses.append(loss)
    return losses, pos, neg, ratio


@pytest.mark.parametrize("name", CLS_LOSSES)
def test_shape_finite_float32_from_half(name):
    torch.manual_seed(0)
    loss_fn = build_cls_loss(name, nc=4)
    logits = (torch.randn(2, 7, 4) * 3).half().requires_grad_(True)
    targets = (torch.rand(2, 7, 4) * (torch.rand(2, 7, 4) > 0.7)).half()
    out = loss_fn(logits, targets)
    assert out.shape == logits.shape
    assert out.dtype == torch.float32
    assert torch.isfinite(out).all()
    out.sum().backward()
    assert logits.grad is not None and torch.isfinite(logits.grad.float()).all()


@pytest.mark.parametrize("name", CLS_LOSSES)
def test_float32_under_cpu_autocast(name):
    loss_fn = build_cls_loss(name, nc=3)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = loss_fn(_t(LOGITS_1), _t(TARGETS_1))
    assert out.dtype == torch.float32


def test_bce_matches_torch():
    z, t = _t(LOGITS_1), _t(TARGETS_1)
    expected = F.binary_cross_entropy_with_logits(z, t, reduction="none")
    torch.testing.assert_close(BCELoss()(z, t), expected)


def test_focal_hand_computed():
    z, t = _t([[0.0, 2.0, -1.0]]), _t([[1.0, 0.0, 1.0]])
    out = FocalLoss(gamma=1.5, alpha=0.25)(z, t)
    p2, pm1 = 1 / (1 + math.exp(-2.0)), 1 / (1 + math.exp(1.0))
    expected = [
        0.25 * math.log(2) * 0.5**1.5,  # p = 0.5, t = 1
        0.75 * -math.log(1 - p2) * p2**1.5,  # t = 0: p_t = 1 - p
        0.25 * -math.log(pm1) * (1 - pm1) ** 1.5,  # t = 1: p_t = p
    ]
    torch.testing.assert_close(out, _t([expected]), rtol=1e-5, atol=1e-7)
    no_alpha = FocalLoss(gamma=2.0, alpha=-1)(z, t)
    torch.testing.assert_close(no_alpha[0, 0], torch.tensor(math.log(2) * 0.25))


def test_qfl_hand_computed():
    z, t = _t([[0.0, 1.0]]), _t([[0.6, 0.0]])
    out = QualityFocalLoss(beta=2.0)(z, t)
    p1 = 1 / (1 + math.exp(-1.0))
    expected = [math.log(2) * 0.1**2, -math.log(1 - p1) * p1**2]
    torch.testing.assert_close(out, _t([expected]), rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("gamma", [5.0, 12.0])
def test_gjr_first_call_equals_qfl(gamma):
    torch.manual_seed(1)
    z = torch.randn(3, 10, NC) * 2
    t = torch.rand(3, 10, NC) * (torch.rand(3, 10, NC) > 0.6)
    gjr = GJRLoss(NC, gamma=gamma, beta=2.0)  # the paper's element
    torch.testing.assert_close(gjr(z, t), QualityFocalLoss(2.0)(z, t), rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(GJRLoss(NC, gamma=gamma, beta=0.0)(z, t), BCELoss()(z, t), rtol=1e-5, atol=1e-7)
    eql = EQLv2Loss(NC, gamma=gamma)
    torch.testing.assert_close(eql(z, t), BCELoss()(z, t), rtol=1e-5, atol=1e-7)


def test_gjr_statistics_two_calls_match_hand():
    gjr = GJRLoss(NC, gamma=5.0, mu=0.8, alpha=4.0, beta=2.0)
    out1 = gjr(_t(LOGITS_1), _t(TARGETS_1))
    out2 = gjr(_t(LOGITS_2), _t(TARGETS_2))
    steps = [(LOGITS_1, TARGETS_1), (LOGITS_2, TARGETS_2)]
    losses, pos, neg, ratio = numpy_gjr(steps, gamma=5.0, mu=0.8, alpha=4.0, beta=2.0)
    np.testing.assert_allclose(gjr.pos_grad.numpy(), pos, rtol=1e-5)
    np.testing.assert_allclose(gjr.neg_grad.numpy(), neg, rtol=1e-5)
    np.testing.assert_allclose(gjr.ratio.numpy(), ratio, rtol=1e-5)
    np.testing.assert_allclose(gjr.gradient_ratio.numpy(), ratio, rtol=1e-5)
    np.testing.assert_allclose(out1.numpy(), losses[0], rtol=1e-5, atol=1e-8)
    np.testing.assert_allclose(out2.numpy(), losses[1], rtol=1e-5, atol=1e-8)
    # the second step is really reweighted (weights differ from 1), so the check is not vacuous
    assert not np.allclose(losses[1], QualityFocalLoss(2.0)(_t(LOGITS_2), _t(TARGETS_2)).numpy(), rtol=1e-3)


def test_eqlv2_statistics_match_hand_without_beta():
    eql = EQLv2Loss(NC, gamma=12.0)
    eql(_t(LOGITS_1), _t(TARGETS_1))
    out2 = eql(_t(LOGITS_2), _t(TARGETS_2))
    steps = [(LOGITS_1, TARGETS_1), (LOGITS_2, TARGETS_2)]
    losses, pos, neg, ratio = numpy_gjr(steps, gamma=12.0, mu=0.8, alpha=4.0, beta=0.0)
    np.testing.assert_allclose(eql.pos_grad.numpy(), pos, rtol=1e-5)
    np.testing.assert_allclose(eql.neg_grad.numpy(), neg, rtol=1e-5)
    np.testing.assert_allclose(out2.numpy(), losses[1], rtol=1e-5, atol=1e-8)


def test_region_all_counts_background():
    gjr = GJRLoss(NC, beta=2.0, region="all")
    gjr(_t(LOGITS_1), _t(TARGETS_1))
    out2 = gjr(_t(LOGITS_2), _t(TARGETS_2))
    steps = [(LOGITS_1, TARGETS_1), (LOGITS_2, TARGETS_2)]
    losses, pos, neg, _ = numpy_gjr(steps, gamma=5.0, mu=0.8, alpha=4.0, beta=2.0, region="all")
    np.testing.assert_allclose(gjr.neg_grad.numpy(), neg, rtol=1e-5)
    np.testing.assert_allclose(out2.numpy(), losses[1], rtol=1e-5, atol=1e-8)


def test_region_candidates_counts_the_marked_background_rows_too():
    """Row 2 of TARGETS_2 is background: counted and reweighted when marked a candidate, weight 1 when not."""
    marks = [[False, False, True, False], [False, True, True, False]]  # row 1 of step 1 is foreground anyway
    gjr = GJRLoss(NC, beta=0.0, region="candidates")
    outs = []
    for (z, t), m in zip([(LOGITS_1, TARGETS_1), (LOGITS_2, TARGETS_2)], marks):
        gjr.candidates = torch.tensor(m)[:, None]
        outs.append(gjr(_t(z), _t(t)))
    steps = [(LOGITS_1, TARGETS_1), (LOGITS_2, TARGETS_2)]
    losses, pos, neg, _ = numpy_gjr(steps, gamma=5.0, mu=0.8, alpha=4.0, beta=0.0, region="candidates",
                                    candidates=marks)
    np.testing.assert_allclose(gjr.neg_grad.numpy(), neg, rtol=1e-5)
    np.testing.assert_allclose(outs[1].numpy(), losses[1], rtol=1e-5, atol=1e-8)
    foreground = numpy_gjr(steps, gamma=5.0, mu=0.8, alpha=4.0, beta=0.0)[2]
    assert (neg > foreground).any()  # the marked background rows added negatives
    gjr.candidates = None
    with pytest.raises(ValueError, match="region='candidates' needs `candidates`"):
        gjr(_t(LOGITS_1), _t(TARGETS_1))
    with pytest.raises(ValueError, match="valid regions: foreground, candidates, all"):
        GJRLoss(NC, region="near")
    assert GJRLoss(NC, region="Candidates").region == "candidates"  # as the key check reads it


def test_eval_mode_and_no_grad_do_not_update():
    gjr = GJRLoss(NC)
    gjr(_t(LOGITS_1), _t(TARGETS_1))
    before = {k: v.clone() for k, v in gjr.state_dict().items()}
    gjr.eval()
    gjr(_t(LOGITS_2), _t(TARGETS_2))
    gjr.train()
    with torch.no_grad():
        gjr(_t(LOGITS_2), _t(TARGETS_2))
    with torch.inference_mode():
        gjr(_t(LOGITS_2), _t(TARGETS_2))
    for k, v in gjr.state_dict().items():
        torch.testing.assert_close(v, before[k], rtol=0, atol=0)


def test_paused_statistics_give_the_plain_element_then_count_from_the_first_step_after():
    """`paused` (gjr_warmup): two paused steps leave the statistics at their start and equal plain BCE (GJR over BCE,
    EQLv2); unpaused, the next two steps match the hand loop started at those steps, as if the pause never counted."""
    for loss in (GJRLoss(NC, beta=0.0), EQLv2Loss(NC, gamma=5.0)):
        loss.paused = True
        for z, t in [(LOGITS_2, TARGETS_2), (LOGITS_1, TARGETS_1)]:
            torch.testing.assert_close(loss(_t(z), _t(t)), BCELoss()(_t(z), _t(t)), rtol=1e-5, atol=1e-7)
        np.testing.assert_array_equal(loss.ratio.numpy(), np.full(NC, 100.0))
        np.testing.assert_array_equal(loss.pos_grad.numpy(), np.zeros(NC))
        loss.paused = False
        loss(_t(LOGITS_1), _t(TARGETS_1))
        out2 = loss(_t(LOGITS_2), _t(TARGETS_2))
        losses, pos, neg, ratio = numpy_gjr([(LOGITS_1, TARGETS_1), (LOGITS_2, TARGETS_2)], gamma=5.0, mu=0.8,
                                            alpha=4.0, beta=0.0)
        np.testing.assert_allclose(loss.ratio.numpy(), ratio, rtol=1e-5)
        np.testing.assert_allclose(out2.numpy(), losses[1], rtol=1e-5, atol=1e-8)


def test_state_dict_round_trip():
    gjr = GJRLoss(NC)
    gjr(_t(LOGITS_1), _t(TARGETS_1))
    state = gjr.state_dict()
    assert set(state) == {"pos_grad", "neg_grad", "ratio"}
    assert all(v.dtype == torch.float32 and v.shape == (NC,) for v in state.values())
    restored = GJRLoss(NC)
    restored.load_state_dict(state)
    torch.testing.assert_close(restored(_t(LOGITS_2), _t(TARGETS_2)), gjr(_t(LOGITS_2), _t(TARGETS_2)))
    for k, v in gjr.state_dict().items():
        torch.testing.assert_close(restored.state_dict()[k], v)


def test_background_rows_do_not_change_statistics_and_get_weight_one():
    fg_z, fg_t = _t(LOGITS_1[:2] + LOGITS_1[3:]), _t(TARGETS_1[:2] + TARGETS_1[3:])
    bg_z = torch.randn(50, NC) * 3
    bg_t = torch.zeros(50, NC)
    only_fg, with_bg = GJRLoss(NC, beta=2.0), GJRLoss(NC, beta=2.0)
    for _ in range(2):  # second round: ratio is no longer 100, weights are non-trivial
        only_fg(fg_z, fg_t)
        out = with_bg(torch.cat([fg_z, bg_z]), torch.cat([fg_t, bg_t]))
        for k, v in only_fg.state_dict().items():
            torch.testing.assert_close(with_bg.state_dict()[k], v)
    assert not torch.allclose(with_bg.ratio, torch.full((NC,), 100.0))
    torch.testing.assert_close(out[-50:], QualityFocalLoss(2.0)(bg_z, bg_t))


def test_all_anchor_mode_collapses_negative_weight():
    """The hazard the foreground default avoids: many background anchors make q -> 0 for every class."""
    torch.manual_seed(2)
    z = torch.cat([torch.randn(4, NC), torch.randn(500, NC) - 1])
    t = torch.cat([torch.eye(NC)[torch.tensor([0, 1, 2, 0])] * 0.8, torch.zeros(500, NC)])
    dense, foreground = GJRLoss(NC, region="all"), GJRLoss(NC)
    for _ in range(3):
        dense(z, t)
        foreground(z, t)
    assert (dense.class_weights()[1] < 0.05).all()
    assert (foreground.gradient_ratio > dense.gradient_ratio).all()


def test_gradient_ratio_is_detached_copy():
    gjr = GJRLoss(NC)
    r = gjr.gradient_ratio
    r.zero_()
    assert torch.equal(gjr.ratio, torch.full((NC,), 100.0))


def test_two_calls_then_backward():
    """Buffers change in place between calls; the graphs of earlier calls must stay valid."""
    gjr = GJRLoss(NC)
    z = _t(LOGITS_1).requires_grad_(True)
    total = gjr(z, _t(TARGETS_1)).sum() + gjr(z, _t(TARGETS_2)).sum()
    total.backward()
    assert torch.isfinite(z.grad).all()


def test_wrong_class_count_raises():
    with pytest.raises(ValueError):
        GJRLoss(4)(_t(LOGITS_1), _t(TARGETS_1))


def test_build_cls_loss_names_and_kwargs():
    assert CLS_LOSSES == ("bce", "focal", "qfl", "eqlv2", "eqfl", "eql", "gjr")
    assert isinstance(build_cls_loss("BCE", 3), BCELoss)
    assert isinstance(build_cls_loss("focal", 3), FocalLoss)
    assert isinstance(build_cls_loss("qfl", 3), QualityFocalLoss)
    gjr = build_cls_loss("gjr", 5, gjr_gamma=7.0, gjr_mu=0.5, gjr_alpha=2.0, gjr_beta=1.0, lr0=0.01)
    assert isinstance(gjr, GJRLoss)
    assert (gjr.nc, gjr.gamma, gjr.mu, gjr.alpha, gjr.beta, gjr.region) == (5, 7.0, 0.5, 2.0, 1.0, "foreground")
    default = build_cls_loss("gjr", 2, gjr_gamma=None)
    assert (default.gamma, default.mu, default.alpha, default.beta) == (5.0, 0.8, 4.0, 0.0)
    eql = build_cls_loss("eqlv2", 4, gjr_alpha=3.0, gjr_beta=9.0, gjr_region="all")
    assert isinstance(eql, EQLv2Loss)
    assert (eql.gamma, eql.alpha, eql.region) == (12.0, 3.0, "all")
    eqfl = build_cls_loss("eqfl", 4, eqfl_gamma=1.5, eqfl_scale=None)
    assert isinstance(eqfl, EQFLoss) and (eqfl.gamma_b, eqfl.scale, eqfl.region) == (1.5, 8.0, "all")
    with pytest.raises(ValueError, match="bce, focal, qfl, eqlv2, eqfl, eql, gjr"):
        build_cls_loss("ohem", 3)


def test_eqfl_starts_as_qfl_then_focuses_rare_classes_harder():
    """EQFL against a numpy evaluation of its formula; its statistics are the unweighted |p - t| sums."""
    z = torch.tensor([[2.0, -1.0, 0.5], [-3.0, 1.5, -0.2], [0.3, -2.5, 1.0]])
    t = torch.tensor([[0.9, 0.0, 0.0], [0.0, 0.6, 0.0], [0.0, 0.0, 0.0]])
    loss = EQFLoss(3)
    torch.testing.assert_close(loss(z, t), QualityFocalLoss(2.0)(z, t))  # ratio 100 -> g = 1 -> beta = gamma_b
    p = torch.sigmoid(z)
    torch.testing.assert_close(loss.pos_grad, ((p - t).abs() * t).sum(0))  # every anchor, no weights
    torch.testing.assert_close(loss.neg_grad, ((p - t).abs() * (1 - t)).sum(0))
    loss.pos_grad.copy_(torch.tensor([1.0, 0.25, 0.0]))
    loss.neg_grad.copy_(torch.tensor([0.5, 1.0, 4.0]))
    loss.ratio.copy_(loss.pos_grad / (loss.neg_grad + 1e-10))
    loss.eval()  # no statistics update
    zn, tn = z.double().numpy(), t.double().numpy()
    pn = 1 / (1 + np.exp(-zn))
    bce = -(tn * np.log(pn) + (1 - tn) * np.log(1 - pn))
    beta = 2.0 + 8.0 * (1 - np.array([1.0, 0.25, 0.0]))  # g clipped at 1: 2, 8, 10
    expected = beta / 2.0 * bce * np.abs(tn - pn) ** beta
    np.testing.assert_allclose(loss(z, t).double().numpy(), expected, rtol=1e-5)


def test_constructor_defaults_are_the_package_defaults():
    """A loss built without arguments takes each setting from cfg/default.yaml (read here on its own), the one
    place a key's default is set; `build_cls_loss` without keys gives the same."""
    import yaml

    from ext.paths import cfg_dir

    cfg = yaml.safe_load((cfg_dir() / "default.yaml").read_text())
    for gjr in (GJRLoss(NC), build_cls_loss("gjr", NC)):
        assert (gjr.gamma, gjr.mu, gjr.alpha, gjr.beta) == (cfg["gjr_gamma"], cfg["gjr_mu"], cfg["gjr_alpha"],
                                                            cfg["gjr_beta"])
    for eql in (EQLv2Loss(NC), build_cls_loss("eqlv2", NC)):
        assert (eql.gamma, eql.mu, eql.alpha) == (cfg["eqlv2_gamma"], cfg["eqlv2_mu"], cfg["eqlv2_alpha"])
    for eqfl in (EQFLoss(NC), build_cls_loss("eqfl", NC)):
        assert (eqfl.gamma_b, eqfl.scale) == (cfg["eqfl_gamma"], cfg["eqfl_scale"])


def test_eqlv2_reads_its_own_keys_and_the_old_gjr_keys_with_a_warning(monkeypatch):
    """EQLv2 has keys of its own (`eqlv2_mu`, `eqlv2_alpha`); a `gjr_mu` / `gjr_alpha` set away from its default,
    which EQLv2 read before, still sets EQLv2's where its own key is not set, and warns that it is deprecated."""
    import ext.losses.classification as cl

    warned = []
    monkeypatch.setattr(cl.LOGGER, "warning", lambda msg: warned.append(msg))
    own = build_cls_loss("eqlv2", NC, eqlv2_mu=0.6, eqlv2_alpha=2.0, gjr_mu=0.8, gjr_alpha=4.0)
    assert (own.mu, own.alpha) == (0.6, 2.0) and warned == []
    old = build_cls_loss("eqlv2", NC, gjr_mu=0.5, gjr_alpha=3.0, eqlv2_mu=None)
    assert (old.mu, old.alpha) == (0.5, 3.0)
    assert len(warned) == 2 and "deprecated" in warned[0] and "eqlv2_mu" in warned[0] and "eqlv2_alpha" in warned[1]
    both = build_cls_loss("eqlv2", NC, gjr_mu=0.5, eqlv2_mu=0.7)  # its own key, once set, wins
    assert both.mu == 0.7 and len(warned) == 2
    gjr = build_cls_loss("gjr", NC, gjr_mu=0.5, eqlv2_mu=0.7)  # GJR's keys stay GJR's, without a warning
    assert gjr.mu == 0.5 and len(warned) == 2
