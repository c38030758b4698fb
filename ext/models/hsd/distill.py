"""HSD's localization distillation (LD) on top of Ultralytics' `DistillationModel`.

Ultralytics' `DistillationModel` (used by its trainer whenever `distill_model=teacher.pt` is set) loads the teacher
once, freezes it in eval mode, hooks the Detect heads and adds its score-weighted feature loss (`dis`, column
`dis_loss`). `LDDistillationModel` adds HSD's term (column `ld_loss`):

    ld = ld_weight * (dfl / 0.25) * sum_i w_i * KL(softmax(t_i / T) || softmax(s_i / T)) * T^2 / B

summed over the student's foreground anchors i of the batch (from the student's own task-aligned assignment) and
divided by the number of images B, with the KL averaged over the reg_max bins and the 4 box sides
(`ext.losses.ld_kl`) and w_i the student's detached top class score (as in GFL/LD). Like the LD head that the
HSD code uses, the term is a score-weighted sum over positives, not a mean: it grows with the number of objects,
where the box and DFL terms are normalised by the total target score. Optional `ld_cls` adds a sigmoid KL on the
class logits at the same anchors (mean over them). Both in float32. dfl / 0.25 is Ultralytics' DFL gain over the
paper's FD weight, so that `ld_weight` keeps the paper's meaning, its balance against the distribution loss
(ld_weight 0.25 is a gain of 1.5 at Ultralytics' dfl 1.5).
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

from ...losses import kl_cls, ld_kl
from ...registry import arg


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
    if t.reg_max != s.reg_max:
        diffs.append(f"reg_max: teacher {t.reg_max}, student {s.reg_max}")
    if diffs:
        raise ValueError("distill_model teacher does not match the student: " + "; ".join(diffs))


PAPER_FD_WEIGHT = 0.25  # HSD's loss: L_FC + 2 L_FR + 0.25 L_FD + 0.25 L_KD (REFERENCE.md)


class LDDistillationModel(DistillationModel):
    """Ultralytics' `DistillationModel` plus HSD's localization distillation; reads ld_weight, ld_T, ld_cls.

    `ld_weight` is in the paper's units: it is scaled by dfl / 0.25 (Ultralytics' DFL gain over the paper's FD
    weight), so LD keeps the paper's balance against the distribution loss (gain 1.5 at the defaults).
    """

    def __init__(self, teacher_model: str | Path | nn.Module, student_model: nn.Module):
        if isinstance(teacher_model, (str, Path)):
            teacher_model = load_teacher(teacher_model)
        check_teacher(teacher_model, student_model)
        super().__init__(teacher_model, student_model)

    def _ld_args(self) -> tuple[float, float, float]:
        a = self.student_model.args
        scale = float(arg(a, "dfl") or 0.0) / PAPER_FD_WEIGHT
        return float(arg(a, "ld_weight")) * scale, float(arg(a, "ld_T")), float(arg(a, "ld_cls"))

    def loss(self, batch: dict, preds=None):
        """Ultralytics' student + feature loss, with `ld_loss` appended (zero outside training)."""
        loss, items = super().loss(batch, preds)
        ld = torch.zeros(1, device=loss.device)
        weight, T, w_cls = self._ld_args()
        if self.training and (weight > 0 or w_cls > 0):
            ld = self.ld_loss(weight, T, w_cls)
        items["ld_loss"] = ld.detach()
        return torch.cat([loss, ld * batch["img"].shape[0]]), items

    def ld_loss(self, weight: float, T: float, w_cls: float) -> torch.Tensor:
        """The LD term [1] from the hooked head outputs of the last student/teacher forward and the student's fg."""
        n = len(self.feats_idx) - 1
        s = self.decouple_outputs(self._student_feats[n], branch="one2many")
        t = self.decouple_outputs(self._teacher_feats[n], branch="one2many")
        crit = self.student_model.criterion
        fg = getattr(getattr(crit, "one2many", crit), "fg_mask", None)  # [B, A], set by ext.losses.DetectionLoss
        if fg is None or not fg.any():
            return torch.zeros(1, device=s["boxes"].device)
        return localization_distillation(s, t, fg, _head(self.student_model).reg_max, T, weight, w_cls)


def localization_distillation(
    s: dict, t: dict, fg: torch.Tensor, reg_max: int, T: float, weight: float, w_cls: float = 0.0
) -> torch.Tensor:
    """HSD's LD term [1] per image: weight * sum over fg anchors of (top score * ld_kl) / B (+ w_cls * class KL).

    Args:
        s, t: student / teacher head outputs, {"boxes": [B, 4 * reg_max, A] logits, "scores": [B, C, A] logits}.
        fg: [B, A] bool, the student's foreground anchors.
        reg_max: bins per box side.
        T: temperature; weight: the LD gain (ld_weight * dfl / 0.25); w_cls: ld_cls, weight of the class-logit
            KL (mean over fg anchors).
    """
    b, _, a = s["boxes"].shape
    sd = s["boxes"].permute(0, 2, 1).reshape(b, a, 4, reg_max)[fg]  # [N, 4, R]
    td = t["boxes"].permute(0, 2, 1).reshape(b, a, 4, reg_max)[fg]
    s_cls, t_cls = s["scores"].permute(0, 2, 1)[fg], t["scores"].permute(0, 2, 1)[fg]  # [N, C]
    w = s_cls.detach().float().sigmoid().amax(-1)  # [N] student's top class score
    out = weight * ld_kl(sd, td, T, weight=w).sum() / b
    if w_cls > 0:
        out = out + w_cls * kl_cls(s_cls, t_cls, T).mean()
    return out.reshape(1)


@contextlib.contextmanager
def ld_distillation():
    """Within the block, Ultralytics' trainer builds and rebuilds (on resume) `LDDistillationModel`s."""
    original = utrainer.DistillationModel
    utrainer.DistillationModel = LDDistillationModel
    try:
        yield
    finally:
        utrainer.DistillationModel = original
