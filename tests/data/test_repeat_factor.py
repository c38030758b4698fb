"""Repeat-factor sampling (`rfs`, ext/data/repeat_factor.py): the LVIS factors against hand-computed values, epochs of
a fixed length whose counts average the factors, (seed, epoch) determinism, DDP shards, and a training run that
draws its batches from it."""

from __future__ import annotations

import numpy as np
import pytest

import ext
from ext.data.repeat_factor import RepeatFactorSampler, image_share, repeat_factors
from ext.reliability.exact_resume import batch_source

# 10 images: class 0 in all, class 1 in image 0 only, class 2 in images 1 and 2, image 9 unlabelled
LABELS = [np.array([[0], [1]]), np.array([0, 2]), np.array([2, 0, 0])] + [np.array([0])] * 6 + [np.zeros(0)]


def test_factors_are_lvis_repeat_factors():
    r = repeat_factors(LABELS, nc=3, threshold=0.4)
    # f0 = 0.9, f1 = 0.1, f2 = 0.2: r = max(1, sqrt(0.4 / f)) of the rarest class present; none -> 1
    expected = [np.sqrt(0.4 / 0.1), np.sqrt(0.4 / 0.2), np.sqrt(0.4 / 0.2)] + [1.0] * 7
    np.testing.assert_allclose(r, expected)
    with pytest.raises(ValueError, match="must be > 0"):
        repeat_factors(LABELS, 3, 0.0)


def test_epochs_have_a_fixed_length_and_average_the_factors():
    r = repeat_factors(LABELS, nc=3, threshold=0.4)  # 2.0, 1.414, 1.414, 1 x 7: 11.83 -> 12 per epoch
    s = RepeatFactorSampler(r, seed=3)
    counts = []
    for e in range(2000):
        s.set_epoch(e)
        idx = list(s)
        assert len(idx) == len(s) == 12
        counts.append(np.bincount(idx, minlength=10))
    counts = np.array(counts)
    assert (counts >= np.floor(r)).all() and (counts <= np.ceil(r)).all()  # floor(r) copies plus at most one
    whole, frac = np.floor(r), r - np.floor(r)  # 11 whole copies, 1 extra draw shared by the fractions 0.414, 0.414
    np.testing.assert_allclose(counts.mean(0), whole + frac * (12 - whole.sum()) / frac.sum(), atol=0.03)


def test_order_depends_on_seed_and_epoch_only_and_ranks_share_one_epoch():
    r = repeat_factors(LABELS, nc=3, threshold=0.4)
    a, b = RepeatFactorSampler(r, seed=1), RepeatFactorSampler(r, seed=1)
    a.set_epoch(4), b.set_epoch(4)
    assert list(a) == list(b)
    b.set_epoch(5)
    assert list(a) != list(b)
    ranks = [RepeatFactorSampler(r, seed=1, num_replicas=2, rank=k) for k in range(2)]
    for s in ranks:
        s.set_epoch(4)
    assert [len(s) for s in ranks] == [6, 6]
    assert sorted(list(ranks[0]) + list(ranks[1])) == sorted(a)


def test_training_draws_its_batches_by_repeat_factor(fault_tiny, tiny, tmp_path):
    seen = {}

    def check(trainer):
        sampler = batch_source(trainer.train_loader)
        seen["sampler"], seen["batches"] = sampler, len(trainer.train_loader)

    model = ext.HSD("hsd-n.yaml")
    model.add_callback("on_train_start", check)
    model.train(data=fault_tiny, rfs=0.5, project=str(tmp_path), name="rfs", **tiny)
    s = seen["sampler"]
    assert isinstance(s, RepeatFactorSampler)
    labels = model.trainer.train_loader.dataset.labels
    np.testing.assert_allclose(s.factors, repeat_factors([lb["cls"] for lb in labels], len(model.names), 0.5))
    assert seen["batches"] == int(np.ceil(round(s.factors.sum()) / tiny["batch"]))


def test_image_share_counts_each_image_once_per_class():
    labels = [np.array([0, 0, 1]), np.array([0]), np.zeros(0), np.array([[2], [2]])]
    np.testing.assert_allclose(image_share(labels, 4), [2 / 4, 1 / 4, 1 / 4, 0.0])


