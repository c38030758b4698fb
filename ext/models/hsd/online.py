"""One-run heterogeneous self-distillation: the teacher trained together with the student, on its backbone.

`distill_model=hsd-teacher-n.yaml` (a model YAML, not a trained .pt) builds `OnlineDistillationModel`: the teacher
YAML's neck and head (the heavy branch, e.g. PAFPN + Detect) run on the student's own backbone outputs, computed once
per step, beside the student's HKN + HKH. One optimizer trains all of it with

    loss = student detection loss + aux_weight * heavy branch's detection loss (column `aux_loss`)
           + LD (or box distillation) and the class KL from the heavy branch's detached outputs to the student's
             (columns `ld_loss`, `clskd_loss`, the weights of offline distillation: ld_weight, ld_T, ld_cls)

so the heavy branch's gradients reach the student only through the shared backbone, and its predictions teach the
student's head online. Ultralytics strips a distillation wrapper to its student when a run ends, so best.pt holds the
student alone; the trainer first writes the heavy branch, with the student's backbone, as `weights/teacher.pt` (a
model in its own right). last.pt of an unfinished run keeps the heavy branch, and `resume=True` restores it.

Ultralytics' feature term `dis` compares the student's neck with a frozen teacher's; against a branch still training
it would pull both, so it is refused here.
"""

from __future__ import annotations

from copy import deepcopy
from pathlib import Path

import torch
from torch import nn
from ultralytics.utils.patches import torch_load

from ...nn.tasks import load_model_yaml
from ...keys import arg
from .distill import LDDistillationModel


def run_layers(layers, x, y: dict):
    """Run Ultralytics model layers from input `x` as `DetectionModel._predict_once` does, reading earlier outputs
    by layer index from `y` ({index: output}) and writing each layer's output into it. Returns the last output."""
    for m in layers:
        if m.f != -1:
            x = y[m.f] if isinstance(m.f, int) else [x if j == -1 else y[j] for j in m.f]
        x = m(x)
        y[m.i] = x
    return x


def heavy_branch(cfg: str, student: nn.Module) -> nn.Module:
    """The model of teacher YAML `cfg` for `student`'s classes and channels, its backbone layers the student's own
    modules (shared parameters).

    Raises:
        ValueError: the YAML's backbone (rows or scale) differs from the student's, so it cannot be shared.
    """
    d = load_model_yaml(cfg)
    prior = float(arg(student.args, "dfl_prior"))
    if prior >= 0:
        d["dfl_prior"] = prior
    mine = student.yaml
    if d["backbone"] != mine.get("backbone") or d.get("scale", "") != mine.get("scale", ""):
        raise ValueError(f"distill_model={cfg}: a teacher trained in the same run shares the student's backbone, "
                         f"so its backbone rows and scale must be the student's ('{mine.get('scale', '')}')")
    ch = mine.get("channels", 3)
    heavy = type(student)(d, ch=ch, nc=student.yaml["nc"], verbose=False)
    for i in range(len(d["backbone"])):
        heavy.model[i] = student.model[i]
    heavy.names, heavy.args = getattr(student, "names", heavy.names), student.args
    return heavy


class _Shared(nn.Identity):
    """Stands in the heavy branch for a backbone layer of the student's (computed there, never called here)."""

    def __init__(self, layer: nn.Module):
        super().__init__()
        self.i, self.f, self.type, self.np = layer.i, layer.f, "shared", 0


