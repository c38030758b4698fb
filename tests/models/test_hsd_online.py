"""HSD in one run (`distill_model=<teacher YAML>`): the heavy branch shares the student's backbone, trains on its own
loss, teaches the student online, and is not in the saved student."""

from __future__ import annotations

import csv

import pytest
import torch
from ultralytics import YOLO
from ultralytics.cfg import get_cfg

import ext
from ext.models.hsd.distill import LDDistillationModel
from ext.models.hsd.online import OnlineDistillationModel, restore_heavy_branch, run_layers
from ext.nn.tasks import HSDModel


def online(**keys) -> OnlineDistillationModel:
    student = HSDModel("hsd-n.yaml", nc=3, verbose=False)
    student.args = get_cfg(overrides={"imgsz": 64, "dis": 0.0, **keys})  # dis: HSD's default
    return LDDistillationModel(teacher_model="hsd-teacher-n.yaml", student_model=student)  # as the trainer builds it


def batch(n: int = 2) -> dict:
    torch.manual_seed(0)
    boxes = torch.tensor([[0.3, 0.3, 0.2, 0.2], [0.7, 0.6, 0.3, 0.2], [0.5, 0.5, 0.4, 0.4]])
    return {"img": torch.rand(n, 3, 64, 64), "batch_idx": torch.tensor([0.0, 0.0, 1.0]),
            "cls": torch.tensor([[0.0], [1.0], [2.0]]), "bboxes": boxes}


def test_a_yaml_teacher_builds_the_online_model_and_a_checkpoint_the_offline_one():
    m = online()
    assert type(m) is OnlineDistillationModel
    assert OnlineDistillationModel.takes("hsd-teacher-n.yaml") and not OnlineDistillationModel.takes("best.pt")
    assert m.teacher_model is None and m.start == 10  # Ultralytics' freezing and EMA stripping see no teacher


def test_the_backbone_is_shared_and_counted_once():
    m = online()
    student = {id(p) for p in m.student_model.parameters()}
    heavy = list(m.aux_model.parameters())
    assert heavy and not student & {id(p) for p in heavy}  # no backbone tensor in the heavy branch
    neck_head = sum(p.numel() for layer in m.aux_model.model[m.start:] for p in layer.parameters())
    assert sum(p.numel() for p in heavy) == neck_head
    ptrs = [v.data_ptr() for v in m.state_dict().values() if v.numel()]
    assert len(ptrs) == len(set(ptrs))  # each tensor once in the state dict: the EMA updates it once


def test_run_layers_is_the_models_own_forward():
    m = HSDModel("hsd-n.yaml", nc=3, verbose=False).eval()
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        ours, theirs = run_layers(m.model, x, {}), m(x)
    assert torch.equal(ours[0], theirs[0])


def test_gradients_the_heavy_loss_reaches_the_backbone_and_ld_only_the_student():
    m = online(ld_weight=1.0).train()
    loss, items = m.loss(batch())
    assert list(items)[-4:] == ["dis_loss", "ld_loss", "clskd_loss", "aux_loss"] and len(loss) == 7
    assert items["aux_loss"].item() > 0 and items["ld_loss"].item() > 0
    loss[-1].backward(retain_graph=True)  # the heavy branch's own loss
    assert m.student_model.model[0].conv.weight.grad.abs().sum() > 0  # shared backbone
    head = [p for p in m.student_model.model[-1].parameters() if p.requires_grad]
    assert all(p.grad is None or not p.grad.any() for p in head)  # not the student's head (zeros through cat)
    m.zero_grad(set_to_none=True)
    loss[4].backward()  # LD: the teacher's outputs are targets, detached
    assert all(p.grad is None or not p.grad.any() for p in m.aux_model.parameters())
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in head)


def test_aux_weight_scales_the_heavy_loss():
    one, half = (online(aux_weight=w).train().loss(batch())[0][-1] for w in (1.0, 0.5))
    assert half.item() == pytest.approx(one.item() / 2, rel=1e-5)


def test_a_teacher_on_another_backbone_or_dis_is_refused():
    with pytest.raises(ValueError, match="backbone rows and scale"):
        student = HSDModel("hsd-n.yaml", nc=3, verbose=False)
        student.args = get_cfg(overrides={"imgsz": 64, "dis": 0.0})
        LDDistillationModel("hsd-teacher-s.yaml", student)
    with pytest.raises(ValueError, match="dis=0"):
        online(dis=1.0)
    with pytest.raises(ValueError, match="ld_cross=False"):  # CrossKD runs the student through a frozen teacher
        online(ld_cross=True)


def test_restore_heavy_branch_loads_the_saved_weights():
    a, b = online(), online()
    with torch.no_grad():
        for p in a.aux_model.parameters():
            p.add_(1.0)
    restore_heavy_branch(b, {"ema": a})
    for pa, pb in zip(a.aux_model.state_dict().values(), b.aux_model.state_dict().values()):
        assert torch.equal(pa, pb)


def test_one_run_trains_and_saves_the_student_alone(tmp_path, fault_tiny):
    s = ext.HSD("hsd-n.yaml")
    s.train(data="fault-synth-tiny", distill_model="hsd-teacher-n.yaml", project=str(tmp_path), name="o", epochs=1,
            imgsz=64, batch=4, workers=0, device="cpu", plots=False, exist_ok=True)
    row = next(csv.DictReader(open(s.trainer.save_dir / "results.csv")))
    assert float(row["train/aux_loss"]) > 0 and float(row["val/aux_loss"]) == 0
    saved = torch.load(s.trainer.best, weights_only=False)["model"]
    assert type(saved) is HSDModel and not hasattr(saved, "aux_model")
    plain = HSDModel("hsd-n.yaml", nc=6, verbose=False)
    assert sum(p.numel() for p in saved.parameters()) == sum(p.numel() for p in plain.parameters())
    assert len(YOLO(str(s.trainer.best)).predict(torch.rand(1, 3, 64, 64), verbose=False)) == 1
    teacher = YOLO(str(s.trainer.wdir / "teacher.pt"))  # the heavy branch on the student's backbone, a model too
    plain = HSDModel("hsd-teacher-n.yaml", nc=6, verbose=False)
    assert sum(p.numel() for p in teacher.model.parameters()) == sum(p.numel() for p in plain.parameters())
    backbone = [p.float() for p in teacher.model.model[:10].parameters()]
    assert all(torch.equal(a, b.float()) for a, b in zip(backbone, saved.model[:10].parameters()))
    assert len(teacher.predict(torch.rand(1, 3, 64, 64), verbose=False)) == 1


def test_an_unknown_teacher_yaml_stops_before_training(tmp_path, fault_tiny):
    with pytest.raises(FileNotFoundError, match="not found"):
        ext.HSD("hsd-n.yaml").train(data="fault-synth-tiny", distill_model="no-such-teacher.yaml",
                                    project=str(tmp_path), epochs=1, imgsz=64, device="cpu")
