"""HSD distillation: teacher checks, the ld_loss column, student-only checkpoints, resume with the teacher."""

from __future__ import annotations

import csv
import math
import os
from types import SimpleNamespace

import pytest
import torch
from ultralytics.utils import YAML
from ultralytics.utils.torch_utils import unwrap_model

import ext
from ext.models.hsd.distill import LDDistillationModel, check_teacher, uses_ld
from ext.nn.tasks import HSDModel


@pytest.fixture(scope="module")
def teacher_pt(tmp_path_factory, fault_tiny):
    """A 1-epoch teacher on the tiny fault set."""
    project = tmp_path_factory.mktemp("teacher")
    t = ext.HSD("hsd-teacher-n.yaml")
    t.train(data="fault-synth-tiny", project=str(project), name="t", epochs=1, imgsz=64, batch=4, workers=0,
            device="cpu", plots=False, exist_ok=True)
    return str(t.trainer.best)


@pytest.fixture(scope="module")
def distilled(tmp_path_factory, teacher_pt):
    project = tmp_path_factory.mktemp("student")
    s = ext.HSD("hsd-n.yaml")
    s.train(data="fault-synth-tiny", distill_model=teacher_pt, project=str(project), name="s", epochs=2, imgsz=64,
            batch=4, workers=0, device="cpu", plots=False, exist_ok=True)
    return s.trainer


def test_ld_column_and_finite_losses(distilled):
    rows = list(csv.DictReader(open(distilled.save_dir / "results.csv")))
    assert "train/ld_loss" in rows[0] and "train/dis_loss" in rows[0]
    for r in rows:
        for k in ("train/box_loss", "train/cls_loss", "train/dfl_loss", "train/ld_loss"):
            assert math.isfinite(float(r[k]))
    assert any(float(r["train/ld_loss"]) > 0 for r in rows)
    assert float(rows[0]["train/dis_loss"]) == 0.0  # HSD default dis=0


def test_student_checkpoint_without_teacher(distilled, teacher_pt):
    """best.pt holds the student alone: about its own fp16 size, loadable as an HSDModel."""
    best = torch.load(distilled.best, weights_only=False)
    model = best["model"] if best.get("model") is not None else best["ema"]
    assert isinstance(model, HSDModel)
    n_student = sum(p.numel() for p in model.parameters())
    assert os.path.getsize(distilled.best) < 2 * n_student * 1.3  # fp16 student + metadata; no teacher
    last = torch.load(distilled.last, weights_only=False)
    assert getattr(last["ema"], "teacher_model", None) is None


def test_resume_distillation(teacher_pt, tmp_path, interrupted_run):
    """A distillation run killed after its first epoch resumes at the second, with the teacher rebuilt."""
    last = interrupted_run(ext.HSD("hsd-n.yaml"), data="fault-synth-tiny", distill_model=teacher_pt,
                           project=str(tmp_path), name="r", epochs=2, imgsz=64, batch=4, workers=0, device="cpu",
                           plots=False, exist_ok=True)
    assert torch.load(last, weights_only=False)["epoch"] == 0
    s = ext.HSD(str(last))
    s.train(resume=True)
    assert s.trainer.start_epoch == 1
    assert isinstance(s.trainer.model, LDDistillationModel)
    assert s.trainer.model.teacher_model is not None
    rows = list(csv.DictReader(open(s.trainer.save_dir / "results.csv")))
    assert [int(r["epoch"]) for r in rows] == [1, 2]
    assert math.isfinite(float(rows[-1]["train/ld_loss"])) and float(rows[-1]["train/ld_loss"]) > 0


def test_missing_teacher_stops_before_training(tmp_path, fault_tiny):
    with pytest.raises(FileNotFoundError, match="distill_model teacher"):
        ext.HSD("hsd-n.yaml").train(data="fault-synth-tiny", distill_model=str(tmp_path / "nope.pt"), epochs=1,
                                    imgsz=64, device="cpu", project=str(tmp_path))


def test_not_a_checkpoint(tmp_path, fault_tiny):
    bad = tmp_path / "bad.pt"
    bad.write_text("not a checkpoint")
    with pytest.raises(ValueError, match="not a loadable Ultralytics checkpoint"):
        ext.HSD("hsd-n.yaml").train(data="fault-synth-tiny", distill_model=str(bad), epochs=1, imgsz=64,
                                    device="cpu", project=str(tmp_path))


def test_mismatch_messages():
    student = HSDModel("hsd-n.yaml", nc=6, verbose=False)
    with pytest.raises(ValueError, match="teacher nc=3, student nc=6"):
        check_teacher(HSDModel("hsd-teacher-n.yaml", nc=3, verbose=False), student)
    d = ext.nn.tasks.load_model_yaml("hsd-teacher-n.yaml")
    d["reg_max"] = 8
    check_teacher(HSDModel(d, nc=6, verbose=False), student)  # other bins: box distillation instead of LD
    assert not uses_ld(HSDModel(d, nc=6, verbose=False), student)
    assert uses_ld(HSDModel("hsd-teacher-n.yaml", nc=6, verbose=False), student)
    d = ext.nn.tasks.load_model_yaml("hsd-teacher-n.yaml")
    d["head"][-1][0] = d["head"][-1][0][1:]  # P4, P5 only: strides differ
    with pytest.raises(ValueError, match="strides"):
        check_teacher(HSDModel(d, nc=6, verbose=False), student)