class OnlineDistillationModel(LDDistillationModel):
    """The student and a heavy branch on its backbone, trained in one run (module docstring).

    Attributes:
        aux_model: the heavy branch, a model of the teacher YAML whose backbone slots are `_Shared` stand-ins (its
            neck and head are its only parameters, so the EMA and the optimizer see each backbone tensor once).
        start: index of the first layer after the shared backbone.
    """

    @staticmethod
    def takes(teacher_model) -> bool:
        """A model YAML (path or name) as `distill_model`: a teacher to train in this run."""
        return isinstance(teacher_model, (str, Path)) and Path(str(teacher_model)).suffix in {".yaml", ".yml"}

    def __init__(self, teacher_model: str, student_model: nn.Module):
        if float(arg(student_model.args, "dis") or 0.0) > 0:
            raise ValueError(f"dis={student_model.args.dis}: the feature term needs a frozen teacher; "
                             f"with distill_model={teacher_model} (trained in the same run) use dis=0")
        if arg(student_model.args, "ld_cross"):
            raise ValueError(f"ld_cross=True runs the student's features through the teacher's frozen layers; with "
                             f"distill_model={teacher_model} (trained in the same run) use ld_cross=False")
        heavy = heavy_branch(str(teacher_model), student_model)
        trainable = [p.requires_grad for p in student_model.parameters()]
        super().__init__(heavy, student_model)  # checks, hooks on both, projectors (unused: dis is 0)
        for p, was in zip(student_model.parameters(), trainable):  # it froze the teacher: the shared backbone too
            p.requires_grad_(was)
        for t in self.teacher_feats_idx:  # the heavy branch's outputs are read from its own run, not by hooks
            self._clear_feature_hooks(heavy.model[t])
        self._teacher_hooks.clear()
        del self.teacher_model  # Ultralytics freezes and strips `teacher_model`; this branch trains and is kept
        self.teacher_model = None
        self.start = len(heavy.yaml["backbone"])
        for i in range(self.start):
            heavy.model[i] = _Shared(heavy.model[i])
        heavy.requires_grad_(True)
        heavy.model[-1].dfl.requires_grad_(False)  # Ultralytics' fixed DFL read-out
        self.aux_model = heavy

    def teacher(self) -> nn.Module:
        """The heavy branch."""
        return self.aux_model

    def heavy_model(self) -> nn.Module:
        """A standalone copy of the teacher: the heavy branch with copies of the student's backbone layers."""
        heavy = deepcopy(self.aux_model)
        for i in range(self.start):
            heavy.model[i] = deepcopy(self.student_model.model[i])
        heavy.args, heavy.criterion = dict(heavy.args), None  # a namespace or a dict: plain dict, as Ultralytics saves
        return heavy.requires_grad_(False)

    def loss(self, batch: dict, preds=None):
        """[student box, cls, dfl, dis (0), ld, kd_cls, aux] summed by the trainer; the columns as items."""
        if not self.training:  # validation during training: the student's loss, the other columns 0
            loss, items = super().loss(batch, preds)
            items["aux_loss"] = torch.zeros(1, device=loss.device)
            return torch.cat([loss, items["aux_loss"]]), items
        self._student_feats.clear()
        self._teacher_feats.clear()
        y = {}
        feats = run_layers(self.student_model.model[: self.start], batch["img"], y)
        preds = run_layers(self.student_model.model[self.start:], feats, dict(y))  # hooks keep the student's
        heavy_y = dict(y)
        heavy = run_layers(self.aux_model.model[self.start:], feats, heavy_y)
        for level, i in enumerate(self.teacher_feats_idx):
            self._teacher_feats[level] = heavy_y[i]
        loss, items = self.student_model.loss(batch, preds)
        heavy_loss = self.aux_model.loss(batch, heavy)[0].sum() * float(arg(self.student_model.args, "aux_weight"))
        weight, T, w_cls = self._ld_args()
        kd = self.kd_terms(weight, T, w_cls) if self.distils(weight, w_cls) else torch.zeros(2, device=loss.device)
        b = batch["img"].shape[0]
        zero = torch.zeros(1, device=loss.device)
        items.update(dis_loss=zero, ld_loss=kd[:1].detach(), clskd_loss=kd[1:].detach(),
                     aux_loss=(heavy_loss / b).detach().reshape(1))
        return torch.cat([loss, zero, kd * b, heavy_loss.reshape(1)]), items


def save_heavy_branch(best: Path, out: Path) -> Path | None:
    """Write the heavy branch of an online run's checkpoint `best` (before Ultralytics strips it to the student) as a
    standalone teacher checkpoint `out` (the teacher YAML's model with the student's backbone, fp16, loadable with
    `YOLO(out)`); None, and nothing written, when `best` holds no `OnlineDistillationModel`."""
    ckpt = torch_load(best, map_location="cpu")
    wrapper = ckpt.get("ema") or ckpt.get("model")
    if not isinstance(wrapper, OnlineDistillationModel):
        return None
    torch.save({"model": wrapper.heavy_model().half(), "train_args": ckpt.get("train_args"),
                "date": ckpt.get("date"), "version": ckpt.get("version")}, out)
    return out


def restore_heavy_branch(model: nn.Module, ckpt: dict | None) -> None:
    """On resume: load the heavy branch saved in the checkpoint into the rebuilt `OnlineDistillationModel`."""
    saved = getattr((ckpt or {}).get("ema") or (ckpt or {}).get("model"), "aux_model", None)
    if saved is not None and isinstance(model, OnlineDistillationModel):
        model.aux_model.load_state_dict(saved.float().state_dict())
