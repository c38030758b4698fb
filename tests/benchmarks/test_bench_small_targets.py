"""The small-targets benchmark's rows: what each trains (model file, training keys, run name) and its table (the
training itself is benchmarked, not tested)."""

from pathlib import Path

import pytest
from ultralytics.utils import YAML

import ext

import small_targets


def evaluation(per_class: dict):
    """A stand-in for `evaluate` (ext.models.report) that validates nothing: mAP50-95 0.2, CDR@0.5 0.5, `per_class`."""
    return lambda best, args, *a, **k: {"mAP50-95": 0.2, "extra": {"CDR@0.5": 0.5}, "per_class": per_class,
                                        "names": list(per_class)}


def test_rows_train_the_variants_they_name(monkeypatch, tmp_path):
    calls, validated = [], []
    monkeypatch.setattr(small_targets, "train_or_reuse",
                        lambda cfg, args, name: calls.append((cfg, args, name)) or name)
    fake = evaluation({"Clips": 0.1, "Sleepers": 0.3})
    monkeypatch.setattr(small_targets, "evaluate", lambda *a, **k: validated.append((a, k)) or fake(*a, **k))
    out = tmp_path / "t.md"
    rows = ["HSD student, 16 bins, uniform", "HSD student, 16 bins, prior", "GJADet, reg_max 1, end2end",
            "YOLO11n + prior"]
    record = tmp_path / "record.json"
    small_targets.main(["--rows", *rows, "--seeds", "3", "--project", str(tmp_path / "p"), "--out", str(out),
                        "--record", str(record)])
    (u_cfg, u_args, u_name), (p_cfg, p_args, p_name), (e_cfg, _, e_name), (y_cfg, y_args, _) = calls
    assert (u_cfg, u_args["dfl_prior"], u_name) == ("hsd-paper-n.yaml", 0.0, "HSDstudent_16bins_uniform-s3")
    assert p_cfg == "hsd-paper-n.yaml" and "dfl_prior" not in p_args and p_args["seed"] == 3  # the YAML's own 2.0
    d = YAML.load(e_cfg)  # a YAML written with the overrides, scale kept
    assert (d["reg_max"], d["end2end"], d["scale"], d["family"]) == (1, True, "n", "gjadet")
    assert e_name == "GJADet_reg_max1_end2end-s3"
    assert y_cfg == "yolo11n.yaml" and y_args["dfl_prior"] == 2.0
    text = out.read_text()
    assert "| HSD student, 16 bins, uniform | 0.200 ± 0.000 | 0.100 (0.100) | 0.300 (0.300) | 0.50 | 0.200 | 1 |" in text
    (best, args, family), val = validated[0]  # every row by the HSD validator, into <project>/<data>/val
    assert (best, args["imgsz"], family) == ("HSDstudent_16bins_uniform-s3", 320, ext.HSD)
    assert val == {"project": str(tmp_path / "p" / "rail-tracks"), "name": "val", "exist_ok": True}
    # a new checkout without the run folders rebuilds the table from the record, training nothing
    monkeypatch.setattr(small_targets, "train_or_reuse", lambda *a: pytest.fail("trained although recorded"))
    out.unlink()
    small_targets.main(["--rows", *rows, "--seeds", "3", "--project", str(tmp_path / "q"), "--out", str(out),
                        "--record", str(record), "--report-only"])
    assert out.read_text().split("\n")[4:] == text.split("\n")[4:]  # the same table (the command line differs)
    assert "HSDstudent_16bins_uniform-s3|batch=16,epochs=60,imgsz=320" in record.read_text()


@pytest.fixture
def calls(monkeypatch) -> list:
    """(model file, training keys, run name) of every run the benchmark asks for; nothing is trained."""
    calls = []
    monkeypatch.setattr(small_targets, "train_or_reuse",
                        lambda cfg, args, name: calls.append((cfg, args, name)) or f"/runs/{name}/weights/best.pt")
    monkeypatch.setattr(small_targets, "evaluate", evaluation({"Clips": 0.1}))
    return calls


