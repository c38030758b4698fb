"""The HSD ablation script's argument check (its training is benchmarked, not tested)."""

import pytest

import ext
import hsd_ablation


def test_hsd_unknown_row_is_refused_with_the_valid_labels(capsys):
    with pytest.raises(SystemExit):
        hsd_ablation.main(["--rows", "student", "studnet + LD"])
    err = capsys.readouterr().err
    assert "unknown rows ['studnet + LD']" in err and "'student + LD'" in err


def test_teacher_epochs_trains_the_teacher_longer_and_names_the_runs(monkeypatch, tmp_path):
    calls = []
    monkeypatch.setattr(hsd_ablation, "train_or_reuse", lambda cfg, args, name: calls.append((cfg, args, name)) or name)
    monkeypatch.setattr(hsd_ablation, "evaluate", lambda best, args, family, **val: {
        "mAP50-95": 0.1 if family is ext.HSD and val["name"] == "val" else -1.0, "extra": {"CDR@0.5": 0.5}})
    monkeypatch.setattr(hsd_ablation, "export", lambda cfg, sz, out: (cfg, {"params": 1, "GFLOPs": 1.0}))
    monkeypatch.setattr(hsd_ablation, "measure", lambda files, sz, runs: {f: 1.0 for f in files})
    out = tmp_path / "t.md"
    hsd_ablation.main(["--rows", "student", "student + LD", "--seeds", "0", "--epochs", "5", "--teacher-epochs", "9",
                       "--out", str(out)])
    (t_cfg, t_args, t_name), (_, s_args, s_name), (_, ld_args, ld_name) = calls
    assert (t_cfg, t_args["epochs"], t_name) == ("hsd-teacher-n.yaml", 9, "teacher-e9-s0")
    assert s_args["epochs"] == ld_args["epochs"] == 5 and s_name == "student-s0"
    assert ld_name == "student+LD-e9-sum-s0" and ld_args["distill_model"] == "teacher-e9-s0"
    text = out.read_text()
    assert "hsd-teacher-n.yaml (9 epochs)" in text
    assert "| 0.100 ± 0.000 | 0.500 ± 0.000 | 0.100 |" in text  # by the HSD validator (ext.models.report.evaluate)
    assert "Command: `python benchmarks/hsd_ablation.py --rows student 'student + LD' --seeds 0" in text


def test_command_line_of_a_run_without_arguments_has_no_trailing_space():
    assert hsd_ablation.command_line("hsd_ablation.py", []) == "python benchmarks/hsd_ablation.py"
