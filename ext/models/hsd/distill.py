"""HSD's localization distillation (LD) on top of Ultralytics' `DistillationModel`, from a trained teacher
(`distill_model=teacher.pt`; a model YAML instead trains the teacher in the same run: `online.py`).

Ultralytics' `DistillationModel` (used by its trainer whenever `distill_model=teacher.pt` is set) loads the teacher
once, freezes it in eval mode, hooks the Detect heads and adds its score-weighted feature loss (`dis`, column
`dis_loss`). `LDDistillationModel` adds HSD's term (column `ld_loss`):

    ld = ld_weight * (dfl / 0.25) * sum_i w_i * KL(softmax(t_i / T) || softmax(s_i / T)) * T^2 / B

summed over the student's foreground anchors i of the batch (from the student's own task-aligned assignment) and
divided by the number of images B, with the KL averaged over the reg_max bins and the 4 box sides
(`ext.losses.ld_kl`) and w_i the student's detached top class score (as in GFL/LD). Like the LD head that the
HSD code uses, the term is a score-weighted sum over positives, not a mean: it grows with the number of objects,
where the box and DFL terms are normalised by the total target score. Optional `ld_cls` adds a sigmoid KL on the
class logits at the same anchors (mean over them), in its own column `clskd_loss`. Both in float32. dfl / 0.25 is
Ultralytics' DFL gain over the paper's FD weight, so that `ld_weight` keeps the paper's meaning, its balance against
the distribution loss (ld_weight 0.25 is a gain of 1.5 at Ultralytics' dfl 1.5).

Where LD is not possible (a direct-regression head, `reg_max: 1`, on either side, or teacher and student with other
bin counts), the same column holds box distillation instead: the teacher's decoded box as a second target at the
student's foreground anchors, weighted by the teacher's detached top class score,

    box_kd = (ld_weight / 0.25) * box * sum_i w_i (1 - GIoU(student box_i, teacher box_i)) / sum_i w_i

the form of Ultralytics' box term (gain `box`, normalised by the total weight) with the teacher's confidence in
place of the target score, so at ld_weight 0.25 it weighs as much as the ground-truth box term. Boxes are compared
as side distances at the same anchor (each head's expected distance per side: the DFL read-out or the raw output).

`ld_gate=True` keeps either box term only at the foreground anchors where the teacher's box overlaps the assigned
ground truth more than the student's (IoU; `teacher_ahead`), so a teacher that is behind its student at some anchors
(an inheriting student soon is: docs/design.md) pulls it only where it is right. The normalisation is unchanged: the
gate removes terms, it does not re-weight the others.

`ld_cross=True` takes both terms on cross-head predictions instead of the student's own outputs (CrossKD,
`cross_head.py`): the student's tower features through the frozen teacher's last tower layer and predictor, so the
distillation shapes the student's features while its predictors learn from the ground truth alone.

`ld_vlr=w` (off at 0) adds LD on the valuable localization region of the LD paper, in the same column: the anchors
around each ground-truth box that the student's assignment leaves negative (`ext.losses.vlr`), each weighted by its
anchor box's IoU with the box, at the gain `w * dfl / 0.25` (the paper: 0.25, as `ld_weight`),

    ld_vlr_term = w * (dfl / 0.25) * sum_i iou_i * KL_i * T^2 / B

on the student's own outputs or, with `ld_cross`, on the cross-head ones; it needs box distributions on both sides.

`ld_epochs=N` keeps both terms (box and class KL) for the first N epochs only (early-stopped distillation, Cho and
Hariharan, ICCV 2019); later epochs learn from the ground truth alone. On rail-tracks it steadies LD but does not beat
inheriting alone (docs/design.md). The trainer hands the epoch over (`LDDistillationModel.epoch`, each epoch start).
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import torch
import ultralytics.engine.trainer as utrainer
from torch import nn
from ultralytics.nn.distill_model import DistillationModel
from ultralytics.nn.modules import Detect
from ultralytics.nn.tasks import load_checkpoint
from ultralytics.utils import LOGGER

from ...losses import box_distillation, kl_cls, localization_distillation, region_distillation, teacher_ahead
from ...keys import arg
from .cross_head import check_cross, cross_head


def load_teacher(path: str | Path) -> nn.Module:
    """Load a teacher checkpoint, with a clear error when the path is missing or is not an Ultralytics checkpoint."""
    p = Path(str(path))
    if not p.is_file():
        raise FileNotFoundError(f"distill_model teacher '{path}' not found: give the path of a trained .pt checkpoint")
    if p.suffix != ".pt":
        raise ValueError(f"distill_model teacher '{path}' is not a .pt checkpoint")
    try:
        return load_checkpoint(p)[0]
    except Exception as e:
        raise ValueError(f"distill_model teacher '{path}' is not a loadable Ultralytics checkpoint: {e}") from e


def _head(model: nn.Module) -> Detect:
    m = model.model[-1]
    if not isinstance(m, Detect):
        raise ValueError(f"{type(model).__name__} has no Detect head to distil from or into")
    return m


def check_teacher(teacher: nn.Module, student: nn.Module) -> None:
    """Raise ValueError naming every difference (classes, strides, reg_max) that makes `teacher` unusable for LD."""
    t, s = _head(teacher), _head(student)
    diffs = []
    if t.nc != s.nc:
        diffs.append(f"classes: teacher nc={t.nc}, student nc={s.nc}")
    else:
        tn, sn = dict(getattr(teacher, "names", {}) or {}), dict(getattr(student, "names", {}) or {})
        default = {i: str(i) for i in range(s.nc)}
        if tn and sn and default not in (tn, sn) and tn != sn:
            diffs.append(f"class names: teacher {tn}, student {sn}")
    if t.stride.tolist() != s.stride.tolist():
        diffs.append(f"strides: teacher {t.stride.tolist()}, student {s.stride.tolist()}")
    if diffs:
        raise ValueError("distill_model teacher does not match the student: " + "; ".join(diffs))


def uses_ld(teacher: nn.Module, student: nn.Module) -> bool:
    """True when both heads have box distributions with the same bins (LD); else box distillation is used."""
    t, s = _head(teacher), _head(student)
    return t.reg_max == s.reg_max > 1


PAPER_FD_WEIGHT = 0.25  # HSD's loss: L_FC + 2 L_FR + 0.25 L_FD + 0.25 L_KD (REFERENCE.md)


class LDDistillationModel(DistillationModel):
    """Ultralytics' `DistillationModel` plus HSD's localization distillation; reads ld_weight, ld_T, ld_cls,
    ld_vlr, ld_gate, ld_epochs (against `epoch`, the 0-based epoch in training, set by the trainer).

    `ld_weight` is in the paper's units: it is scaled by dfl / 0.25 (Ultralytics' DFL gain over the paper's FD
    weight), so LD keeps the paper's balance against the distribution loss (gain 1.5 at the defaults).
    """

    def __new__(cls, teacher_model=None, student_model=None):
        """Ultralytics' trainer builds `DistillationModel(teacher_model=..., student_model=...)`: a subclass whose
        `takes(teacher_model)` is true is built instead (`OnlineDistillationModel` for a model YAML)."""
        for sub in cls.__subclasses__():
            if sub.takes(teacher_model):
                cls = sub
        return super().__new__(cls)

    @staticmethod
    def takes(teacher_model) -> bool:
        """Whether this class is the one for `teacher_model` (a subclass says; this one takes what they leave)."""
        return False

    def __init__(self, teacher_model: str | Path | nn.Module, student_model: nn.Module):
        if isinstance(teacher_model, (str, Path)):
            teacher_model = load_teacher(teacher_model)
        check_teacher(teacher_model, student_model)
        cross = bool(arg(student_model.args, "ld_cross"))
        if cross:
            check_cross(_head(student_model), _head(teacher_model))
        super().__init__(teacher_model, student_model)
        t, st = _head(teacher_model).reg_max, _head(student_model).reg_max
        self.ld = t > 1 if cross else uses_ld(teacher_model, student_model)  # cross-head outputs: the teacher's bins
        self.epoch = 0
        LOGGER.info(f"distillation (teacher reg_max {t}, student reg_max {st}): feature term (dis), "
                    f"{'LD on the box distributions' if self.ld else 'box distillation (GIoU to the teacher boxes)'}"
                    f" (ld_weight), class-logit KL (ld_cls){', on cross-head predictions (ld_cross)' if cross else ''}")
        if float(arg(student_model.args, "ld_vlr") or 0) > 0 and not self.ld:
            LOGGER.warning("ld_vlr needs box distributions with the same bins on both sides: no VLR term in this run")

    def teacher(self) -> nn.Module:
        """The model whose head outputs teach the student."""
        return self.teacher_model

    def _stopped(self) -> bool:
        """Whether `ld_epochs` has ended distillation: the ground truth alone from here (early-stopped)."""
        last = int(arg(self.student_model.args, "ld_epochs") or 0)
        return last > 0 and getattr(self, "epoch", 0) >= last

    def _ld_args(self) -> tuple[float, float, float]:
        a = self.student_model.args
        gain = float(arg(a, "dfl" if self.ld else "box") or 0.0) / PAPER_FD_WEIGHT
        if self._stopped():
            return 0.0, float(arg(a, "ld_T")), 0.0
        return float(arg(a, "ld_weight")) * gain, float(arg(a, "ld_T")), float(arg(a, "ld_cls"))

    def _vlr_gain(self) -> float:
        """The gain of LD on the valuable localization region (`ld_vlr * dfl / 0.25`; 0 when off, stopped by
        `ld_epochs`, or without box distributions)."""
        a = self.student_model.args
        if not self.ld or self._stopped():
            return 0.0
        return float(arg(a, "ld_vlr") or 0.0) * float(arg(a, "dfl") or 0.0) / PAPER_FD_WEIGHT

    def distils(self, weight: float, w_cls: float) -> bool:
        """Whether any distillation term is on this step (LD or box distillation, class KL, VLR)."""
        return weight > 0 or w_cls > 0 or self._vlr_gain() > 0

    def loss(self, batch: dict, preds=None):
        """Ultralytics' student + feature loss, with `ld_loss` (box: LD or box distillation) and `clskd_loss`
        (class-logit KL, `ld_cls`) appended, each its own results.csv column (zero outside training)."""
        loss, items = super().loss(batch, preds)
        kd = torch.zeros(2, device=loss.device)
        weight, T, w_cls = self._ld_args()
        if self.training and self.distils(weight, w_cls):
            kd = self.kd_terms(weight, T, w_cls)
        items["ld_loss"], items["clskd_loss"] = kd[:1].detach(), kd[1:].detach()
        return torch.cat([loss, kd * batch["img"].shape[0]]), items

    def kd_terms(self, weight: float, T: float, w_cls: float) -> torch.Tensor:
        """[box term, class term] from the hooked head outputs of the last student/teacher forward at the
        student's foreground anchors."""
        n = len(self.feats_idx) - 1
        s = self.decouple_outputs(self._student_feats[n], branch="one2many")
        t = self.decouple_outputs(self._teacher_feats[n], branch="one2many")
        crit = self.student_model.criterion
        fg = getattr(getattr(crit, "one2many", crit), "fg_mask", None)  # [B, A], set by ext.losses.DetectionLoss
        zero = torch.zeros(1, device=s["boxes"].device)
        if fg is None or not fg.any():
            return torch.cat([zero, zero])
        student, teacher = _head(self.student_model), _head(self.teacher())
        read_out, bins = (student.dfl, teacher.dfl), student.reg_max
        gate = None
        if weight > 0 and arg(self.student_model.args, "ld_gate"):
            gate = teacher_ahead(s, t, fg, read_out, getattr(crit, "one2many", crit).fg_targets)
        s_cls = s["scores"]
        if arg(self.student_model.args, "ld_cross"):  # CrossKD: the terms on the cross-head predictions
            cross = cross_head(student, teacher, s["feats"])
            s, s_cls = {"boxes": cross["boxes"], "scores": s["scores"]}, cross["scores"]  # LD weights: own scores
            read_out, bins = (teacher.dfl, teacher.dfl), teacher.reg_max
        if weight <= 0:
            box = zero
        elif self.ld:
            box = localization_distillation(s, t, fg, bins, T, weight, gate)
        else:
            box = box_distillation(s, t, fg, read_out, weight, gate)
        vlr = self._vlr_gain()
        if vlr > 0:
            box = box + region_distillation(s, t, getattr(crit, "one2many", crit).valuable_region(), bins, T, vlr)
        cls = zero
        if w_cls > 0:
            cls = w_cls * kl_cls(s_cls.permute(0, 2, 1)[fg], t["scores"].permute(0, 2, 1)[fg], T).mean()
        return torch.cat([box.reshape(1), cls.reshape(1)])


@contextlib.contextmanager
def ld_distillation():
    """Within the block, Ultralytics' trainer builds and rebuilds (on resume) `LDDistillationModel`s."""
    original = utrainer.DistillationModel
    utrainer.DistillationModel = LDDistillationModel
    try:
        yield
    finally:
        utrainer.DistillationModel = original
