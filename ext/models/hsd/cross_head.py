"""Cross-head predictions for CrossKD (Wang et al., CVPR 2024), `ld_cross=True`.

LD pulls the student's own box distributions towards the teacher's while its detection loss pulls them towards the
ground truth: where the two disagree (a teacher behind its student at some anchors), the student's outputs sit
between them. CrossKD moves the distillation off the student's outputs: the student's tower features (the input of
each predictor) go through the teacher's last tower layer and predictor, frozen, and the KD terms compare those
cross-head predictions with the teacher's own. Their gradients reach the student's towers, neck and backbone through
the teacher's layers; the student's predictors learn from the ground truth alone.

Per level i, with the student's box tower S_box[i] (its layers before the predictor) and the teacher's T_box[i]:

    cross_boxes[i]  = T_box[i][-1](T_box[i][-2](S_box[i][:-1](x_i)))     (the same for classes with cv3)

so the student's tower width must be the input width of the teacher's last tower layer at every level (true of the
package's pairs: hsd-n / hsd-teacher-n both 64); `check_cross` names each level where it is not. The cross-head
predictions have the teacher's bins, so LD always applies when the teacher has box distributions.
"""

from __future__ import annotations

import torch
from torch import nn
from ultralytics.nn.modules import Detect

from ...nn.modules.heads import ShortcutTower


def tower_features(tower: nn.Sequential, x: torch.Tensor) -> torch.Tensor:
    """(B, C_in, H, W) -> (B, C, H, W): a tower's layers before its predictor (the last layer)."""
    return tower.features(x) if isinstance(tower, ShortcutTower) else tower[:-1](x)


def _in_channels(m: nn.Module) -> int:
    """Input channels of a layer: those of its first Conv2d."""
    return next(c for c in m.modules() if isinstance(c, nn.Conv2d)).in_channels


def check_cross(student: Detect, teacher: Detect) -> None:
    """Raise ValueError naming every level where the student's towers cannot feed the teacher's last layers."""
    if student.nl != teacher.nl:
        raise ValueError(f"ld_cross: the student has {student.nl} levels, the teacher {teacher.nl}")
    if min(len(t) for t in [*teacher.cv2, *teacher.cv3, *student.cv2, *student.cv3]) < 2:
        raise ValueError("ld_cross: a head without tower layers (only predictors) has no features to cross")
    diffs = [f"level {i} {name}: student tower width {_in_channels(s[-1])}, teacher layer input {_in_channels(t[-2])}"
             for name, ss, tt in (("box", student.cv2, teacher.cv2), ("cls", student.cv3, teacher.cv3))
             for i, (s, t) in enumerate(zip(ss, tt)) if _in_channels(s[-1]) != _in_channels(t[-2])]
    if diffs:
        raise ValueError("ld_cross needs the student's tower widths at the teacher's last tower layer: "
                         + "; ".join(diffs))


def cross_head(student: Detect, teacher: Detect, feats: list[torch.Tensor]) -> dict[str, torch.Tensor]:
    """The cross-head predictions of the student's head inputs `feats` (level i: (B, C_i, H_i, W_i)).

    Returns {"boxes": (B, 4 * teacher.reg_max, A), "scores": (B, nc, A)}, A = sum H_i W_i, in the head's layout.
    """
    b = feats[0].shape[0]
    boxes, scores = [], []
    for x, s_box, s_cls, t_box, t_cls in zip(feats, student.cv2, student.cv3, teacher.cv2, teacher.cv3):
        boxes.append(t_box[-1](t_box[-2](tower_features(s_box, x))).view(b, 4 * teacher.reg_max, -1))
        scores.append(t_cls[-1](t_cls[-2](tower_features(s_cls, x))).view(b, teacher.nc, -1))
    return {"boxes": torch.cat(boxes, -1), "scores": torch.cat(scores, -1)}
