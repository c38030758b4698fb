"""`train_hsd.py` and `train_gjadet.py` end to end on tiny data: weights, the comparison table, the paths."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from ultralytics.utils import YAML

REPO = Path(__file__).resolve().parents[2]


def test_train_hsd_pipeline(tmp_path, fault_tiny):
    from ext.models.hsd.pipeline import main

    out = main(["data=fault-synth-tiny", "epochs=1", "imgsz=64", "batch=4", "workers=0", "plots=False",
                f"project={tmp_path}"])
    assert Path(out["teacher"]).is_file() and Path(out["student"]).is_file()
    assert [r["model"] for r in out["rows"]] == ["teacher", "student (LD)"]
    for r in out["rows"]:
        assert {"params", "GFLOPs@64", "mAP50", "mAP50-95", "CDR@0.5", "CDR@0.9", "MDR@0.5"} <= set(r)
    assert out["rows"][1]["params"] < 0.6 * out["rows"][0]["params"]
    teacher, student = (r["mAP50-95"] for r in out["rows"])
    assert out["rows"][1]["share of teacher"] == (f"{round(100 * student / teacher)}%" if teacher > 0 else "-")
    # the student started from the teacher's backbone (the same design), as its run's arguments say
    assert YAML.load(Path(out["student"]).parents[1] / "args.yaml")["pretrained"] == out["teacher"]


def test_train_gjadet_script_rejects_bad_key():
    r = subprocess.run([sys.executable, str(REPO / "train_gjadet.py"), "cls_los=gjr"], capture_output=True,
                       text=True, timeout=120, cwd=REPO)
    assert r.returncode != 0 and "cls_loss" in (r.stderr + r.stdout)


def test_train_gjadet_pipeline(tmp_path, crash_tiny):
    from ext.models.gjadet.pipeline import main

    out = main(["data=crash-synth-tiny", "epochs=1", "imgsz=64", "batch=4", "workers=0", "plots=False",
                f"project={tmp_path}"])
    assert Path(out["weights"]).is_file()
    assert {"AP_rare", "AP_frequent", "AP_small", "mAP50-95"} <= set(out["rows"][0])


def test_same_backbone_of_student_and_teacher(tmp_path):
    import torch

    from ext.models.hsd.pipeline import same_backbone
    from ext.nn.tasks import DetectorModel

    teacher = tmp_path / "teacher.pt"
    torch.save({"model": DetectorModel("hsd-teacher-n.yaml", verbose=False)}, teacher)
    assert same_backbone("hsd-n.yaml", str(teacher)) and same_backbone("hsd-paper-n.yaml", str(teacher))
    assert not same_backbone("hsd-s.yaml", str(teacher))  # wider: no tensor fits
    assert not same_backbone("yolo11n.yaml", str(teacher))
    assert not same_backbone("hsd-yolo26-n.yaml", str(teacher))  # another backbone
    torch.save({"model": DetectorModel("hsd-teacher-yolo26-n.yaml", verbose=False)}, teacher)
    assert same_backbone("hsd-yolo26-n.yaml", str(teacher)) and not same_backbone("hsd-n.yaml", str(teacher))


def test_teacher_of_a_student_keeps_its_scale():
    from ext.models.hsd.pipeline import teacher_yaml

    students = ("hsd.yaml", "hsd-s.yaml", "hsd-paper-s.yaml", "cfg/hsd-paper.yaml", "my.yaml", "hsd-yolo26-s.yaml",
                "hsd-yolo26.yaml")
    assert [teacher_yaml(s)[len("hsd-teacher"):] for s in students] == [
        "-n.yaml", "-s.yaml", "-s.yaml", "-n.yaml", "-n.yaml", "-yolo26-s.yaml", "-yolo26-n.yaml"]