def test_distilled_rows_learn_from_the_teacher_run_of_their_seed(calls, tmp_path):
    small_targets.main(["--rows", "HSD student, 16 bins, prior, dis + LD", "--seeds", "1", "2",
                        "--project", str(tmp_path / "p"), "--out", str(tmp_path / "t.md"),
                        "--record", str(tmp_path / "r.json")])
    teachers = [c for c in calls if c[0] == "hsd-teacher-n.yaml"]
    students = [c for c in calls if c[0] == "hsd-paper-n.yaml"]
    assert [name for *_, name in teachers] == ["HSDteacher_16bins_prior-s1", "HSDteacher_16bins_prior-s2"]
    for seed, (_, args, name) in zip((1, 2), students):
        assert name == f"HSDstudent_16bins_prior_dis+LD-s{seed}" and args["seed"] == seed
        assert args["distill_model"] == f"/runs/HSDteacher_16bins_prior-s{seed}/weights/best.pt"
        assert (args["dis"], args["ld_weight"], args["ld_T"]) == (6.0, 0.25, 15.0) and "teacher" not in args
    assert all("distill_model" not in args for _, args, _ in teachers)


def test_inherit_rows_start_the_student_from_the_teacher(calls, tmp_path):
    small_targets.main(["--rows", "HSD student, shortcuts, inherit", "HSD student, shortcuts, inherit + LD",
                        "HSD student, shortcuts, inherit + gated LD", "--seeds", "0", "--project", str(tmp_path / "p"), "--out", str(tmp_path / "t.md"),
                        "--record", str(tmp_path / "r.json")])
    students = {name: args for cfg, args, name in calls if cfg == "hsd-n.yaml"}
    teacher = "/runs/HSDteacher_16bins_prior-s0/weights/best.pt"
    alone, with_ld = students["HSDstudent_shortcuts_inherit-s0"], students["HSDstudent_shortcuts_inherit+LD-s0"]
    assert alone["pretrained"] == teacher and "distill_model" not in alone  # the backbone only, no distillation
    assert with_ld["pretrained"] == with_ld["distill_model"] == teacher and with_ld["ld_weight"] == 0.25
    assert not {"inherit", "distill", "teacher"} & (set(alone) | set(with_ld))
    gated = students["HSDstudent_shortcuts_inherit+gatedLD-s0"]
    assert gated["ld_gate"] is True and gated["distill_model"] == teacher and "ld_gate" not in with_ld


def test_class_kd_rows_add_the_class_logit_kl_with_and_without_ld(calls, tmp_path):
    small_targets.main(["--rows", "HSD student, shortcuts, inherit + class KD",
                        "HSD student, shortcuts, inherit + LD + class KD", "--seeds", "0",
                        "--project", str(tmp_path / "p"), "--out", str(tmp_path / "t.md"),
                        "--record", str(tmp_path / "r.json")])
    students = {name: args for cfg, args, name in calls if cfg == "hsd-n.yaml"}
    teacher = "/runs/HSDteacher_16bins_prior-s0/weights/best.pt"
    alone = students["HSDstudent_shortcuts_inherit+classKD-s0"]
    with_ld = students["HSDstudent_shortcuts_inherit+LD+classKD-s0"]
    assert alone["pretrained"] == alone["distill_model"] == with_ld["distill_model"] == teacher
    assert (alone["ld_cls"], alone["ld_weight"]) == (1.0, 0.0)
    assert (with_ld["ld_cls"], with_ld["ld_weight"]) == (1.0, 0.25)


def test_yolo26_backbone_rows_inherit_from_the_teacher_of_the_same_backbone(calls, tmp_path):
    small_targets.main(["--rows", "HSD student, YOLO26 backbone, inherit + LD", "GJADet, YOLO26 backbone",
                        "--seeds", "0", "--project", str(tmp_path / "p"), "--out", str(tmp_path / "t.md"),
                        "--record", str(tmp_path / "r.json")])
    by_cfg = {cfg: (args, name) for cfg, args, name in calls}
    assert by_cfg["hsd-teacher-yolo26-n.yaml"][1] == "HSDteacher_YOLO26backbone-s0"
    student, name = by_cfg["hsd-yolo26-n.yaml"]
    teacher = "/runs/HSDteacher_YOLO26backbone-s0/weights/best.pt"
    assert name == "HSDstudent_YOLO26backbone_inherit+LD-s0"
    assert student["pretrained"] == student["distill_model"] == teacher and student["ld_weight"] == 0.25
    gjadet, _ = by_cfg["gjadet-yolo26-n.yaml"]
    assert not {"cls_loss", "gjr_beta"} & set(gjadet)  # the package's default loss


