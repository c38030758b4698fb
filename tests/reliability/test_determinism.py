"""Same seed and data, same losses: two CPU runs of each family give identical per-step losses, mosaic included."""

from __future__ import annotations

import pytest

import ext

FAMILIES = {"HSD": ("hsd-n.yaml", "fault_tiny"), "GJADet": ("gjadet-n.yaml", "crash_tiny")}


class Enough(Exception):
    """Stops a run once the steps under test are recorded."""


def first_losses(family: str, yaml: str, data: str, project, n: int = 3, **kwargs) -> list[dict]:
    """Train `family` and return the loss items of its first `n` steps (2 steps per epoch: n=3 crosses epochs)."""
    model = getattr(ext, family)(yaml)
    steps = []

    def record(trainer):
        steps.append({k: float(v) for k, v in trainer.loss_items.items()})
        if len(steps) == n:
            raise Enough

    model.add_callback("on_train_batch_end", record)
    with pytest.raises(Enough):
        model.train(data=data, project=str(project), **kwargs)
    return steps


@pytest.mark.parametrize("family", FAMILIES)
def test_same_seed_same_losses(family, request, tiny, tmp_path):
    """Mosaic on in every epoch (close_mosaic=0), so its random picks are covered; exact equality."""
    yaml, data = FAMILIES[family][0], request.getfixturevalue(FAMILIES[family][1])
    args = {**tiny, "epochs": 2, "close_mosaic": 0, "mosaic": 1.0}
    a = first_losses(family, yaml, data, tmp_path, name="a", **args)
    b = first_losses(family, yaml, data, tmp_path, name="b", **args)
    assert a == b
    assert len({str(s) for s in a}) == len(a)  # the steps differ from each other: the record is not stale


def test_other_seed_other_losses(fault_tiny, tiny, tmp_path):
    """The seed matters (guards against a test that passes because nothing is random)."""
    args = {**tiny, "epochs": 2, "close_mosaic": 0}
    a = first_losses("HSD", "hsd-n.yaml", fault_tiny, tmp_path, n=2, name="a", seed=0, **args)
    b = first_losses("HSD", "hsd-n.yaml", fault_tiny, tmp_path, n=2, name="b", seed=1, **args)
    assert a != b
