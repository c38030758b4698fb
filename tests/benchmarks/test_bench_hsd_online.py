"""The one-run HSD benchmark's wiring and table (its training is benchmarked, not tested)."""

import hsd_online


def test_rows_wiring_share_and_time_from_the_runs(monkeypatch, tmp_path):
    calls = []
    scores = {"Teacher": 0.4, "StudentAlone": 0.2, "StudentOneRunOnlineLd": 0.3, "StudentTwoRunsInheritLd": 0.36}
    monkeypatch.setattr(hsd_online, "train_or_reuse", lambda cfg, args, name: calls.append((cfg, args, name)) or name)
    monkeypatch.setattr(hsd_online, "model_row", lambda label, best, args, keys: {
        "params": 7, "mAP50-95": scores[best.split("-")[0]], "CDR@0.5": 1.0})
    seconds = {"Teacher": 50.0, "StudentAlone": 100.0, "StudentOneRunOnlineLd": 150.0, "StudentTwoRunsInheritLd": 90.0}
    monkeypatch.setattr(hsd_online, "train_seconds", lambda best: seconds[best.split("-")[0]])
    out = tmp_path / "t.md"
    hsd_online.main(["--seeds", "0", "--epochs", "5", "--out", str(out), "--record", str(tmp_path / "r.json"),
                     "--rows", "student alone", "student, one run (online LD)", "student, two runs (inherit + LD)"])
    by_name = {name: (cfg, args) for cfg, args, name in calls}
    assert by_name["StudentOneRunOnlineLd-s0"][1]["distill_model"] == "hsd-teacher-n.yaml"
    two = by_name["StudentTwoRunsInheritLd-s0"][1]
    assert two["distill_model"] == two["pretrained"] == "Teacher-s0" and two["epochs"] == 5
    rows = {line.split(" | ")[0][2:]: line.split(" | ") for line in out.read_text().splitlines()[6:]}
    assert rows["student, one run (online LD)"][3:6] == ["75%", "1.00", "1.50"]  # 0.3 / 0.4; 150 s / 100 s
    assert rows["student, two runs (inherit + LD)"][3:6] == ["90%", "1.00", "1.40"]  # (90 + 50) s / 100 s
    trained = len(calls)  # recorded runs are not trained again; --report-only trains nothing
    hsd_online.main(["--seeds", "0", "1", "--epochs", "5", "--out", str(out), "--record", str(tmp_path / "r.json"),
                     "--report-only", "--rows", "student alone"])
    assert len(calls) == trained and "| student alone | 7 | 0.200 ± 0.000 | 50% |" in out.read_text()


def test_the_teacher_is_trained_only_for_rows_that_take_it(monkeypatch, tmp_path):
    """A row that needs no trained teacher (the student alone, twice or three times the epochs) trains no teacher;
    its share column is empty until a teacher of the seed is recorded."""
    calls = []
    monkeypatch.setattr(hsd_online, "train_or_reuse", lambda cfg, args, name: calls.append((name, args["epochs"]))
                        or name)
    monkeypatch.setattr(hsd_online, "model_row", lambda label, best, args, keys: {"params": 7, "mAP50-95": 0.5,
                                                                                 "CDR@0.5": 1.0})
    monkeypatch.setattr(hsd_online, "train_seconds", lambda best: 10.0)
    hsd_online.main(["--seeds", "3", "--epochs", "5", "--out", str(tmp_path / "t.md"), "--record",
                     str(tmp_path / "r.json"), "--rows", "student alone, 2x epochs", "student alone, 3x epochs"])
    assert calls == [("StudentAlone2XEpochs-s3", 10), ("StudentAlone3XEpochs-s3", 15)]
    assert "| student alone, 2x epochs | 7 | 0.500 ± 0.000 | - |" in (tmp_path / "t.md").read_text()