def test_head_swap_rows_keep_the_sources_and_swap_only_the_head(tmp_path):
    rows = {label: (cfg, yaml) for label, cfg, yaml, _ in small_targets._head_swaps()}
    assert rows["HSD student, shortcuts"] == ("hsd-n.yaml", {})  # the default student, as it is
    for label, (own, module) in {"HSD student, HKN + Detect": ("hsd-paper.yaml", "Detect"),
                                 "HSD student, PAFPN + HKH": ("hsd-teacher.yaml", "HKH")}.items():
        cfg, yaml = rows[label]
        d = YAML.load(small_targets.model_file(cfg, yaml, tmp_path))
        original = YAML.load(Path(ext.__file__).parent.parent / "cfg" / "models" / own)["head"]
        assert d["head"][:-1] == original[:-1] and d["head"][-1][0] == original[-1][0]  # same rows and sources
        assert d["head"][-1][2] == module and d["scale"] == "n" and d["dfl_prior"] == 2.0


def test_unknown_row_is_refused(capsys):
    with pytest.raises(SystemExit):
        small_targets.main(["--rows", "HSD studnet, 16 bins, prior"])
    assert "unknown rows" in capsys.readouterr().err


def test_concentric_iou_against_ultralytics_box_iou():
    """The start IoU of --sizes: a w x h box and a square of the same centre, as Ultralytics' box_iou gives it."""
    import numpy as np
    import torch
    from ultralytics.utils.metrics import box_iou

    wh = np.array([[11.0, 25.0], [248.0, 40.0], [30.0, 30.0]])
    for side in (8.0, 32.0, 480.0):
        box = torch.tensor(np.c_[-wh / 2, wh / 2], dtype=torch.float64)
        square = torch.tensor([[-side / 2, -side / 2, side / 2, side / 2]], dtype=torch.float64)
        expected = box_iou(box, square)[:, 0].numpy()
        assert np.allclose(small_targets.concentric_iou(wh[:, 0], wh[:, 1], side), expected, atol=1e-6)


@pytest.mark.parametrize("label, residual, shortcut", [("HSD student, HKN residual only", True, False),
                                                        ("HSD student, HKH shortcut only", False, True)])
def test_shortcut_ablation_rows_switch_one_shortcut_off(label, residual, shortcut, tmp_path):
    from ext.nn.modules.heads import ShortcutTower
    from ext.nn.tasks import DetectorModel

    _, cfg, yaml, _ = next(r for r in small_targets._head_swaps() if r[0] == label)
    m = DetectorModel(small_targets.model_file(cfg, yaml, tmp_path), nc=2, verbose=False)
    full = DetectorModel("hsd-n.yaml", nc=2, verbose=False)
    assert m.model[10].residual is residual and any(isinstance(x, ShortcutTower) for x in m.modules()) is shortcut
    assert m.state_dict().keys() == full.state_dict().keys()  # the same layers: shortcuts add no parameters


def test_box_kd_row_distils_a_direct_regression_student_from_the_teacher_of_its_seed(monkeypatch, tmp_path):
    calls = []
    monkeypatch.setattr(small_targets, "train_or_reuse",
                        lambda cfg, args, name: calls.append((cfg, args, name)) or f"/r/{name}/best.pt")
    monkeypatch.setattr(small_targets, "evaluate", evaluation({"Clips": 0.1}))
    small_targets.main(["--rows", "HSD student, shortcuts, reg_max 1, box KD", "--seeds", "1", "--project",
                        str(tmp_path / "p"), "--out", str(tmp_path / "t.md"), "--record", str(tmp_path / "r.json")])
    (t_cfg, _, t_name), (s_cfg, s_args, s_name) = calls
    assert (t_cfg, t_name) == ("hsd-teacher-n.yaml", "HSDteacher_16bins_prior-s1")
    assert YAML.load(s_cfg)["reg_max"] == 1 and s_name == "HSDstudent_shortcuts_reg_max1_boxKD-s1"
    assert s_args["distill_model"] == f"/r/{t_name}/best.pt" and s_args["ld_weight"] == 0.25