def test_a_threshold_that_repeats_no_image_is_reported(fault_tiny, tiny, tmp_path, monkeypatch):
    import ext.reliability.exact_resume as er

    warnings = []
    monkeypatch.setattr(er.LOGGER, "warning", lambda msg, *a, **k: warnings.append(msg))
    model = ext.HSD("hsd-n.yaml")
    model.train(data=fault_tiny, rfs=1e-6, project=str(tmp_path), name="rfs0", **tiny)
    share = image_share([lb["cls"] for lb in model.trainer.train_loader.dataset.labels], len(model.names))
    present = np.flatnonzero(share)
    rarest = present[share[present].argmin()]
    msg = next(w for w in warnings if "repeats no image" in w)
    assert f"rfs=1e-06 repeats no image: the rarest class ({model.names[rarest]}) is in {share[rarest]:.1%}" in msg


def gjadet_train_loader(data, tiny, tmp_path, monkeypatch, **args):
    """GJADet's training loader for `args` (its model built, nothing trained) and the repeat-factor messages logged
    while building the trainer and the loader, as (trainer, loader, {'info': [...], 'warning': [...]})."""
    import ext.reliability.exact_resume as er
    from ext.models.gjadet.train import GJADetTrainer

    logged = {"info": [], "warning": []}
    for level, msgs in logged.items():
        monkeypatch.setattr(er.LOGGER, level, lambda msg, *a, msgs=msgs, **k: msgs.append(msg))
    trainer = GJADetTrainer(overrides={**tiny, "model": "gjadet-n.yaml", "data": data, "project": str(tmp_path),
                                       **args})
    trainer.model = trainer.get_model(cfg="gjadet-n.yaml", verbose=False)
    return trainer, trainer.get_dataloader(trainer.data["train"], tiny["batch"], -1, "train"), logged


@pytest.mark.parametrize("args, sampled", [({}, True), ({"rfs": 0.0}, False), ({"rect": True}, False)])
def test_gjadet_samples_by_repeat_factor_by_default(crash_tiny, tiny, tmp_path, monkeypatch, args, sampled):
    """GJADet's family default `rfs=1.0` (docs/design.md, #32): on unless the user turns it off; with rect=True,
    which has no sampler to replace, it is off with a word why, not an error."""
    trainer, loader, logged = gjadet_train_loader(crash_tiny, tiny, tmp_path, monkeypatch, **args)
    assert trainer.args.rfs == (0.0 if args else 1.0)  # what the run records and DDP workers read
    s = batch_source(loader)
    assert isinstance(s, RepeatFactorSampler) == sampled
    if sampled:
        labels = [lb["cls"] for lb in loader.dataset.labels]
        np.testing.assert_allclose(s.factors, repeat_factors(labels, 5, 1.0))
    assert any("(the family default) is off" in m for m in logged["info"]) == ("rect" in args)
    assert not logged["warning"]


def test_a_user_rfs_with_rect_is_an_error(crash_tiny, tiny, tmp_path, monkeypatch):
    with pytest.raises(ValueError, match="not with rect=True"):
        gjadet_train_loader(crash_tiny, tiny, tmp_path, monkeypatch, rfs=0.3, rect=True)


@pytest.mark.parametrize("user", [False, True])
def test_a_no_op_threshold_warns_only_when_the_user_set_it(crash_tiny, tiny, tmp_path, monkeypatch, user):
    """A threshold below every class's image share repeats nothing: a warning for the user's own `rfs`, information
    for a family default (which must not warn on every balanced set)."""
    from ext.models.gjadet.train import GJADetTrainer

    monkeypatch.setattr(GJADetTrainer, "defaults", {"rfs": 1e-6})
    _, _, logged = gjadet_train_loader(crash_tiny, tiny, tmp_path, monkeypatch, **({"rfs": 1e-6} if user else {}))
    said = {level: any("rfs=1e-06 repeats no image" in m for m in msgs) for level, msgs in logged.items()}
    assert said == {"info": not user, "warning": user}
