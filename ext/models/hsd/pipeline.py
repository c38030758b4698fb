"""`python train_hsd.py [key=value ...]`: teacher (unless `distill_model` is given), then the distilled student,
started from the teacher's backbone where the two share it (unless `pretrained` is given), then both validated and
compared in one table."""

from __future__ import annotations

import re
from pathlib import Path

from ultralytics.nn.tasks import load_checkpoint
from ultralytics.utils import LOGGER

from ...nn.tasks import load_model_yaml
from ...keys import parse_args
from ..report import model_row, print_table, script_defaults, where
from .model import HSD

# relative projects are made absolute below; `python train_*.py help` prints these
DEFAULTS = script_defaults(HSD, "fault-synth", epochs=30, project="runs/hsd")


def teacher_yaml(student: str) -> str:
    """The teacher YAML of the same backbone and scale as a student YAML name (`hsd-s.yaml`, `hsd-paper-s.yaml` ->
    `hsd-teacher-s.yaml`, `hsd-yolo26-s.yaml` -> `hsd-teacher-yolo26-s.yaml`); `hsd-teacher-n.yaml` for any other
    name."""
    m = re.fullmatch(r"hsd(?:-paper)?(-yolo26)?-?([nsmlx])?\.ya?ml", Path(student).name)
    return f"hsd-teacher{(m and m.group(1)) or ''}-{(m and m.group(2)) or 'n'}.yaml"


def same_backbone(student: str, teacher_pt: str) -> bool:
    """Whether a student YAML and a teacher checkpoint have the same backbone rows at the same depth and width, so
    that every backbone tensor of the teacher fits the student (HSD's teacher and student share the design)."""
    s, t = load_model_yaml(student), load_checkpoint(teacher_pt)[0].yaml

    def size(d: dict) -> list:  # [depth, width] of the YAML's scale
        return d.get("scales", {}).get(d.get("scale"), [d.get("depth_multiple"), d.get("width_multiple")])[:2]

    return s["backbone"] == t.get("backbone") and size(s) == size(t)


def main(argv: list[str] | dict) -> dict:
    """Run the pipeline; return {'teacher': path, 'student': path, 'rows': [...]}."""
    args = {**DEFAULTS, **(argv if isinstance(argv, dict) else parse_args(argv))}
    args["project"] = str(Path(args["project"]).resolve())  # runs/... under the current folder, as printed
    student_cfg = args.pop("model")
    teacher_pt = args.pop("distill_model", None)
    if not teacher_pt:
        LOGGER.info(f"train_hsd: training the teacher {teacher_yaml(student_cfg)} first")
        teacher = HSD(teacher_yaml(student_cfg))
        teacher.train(**args, name="teacher")
        teacher_pt = str(teacher.trainer.best)
    student = HSD(student_cfg)
    if "pretrained" not in args and same_backbone(student_cfg, teacher_pt):
        LOGGER.info("train_hsd: the student starts from the teacher's backbone (pretrained=<teacher>)")
        args["pretrained"] = teacher_pt
    student.train(**args, name="student", distill_model=teacher_pt)
    student_pt = str(student.trainer.best)
    keys = ("FDR@0.5", "MDR@0.5", "CDR@0.5", "CDR@0.7", "CDR@0.9")  # all thresholds: image_level.csv
    rows = [model_row("teacher", teacher_pt, args, keys), model_row("student (LD)", student_pt, args, keys)]
    best = rows[0]["mAP50-95"]
    for r in rows:  # HSD's promise is the teacher's accuracy at the student's cost
        r["share of teacher"] = f"{r['mAP50-95'] / best:.0%}" if best > 0 else "-"
    print_table(rows)
    where(Path(student.trainer.save_dir), teacher=teacher_pt)
    return {"teacher": teacher_pt, "student": student_pt, "rows": rows}