def test_ld_weight_is_in_the_papers_units():
    """ld_weight 0.25 against the paper's FD weight 0.25 becomes Ultralytics' dfl gain (1.5 by default, 3 at dfl=3)."""
    student = HSDModel("hsd-n.yaml", nc=3, verbose=False)
    student.args = SimpleNamespace(imgsz=64, dis=0.0)  # what Ultralytics' DistillationModel reads
    model = LDDistillationModel(HSDModel("hsd-teacher-n.yaml", nc=3, verbose=False), student)
    for dfl, gain in ((1.5, 1.5), (3.0, 3.0), (0.0, 0.0)):
        student.args = {"ld_weight": 0.25, "ld_T": 10.0, "dfl": dfl}
        assert model._ld_args() == (pytest.approx(gain), 10.0, 0.0)


def test_a_direct_regression_student_distils_from_a_distribution_teacher(hsd_tiny_run, fault_tiny, tiny, tmp_path):
    d = {k: v for k, v in ext.nn.tasks.load_model_yaml("hsd-n.yaml").items() if k != "yaml_file"}
    d["reg_max"] = 1
    YAML.save(tmp_path / "hsd-direct.yaml", d)
    model = ext.HSD(str(tmp_path / "hsd-direct.yaml"))
    model.train(data=fault_tiny, distill_model=str(hsd_tiny_run / "weights" / "best.pt"), ld_cls=0.5,
                project=str(tmp_path), name="kd1", **tiny)
    with open(model.trainer.save_dir / "results.csv") as f:
        row = next(csv.DictReader(f))
    assert float(row["train/ld_loss"]) > 0  # the box-distillation term, in LD's column
    assert float(row["train/clskd_loss"]) > 0  # the class-logit KL (ld_cls), in its own column
    # the progress bar's header (11 characters a column) keeps every loss name a word of its own
    assert set(model.trainer.loss_names) <= set(model.trainer.progress_string().split())


def test_gated_distillation_trains_and_gates(teacher_pt, tmp_path, fault_tiny):
    """A run with ld_gate=True trains; on one batch of it, with the same model, the gate drops the LD terms at the
    anchors where the teacher is not ahead: the gated term is smaller than the ungated one, and not zero (the teacher
    is ahead at some anchors)."""
    s = ext.HSD("hsd-n.yaml")
    s.train(data="fault-synth-tiny", distill_model=teacher_pt, ld_gate=True, project=str(tmp_path), name="g",
            epochs=1, imgsz=64, batch=4, workers=0, device="cpu", plots=False, exist_ok=True)
    row = next(csv.DictReader(open(s.trainer.save_dir / "results.csv")))
    assert s.trainer.args.ld_gate is True and math.isfinite(float(row["train/ld_loss"]))
    model = unwrap_model(s.trainer.model)
    model.train()
    model.loss(s.trainer.preprocess_batch(next(iter(s.trainer.train_loader))))  # one step: head outputs, fg anchors
    weight, T, _ = model._ld_args()
    ld = {}
    for gate in (True, False):
        model.student_model.args.ld_gate = gate
        ld[gate] = model.kd_terms(weight, T, 0.0)[0].item()
    assert 0 < ld[True] < ld[False]


def test_ld_epochs_stops_distillation_after_n_epochs(teacher_pt, tmp_path, fault_tiny):
    """ld_epochs=1: epoch 1 has its LD and class-KL terms, epoch 2 none (the ground truth alone); the trainer hands
    each epoch to the distillation model."""
    s = ext.HSD("hsd-n.yaml")
    s.train(data="fault-synth-tiny", distill_model=teacher_pt, ld_epochs=1, ld_cls=0.5, project=str(tmp_path),
            name="e", epochs=2, imgsz=64, batch=4, workers=0, device="cpu", plots=False, exist_ok=True)
    first, second = csv.DictReader(open(s.trainer.save_dir / "results.csv"))
    assert float(first["train/ld_loss"]) > 0 and float(first["train/clskd_loss"]) > 0
    assert float(second["train/ld_loss"]) == 0 and float(second["train/clskd_loss"]) == 0
    assert unwrap_model(s.trainer.model).epoch == 1


def test_vlr_distillation_adds_ld_on_the_region_around_the_foreground(teacher_pt, tmp_path, fault_tiny):
    """A run with ld_vlr trains; on one batch of it the VLR adds to the LD column exactly the IoU-weighted LD sum
    over the region the criterion draws (outside the student's foreground), and nothing with ld_vlr=0."""
    from ext.losses import region_distillation

    s = ext.HSD("hsd-n.yaml")
    s.train(data="fault-synth-tiny", distill_model=teacher_pt, ld_vlr=0.25, project=str(tmp_path), name="v",
            epochs=1, imgsz=64, batch=4, workers=0, device="cpu", plots=False, exist_ok=True)
    row = next(csv.DictReader(open(s.trainer.save_dir / "results.csv")))
    assert math.isfinite(float(row["train/ld_loss"]))
    model = unwrap_model(s.trainer.model)
    model.train()
    model.loss(s.trainer.preprocess_batch(next(iter(s.trainer.train_loader))))
    crit = model.student_model.criterion
    region = crit.valuable_region()
    assert region.shape == crit.fg_mask.shape and (region > 0).any() and not (region[crit.fg_mask] > 0).any()
    weight, T, _ = model._ld_args()
    with_vlr = model.kd_terms(weight, T, 0.0)[0]
    model.student_model.args.ld_vlr = 0.0
    without = model.kd_terms(weight, T, 0.0)[0]
    n = len(model.feats_idx) - 1
    s_out = model.decouple_outputs(model._student_feats[n], branch="one2many")
    t_out = model.decouple_outputs(model._teacher_feats[n], branch="one2many")
    gain = 0.25 * float(model.student_model.args.dfl) / 0.25
    want = region_distillation(s_out, t_out, region, 16, T, gain)
    torch.testing.assert_close(with_vlr - without, want.reshape(()), rtol=1e-4, atol=1e-6)
    assert want.item() > 0
