"""Resume is exact: a run interrupted after epoch 1 and resumed has the losses of an uninterrupted run.

Ultralytics alone does not give this: last.pt holds the EMA (the resumed model starts from it, not from the trained
weights) and the optimizer state in fp16, no random state, and its single-process loader's shuffle runs on from
the first epoch. `exact_resume` (default) adds weights/resume_state.pt and a (seed, epoch) shuffle.
"""

from __future__ import annotations

import csv

import pytest

import ext

FAMILIES = {  # GJADet: GJR's statistics also go through the checkpoint (loss_state); HSD: mosaic in both epochs
    "HSD": ("hsd-n.yaml", "fault_tiny", {"close_mosaic": 0}),
    "GJADet": ("gjadet-n.yaml", "crash_tiny", {}),
}


def record(model) -> list:
    """Collect (epoch, loss items) of each training step."""
    steps = []
    model.add_callback("on_train_batch_end",
                       lambda t: steps.append((t.epoch, {k: float(v) for k, v in t.loss_items.items()})))
    return steps


def results(run) -> list[dict]:
    return list(csv.DictReader(open(run / "results.csv")))


@pytest.mark.parametrize("family", FAMILIES)
def test_resumed_losses_equal_uninterrupted(family, request, interrupted_run, tiny, tmp_path):
    yaml, fixture, extra = FAMILIES[family]
    args = {**tiny, "epochs": 2, "data": request.getfixturevalue(fixture), "project": str(tmp_path), **extra}
    Family = getattr(ext, family)

    full = Family(yaml)
    full_steps = record(full)
    full.train(name="full", **args)

    last = interrupted_run(Family(yaml), name="part", **args)
    assert (last.parent / "resume_state.pt").is_file()
    resumed = Family(str(last))
    resumed_steps = record(resumed)
    resumed.train(resume=True)

    assert resumed_steps == [s for s in full_steps if s[0] == 1]  # every step of epoch 2, exactly
    a, b = results(full.trainer.save_dir)[1], results(resumed.trainer.save_dir)[1]
    assert {k: v for k, v in a.items() if k != "time"} == {k: v for k, v in b.items() if k != "time"}
    assert not (last.parent / "resume_state.pt").exists()  # a finished run cannot resume: its state is removed


def test_without_exact_resume_no_state_file(fault_tiny, interrupted_run, tiny, tmp_path):
    """exact_resume=False keeps Ultralytics' behaviour: no resume_state.pt, and resume still works."""
    last = interrupted_run(ext.HSD("hsd-n.yaml"), data=fault_tiny, project=str(tmp_path), name="plain",
                           exact_resume=False, **{**tiny, "epochs": 2})
    assert last.is_file() and not (last.parent / "resume_state.pt").exists()
    model = ext.HSD(str(last))
    model.train(resume=True)
    assert len(results(model.trainer.save_dir)) == 2
