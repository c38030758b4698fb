"""The GJADet ablation's rows (what each trains, under which run name) and its record of finished runs (the
training itself is benchmarked, not tested)."""

import pytest

import ext
import gjadet_ablation


@pytest.fixture
def calls(monkeypatch) -> list:
    """(model file, training keys, run name) of every run asked for; nothing is trained, exported or timed."""
    calls = []
    monkeypatch.setattr(gjadet_ablation, "train_or_reuse",
                        lambda cfg, args, name: calls.append((cfg, args, name)) or f"/runs/{name}/weights/best.pt")
    monkeypatch.setattr(gjadet_ablation, "evaluate", lambda best, args, family, **val: {
        "mAP50-95": 0.4 if family is ext.GJADet and val["name"] == "val" else -1.0, "precision": 0.5,
        "extra": {"AP_rare": 0.3 if "EQFL" in best else 0.2, "AP_common": float("nan"), "AP_small": 0.1},
        "per_class": {"point": 0.6, "wheel": 0.2}})
    monkeypatch.setattr(gjadet_ablation, "export", lambda cfg, imgsz, tmp: (cfg,))
    monkeypatch.setattr(gjadet_ablation, "measure", lambda paths, imgsz, runs: {c: 2.0 if "26" in c else 1.0
                                                                                  for c in paths})
    return calls


def test_rows_are_trained_in_the_order_asked_and_recorded(calls, tmp_path):
    out, record = tmp_path / "t.md", tmp_path / "r.json"
    argv = ["--longtail", "--data", "crash-synth-500", "--seeds", "0", "1", "--rows", "GJADet + EQFL", "YOLO26n",
            "--project", str(tmp_path / "p"), "--out", str(out), "--record", str(record)]
    gjadet_ablation.main(argv)
    assert [(cfg, name) for cfg, _, name in calls] == [
        ("gjadet-n.yaml", "GJADet+EQFL-s0"), ("yolo26n.yaml", "YOLO26n-s0"),
        ("gjadet-n.yaml", "GJADet+EQFL-s1"), ("yolo26n.yaml", "YOLO26n-s1")]
    assert calls[0][1]["cls_loss"] == "eqfl" and calls[1][1]["cls_loss"] == "bce" and calls[2][1]["seed"] == 1
    text = out.read_text()
    assert "| GJADet + EQFL | 1.00 | 0.400 ± 0.000 | 0.500 ± 0.000 | 0.300 ± 0.000 | nan | 0.100 ± 0.000 " \
           "| 0.400, 0.400 | 0.300, 0.300 | 2 |" in text
    assert "| YOLO26n | 2.00 |" in text and "| GJADet + BCE |" not in text
    # a new checkout without the run folders rebuilds the same table from the record, training nothing
    calls.clear()
    out.unlink()
    gjadet_ablation.main(argv[:-6] + ["--project", str(tmp_path / "q"), "--out", str(out), "--record", str(record)])
    assert calls == [] and out.read_text().split("\n")[4:] == text.split("\n")[4:]
    assert "YOLO26n-s1|batch=8,epochs=30,imgsz=320,nbs=8" in record.read_text()
    # --report-only trains nothing, also where a run is missing
    gjadet_ablation.main(argv[:-6] + ["--project", str(tmp_path / "q"), "--out", str(tmp_path / "e.md"),
                                      "--record", str(tmp_path / "empty.json"), "--report-only"])
    assert calls == [] and not (tmp_path / "e.md").exists()


def test_unknown_row_is_refused_with_the_valid_labels(capsys):
    with pytest.raises(SystemExit):
        gjadet_ablation.main(["--longtail", "--rows", "YOLO27n"])
    err = capsys.readouterr().err
    assert "unknown rows ['YOLO27n']" in err and "'GJADet + EQFL'" in err


def test_the_equal_step_row_trains_its_own_epochs_under_its_own_record_key(calls, tmp_path):
    record = tmp_path / "r.json"
    gjadet_ablation.main(["--longtail", "--seeds", "0", "--rows", "GJADet + BCE, rfs=1.0, 21 epochs", "GJADet + BCE",
                          "--project", str(tmp_path / "p"), "--out", str(tmp_path / "t.md"), "--record", str(record)])
    (cfg, args, name), (_, other, _) = calls
    assert (cfg, name, args["epochs"], args["rfs"], other["epochs"]) == (
        "gjadet-n.yaml", "GJADet+BCE,rfs=1.0,21epochs-s0", 21, 1.0, 30)
    text = record.read_text()
    assert "GJADet+BCE,rfs=1.0,21epochs-s0|batch=8,epochs=21," in text and "GJADet+BCE-s0|batch=8,epochs=30," in text


