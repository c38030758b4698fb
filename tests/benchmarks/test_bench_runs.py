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