def test_eval_data_validates_on_the_held_out_set_and_is_recorded_apart(monkeypatch, tmp_path):
    """--eval-data: the finished run is reused, validated on the other set, and that figure is recorded under its own
    key (the val split's figure of the same run stays)."""
    calls, validated = [], []
    monkeypatch.setattr(hsd_online, "train_or_reuse", lambda cfg, args, name: calls.append(name) or name)
    monkeypatch.setattr(hsd_online, "model_row", lambda label, best, args, keys: validated.append(args["data"]) or {
        "params": 7, "mAP50-95": 0.5 if args["data"] == "fault-synth" else 0.25, "CDR@0.5": 1.0})
    monkeypatch.setattr(hsd_online, "train_seconds", lambda best: 10.0)
    common = ["--data", "fault-synth", "--seeds", "0", "--epochs", "5", "--record", str(tmp_path / "r.json"),
              "--rows", "student alone"]
    hsd_online.main([*common, "--out", str(tmp_path / "val.md")])
    hsd_online.main([*common, "--out", str(tmp_path / "held.md"), "--eval-data", "fault-synth-holdout"])
    assert validated == ["fault-synth", "fault-synth-holdout"]
    assert "| student alone | 7 | 0.250 ± 0.000 |" in (tmp_path / "held.md").read_text()
    assert "validated on fault-synth-holdout" in (tmp_path / "held.md").read_text()
    hsd_online.main([*common, "--out", str(tmp_path / "val.md"), "--report-only"])
    assert "| student alone | 7 | 0.500 ± 0.000 |" in (tmp_path / "val.md").read_text()


def test_the_recipe_to_its_plateau_takes_the_teacher_of_the_base_epochs(monkeypatch, tmp_path):
    """'student, two runs (inherit + LD), 2x epochs': the teacher of the seed at --epochs, the student at twice them
    from its weights (inherit + LD); the time column counts both runs."""
    calls = []
    monkeypatch.setattr(hsd_online, "train_or_reuse", lambda cfg, args, name: calls.append((cfg, args, name)) or name)
    monkeypatch.setattr(hsd_online, "model_row", lambda label, best, args, keys: {"params": 7, "mAP50-95": 0.5,
                                                                                 "CDR@0.5": 1.0})
    monkeypatch.setattr(hsd_online, "train_seconds", lambda best: 30.0 if best.startswith("Teacher") else 60.0)
    hsd_online.main(["--seeds", "0", "--epochs", "5", "--out", str(tmp_path / "t.md"), "--record",
                     str(tmp_path / "r.json"), "--rows", "student alone", "student, two runs (inherit + LD), 2x epochs"])
    (teacher_cfg, teacher, teacher_name), (cfg, student, name) = calls[-2:]  # after the teacher's and alone's rows
    assert (teacher_cfg, teacher["epochs"], teacher_name) == ("hsd-teacher-n.yaml", 5, "Teacher-s0")
    assert (cfg, student["epochs"], name) == ("hsd-n.yaml", 10, "StudentTwoRunsInheritLd2XEpochs-s0")
    assert student["pretrained"] == student["distill_model"] == "Teacher-s0"
    assert "| student, two runs (inherit + LD), 2x epochs | 7 | 0.500 ± 0.000 | 100% | 1.00 | 1.50 |" in \
        (tmp_path / "t.md").read_text()  # (60 + 30) s / 60 s


def test_patience_reaches_training_and_is_recorded_apart(monkeypatch, tmp_path):
    """--patience 0 trains every run all its epochs (Ultralytics' early stopping off) and is recorded under its own
    key: a run with the default early stopping is not taken for it, and the table says which was used."""
    patience = []
    monkeypatch.setattr(hsd_online, "train_or_reuse", lambda cfg, args, name: patience.append(args["patience"]) or name)
    monkeypatch.setattr(hsd_online, "model_row", lambda label, best, args, keys: {"params": 7, "mAP50-95": 0.5,
                                                                                 "CDR@0.5": 1.0})
    monkeypatch.setattr(hsd_online, "train_seconds", lambda best: 10.0)
    common = ["--seeds", "0", "--epochs", "5", "--record", str(tmp_path / "r.json"), "--rows", "student alone"]
    hsd_online.main([*common, "--out", str(tmp_path / "a.md")])
    hsd_online.main([*common, "--out", str(tmp_path / "b.md"), "--patience", "0"])
    hsd_online.main([*common, "--out", str(tmp_path / "b.md"), "--patience", "0"])  # recorded: not trained again
    assert patience == [100, 0]
    assert "early stopping off" in (tmp_path / "b.md").read_text()
    assert "early stopping after 100 epochs without gain" in (tmp_path / "a.md").read_text()


