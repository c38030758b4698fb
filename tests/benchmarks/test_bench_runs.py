"""The record of finished benchmark runs (benchmarks/runs.py)."""

from runs import Record


def test_two_processes_recording_to_one_file_keep_each_others_runs(tmp_path):
    path = tmp_path / "r.json"
    a, b = Record(path), Record(path)  # e.g. seed 0 and seed 1 of one benchmark, one on each core
    a.put("YOLO26n-s0", {"epochs": 30}, {"map": 0.6})
    b.put("YOLO26n-s1", {"epochs": 30}, {"map": 0.5})
    a.put("GJADet-s0", {"epochs": 30}, {"map": 0.7})
    again = Record(path)
    assert again.get("YOLO26n-s0", {"epochs": 30}) == {"map": 0.6}
    assert again.get("YOLO26n-s1", {"epochs": 30}) == {"map": 0.5}
    assert again.get("GJADet-s0", {"epochs": 30}) == {"map": 0.7}
    assert again.get("YOLO26n-s0", {"epochs": 60}) is None  # other settings are another run


def test_a_run_is_finished_at_its_epochs_or_when_training_ended_early(tmp_path):
    """Early stopping (`patience`) ends a run with fewer results.csv rows than epochs; its stripped last.pt (epoch -1)
    says it ended, so it is reused rather than trained again. A run cut short (last.pt mid-training) is not."""
    import torch

    from runs import finished

    w = tmp_path / "run" / "weights"
    w.mkdir(parents=True)
    (w / "best.pt").write_bytes(b"")
    (tmp_path / "run" / "results.csv").write_text("epoch\n" + "".join(f"{i}\n" for i in range(1, 90)))
    torch.save({"epoch": 88}, w / "last.pt")  # cut short at epoch 89 of 100
    assert finished(tmp_path, "run", 89) == str(w / "best.pt") and finished(tmp_path, "run", 100) is None
    torch.save({"epoch": -1}, w / "last.pt")  # stopped early, optimizer stripped
    assert finished(tmp_path, "run", 100) == str(w / "best.pt")
    assert finished(tmp_path, "other", 100) is None
