"""The initial box distribution (`dfl_prior`, ext/nn/box_prior.py): its mean, its entropy, every level and branch of
every head of ours, the YAML key and the training key."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from ultralytics.nn.tasks import DetectionModel, yaml_model_load

import ext
from ext.nn.box_prior import expected_side, max_entropy_logits, set_box_prior
from ext.nn.modules import HKH
from ext.nn.tasks import DetectorModel, load_model_yaml


def sides(head) -> list[float]:
    """Expected distance (cells) of every level's initial box distribution, both branches, from the biases alone,
    computed with numpy (an independent softmax)."""
    out = []
    for branch in (head.cv2, getattr(head, "one2one_cv2", None) or []):
        for seq in branch:
            b = seq[-1].bias.detach().double().numpy().reshape(4, head.reg_max)
            p = np.exp(b - b.max(1, keepdims=True))
            p /= p.sum(1, keepdims=True)
            out += list((p * np.arange(head.reg_max)).sum(1))
    return out


@pytest.mark.parametrize("mean", [0.29, 2.0, 5.0, 7.5, 12.0])
def test_logits_have_the_asked_mean(mean):
    logits = max_entropy_logits(16, mean)
    p = np.exp(logits.double().numpy())
    p /= p.sum()
    assert (p * np.arange(16)).sum() == pytest.approx(mean, abs=1e-5)
    assert float(expected_side(logits)) == pytest.approx(mean, abs=1e-5)


def test_largest_entropy_of_all_distributions_with_that_mean():
    """Any other distribution over the 16 bins with mean 2 (the prior plus a zero-mean, zero-sum perturbation) has
    a lower entropy; the uniform start is the prior of mean 7.5."""
    p = torch.softmax(max_entropy_logits(16, 2.0).double(), 0).numpy()
    j = np.arange(16)

    def entropy(q):
        return -(q * np.log(q)).sum()

    rng = np.random.default_rng(0)
    for _ in range(50):
        d = rng.normal(size=16)
        basis = np.stack([np.ones(16), j])  # remove the components that would change the sum or the mean
        d -= basis.T @ np.linalg.lstsq(basis.T, d, rcond=None)[0]
        q = p + 1e-3 * d / np.abs(d).max() * p.min()
        assert q.sum() == pytest.approx(1) and (q * j).sum() == pytest.approx(2.0)
        assert entropy(q) < entropy(p)
    assert torch.allclose(max_entropy_logits(16, 7.5), torch.zeros(16), atol=1e-6)


@pytest.mark.parametrize("bad", [0.0, -1.0, 15.0, 20.0])
def test_out_of_range_is_refused(bad):
    with pytest.raises(ValueError, match="dfl_prior"):
        max_entropy_logits(16, bad)


@pytest.mark.parametrize("cfg", ["hsd-n.yaml", "hsd-teacher-n.yaml", "gjadet-n.yaml"])
def test_our_yamls_start_at_two_cells_on_every_level(cfg):
    model = DetectorModel(cfg, nc=3, verbose=False)
    head = model.model[-1]
    assert model.yaml["dfl_prior"] == 2.0 and head.reg_max == 16
    assert sides(head) == pytest.approx([2.0] * 4 * head.nl, abs=1e-4)


def test_end2end_branch_and_per_level_values():
    d = {**load_model_yaml("hsd-n.yaml"), "end2end": True, "dfl_prior": [1.0, 2.0, 3.0]}
    head = DetectorModel(d, nc=3, verbose=False).model[-1]
    assert isinstance(head, HKH) and head.one2one_cv2 is not None
    assert sides(head) == pytest.approx(([1.0] * 4 + [2.0] * 4 + [3.0] * 4) * 2, abs=1e-4)
    with pytest.raises(ValueError, match="2 values for a head with 3 levels"):
        set_box_prior(head, [1.0, 2.0])


def test_ultralytics_yaml_keeps_ultralytics_start_unless_asked():
    """yolo11n.yaml through ext: Ultralytics' biases exactly (uniform, 7.5 cells); with dfl_prior, 2 cells."""
    torch.manual_seed(0)
    plain = DetectorModel("yolo11n.yaml", nc=2, verbose=False)
    torch.manual_seed(0)
    theirs = DetectionModel(yaml_model_load("yolo11n.yaml"), nc=2, verbose=False)
    assert all(torch.equal(a[-1].bias, b[-1].bias) for a, b in zip(plain.model[-1].cv2, theirs.model[-1].cv2))
    assert sides(plain.model[-1]) == pytest.approx([7.5] * 12, abs=1e-4)
    asked = DetectorModel({**plain.yaml, "dfl_prior": 2.0}, nc=2, verbose=False)
    assert sides(asked.model[-1]) == pytest.approx([2.0] * 12, abs=1e-4)


def test_direct_regression_heads_are_left_alone():
    head = DetectorModel({**load_model_yaml("hsd-n.yaml"), "reg_max": 1}, nc=3, verbose=False).model[-1]
    assert head.reg_max == 1 and all(float(s[-1].bias.detach()[0]) == 2.0 for s in head.cv2)  # Ultralytics' bias_init


@pytest.mark.parametrize("key, expected", [(0.0, 7.5), (1.0, 1.0), (None, 2.0)])
def test_training_key_replaces_the_yaml_start_and_is_recorded(key, expected, fault_tiny, tiny, tmp_path):
    """`dfl_prior=` on the command line / train(): 0 gives Ultralytics' uniform start, a value that start; the
    checkpoint's YAML says which start the run used."""
    model = ext.HSD("hsd-n.yaml")
    seen = []
    model.add_callback("on_pretrain_routine_end", lambda t: seen.append(sides(t.model.model[-1])))
    model.train(data=fault_tiny, project=str(tmp_path), name="p", **tiny, **({} if key is None else {"dfl_prior": key}))
    assert seen[0] == pytest.approx([expected] * 12, abs=1e-4)
    saved = torch.load(model.trainer.last, weights_only=False)["model"].yaml["dfl_prior"]
    assert saved == (2.0 if key is None else key)