def test_time_is_against_the_longer_student_alone_when_the_same_epochs_row_is_not_asked(monkeypatch, tmp_path):
    """Without 'student alone', the time column is against the first student-alone row done, named in the header:
    the two-run recipe (teacher 50 s + student 90 s) against the 2x student alone (200 s) is 0.70."""
    seconds = {"Teacher": 50.0, "StudentAlone2XEpochs": 200.0, "StudentTwoRunsInheritLd": 90.0}
    monkeypatch.setattr(hsd_online, "train_or_reuse", lambda cfg, args, name: name)
    monkeypatch.setattr(hsd_online, "model_row", lambda label, best, args, keys: {"params": 7, "mAP50-95": 0.5,
                                                                                 "CDR@0.5": 1.0})
    monkeypatch.setattr(hsd_online, "train_seconds", lambda best: seconds[best.split("-")[0]])
    out = tmp_path / "t.md"
    hsd_online.main(["--seeds", "0", "--epochs", "5", "--out", str(out), "--record", str(tmp_path / "r.json"),
                     "--rows", "teacher", "student alone, 2x epochs", "student, two runs (inherit + LD)"])
    text = out.read_text()
    assert "| time x student alone, 2x epochs |" in text
    assert "| student, two runs (inherit + LD) | 7 | 0.500 ± 0.000 | 100% | 1.00 | 0.70 |" in text


def test_the_student_of_the_2x_teacher_takes_that_teacher_for_weights_share_and_time(monkeypatch, tmp_path):
    """'student, two runs (2x teacher, inherit + LD)': the seed's teacher trained twice the epochs (its own row's
    run), the student at --epochs from its weights; share and time against that teacher (0.4 / 0.5; (60 + 40) s over
    the student alone's 50 s), not the 1x teacher's."""
    calls = []
    scores = {"Teacher": 0.4, "Teacher2XEpochs": 0.5, "StudentAlone": 0.3, "StudentTwoRuns2XTeacherInheritLd": 0.4}
    seconds = {"Teacher": 20.0, "Teacher2XEpochs": 40.0, "StudentAlone": 50.0, "StudentTwoRuns2XTeacherInheritLd": 60.0}
    monkeypatch.setattr(hsd_online, "train_or_reuse", lambda cfg, args, name: calls.append((cfg, args, name)) or name)
    monkeypatch.setattr(hsd_online, "model_row", lambda label, best, args, keys: {
        "params": 7, "mAP50-95": scores[best.split("-")[0]], "CDR@0.5": 1.0})
    monkeypatch.setattr(hsd_online, "train_seconds", lambda best: seconds[best.split("-")[0]])
    out = tmp_path / "t.md"
    hsd_online.main(["--seeds", "0", "--epochs", "5", "--out", str(out), "--record", str(tmp_path / "r.json"),
                     "--rows", "student alone", "teacher, 2x epochs", "student, two runs (2x teacher, inherit + LD)"])
    by_name = {name: (cfg, args) for cfg, args, name in calls}
    assert by_name["Teacher2XEpochs-s0"][0] == "hsd-teacher-n.yaml" and by_name["Teacher2XEpochs-s0"][1]["epochs"] == 10
    cfg, student = by_name["StudentTwoRuns2XTeacherInheritLd-s0"]
    assert (cfg, student["epochs"]) == ("hsd-n.yaml", 5)
    assert student["pretrained"] == student["distill_model"] == "Teacher2XEpochs-s0"
    assert "teacher_row" not in student
    assert "Teacher-s0" not in by_name  # the --epochs teacher is not trained for this row
    assert "| student, two runs (2x teacher, inherit + LD) | 7 | 0.400 ± 0.000 | 80% | 1.00 | 2.00 |" in out.read_text()