def two_class_set(tmp_path):
    """4 training images: class 0 twice in each, class 1 once in one: 9 boxes; class 1 in 25 % of the images, so at
    rfs=1 its image repeats sqrt(1 / 0.25) = 2 times and an epoch holds 3 + 2 = 5 images."""
    labels = tmp_path / "labels" / "train"
    labels.mkdir(parents=True)
    for i in range(4):
        rows = ["0 0.2 0.2 0.1 0.1", "0 0.6 0.6 0.1 0.1"] + (["1 0.5 0.5 0.2 0.2"] if i == 0 else [])
        (labels / f"im{i}.txt").write_text("\n".join(rows) + "\n")
    data = tmp_path / "d.yaml"
    data.write_text(f"path: {tmp_path}\ntrain: images/train\nval: images/train\nnames:\n  0: point\n  1: wheel\n")
    return data


def test_counts_report_against_counts_by_hand(tmp_path):
    data = two_class_set(tmp_path)
    out = tmp_path / "c.md"
    gjadet_ablation.main(["--counts", "--data", str(data), "--out", str(out)])
    text = out.read_text()
    assert "4 training images, 9 boxes." in text
    assert "| point | 8 | 88.9% | frequent | 4 | 100.0% | 1.00 |" in text
    assert "| wheel | 1 | 11.1% | common | 1 | 25.0% | 2.00 |" in text
    assert "25% of the images repeat (factor up to 2.00); an epoch holds 5 images for 4 (1.25x the steps)" in text


def test_an_equal_step_row_trains_the_epochs_of_the_plain_rows_steps(calls, tmp_path):
    """two_class_set at rfs=1: 5 images an epoch for 4; at batch 2, 3 steps an epoch for 2, so 30 plain epochs (60
    steps) are 20 rfs epochs."""
    data, record = two_class_set(tmp_path), tmp_path / "r.json"
    gjadet_ablation.main(["--data", str(data), "--epochs", "30", "--batch", "2", "--seeds", "0", "--rows",
                          "plain base + BCE, rfs=1.0, equal steps", "plain base + BCE", "--project",
                          str(tmp_path / "p"), "--out", str(tmp_path / "t.md"), "--record", str(record)])
    (cfg, args, name), (_, plain, _) = calls
    assert (cfg, name, args["epochs"], args["rfs"], plain["epochs"]) == (
        "gjadet-pafpn-n.yaml", "plainbase+BCE,rfs=1.0,equalsteps-s0", 20, 1.0, 30)
    assert "equal_steps" not in args and "plainbase+BCE,rfs=1.0,equalsteps-s0|batch=2,epochs=20," in record.read_text()


def test_one_part_rows_train_the_adaptive_neck_with_only_that_part_on(calls, tmp_path, monkeypatch):
    from ext.nn.tasks import load_model_yaml

    monkeypatch.chdir(tmp_path)  # the variants' YAMLs are written under runs/gjadet-neck of the working folder
    gjadet_ablation.main(["--seeds", "0", "--rows", "adaptive neck, scale attention only + BCE",
                          "adaptive neck, task attention only + BCE", "--project", str(tmp_path / "p"),
                          "--out", str(tmp_path / "t.md"), "--record", str(tmp_path / "r.json")])
    assert [(cfg, args["cls_loss"], args["rfs"]) for cfg, args, _ in calls] == [
        ("runs/gjadet-neck/gjadet-adaptive-scale.yaml", "bce", 0.0),
        ("runs/gjadet-neck/gjadet-adaptive-task.yaml", "bce", 0.0)]
    for (cfg, _, _), on in zip(calls, ([False, True, False], [False, False, True])):
        rows = [r for r in load_model_yaml(tmp_path / cfg)["head"] if r[2] == "AdaptiveAttention"]
        assert rows and all(r[3] == on for r in rows)
