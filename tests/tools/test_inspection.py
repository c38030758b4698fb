"""`fdet inspect` / `ext.tools.inspect_frames`: verdicts from scripted boxes against hand-counted ones, CSVs, the
report (also as a real headless browser shows it), unreadable images, interruption, bad sources, videos."""

import csv
import re
import shutil
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from ultralytics.engine.results import Results

import ext
from ext.tools import inspect_frames

# grey level of a test image (the nearest one) -> its boxes (x1, y1, x2, y2, score, class); fault-synth classes:
# 0 key, 1 key_broken, 2 bolt, 3 bolt_missing, 4 cotter_pin, 5 cotter_pin_missing
SCRIPT = {
    10: [[10, 10, 30, 30, 0.9, 3]],  # fault
    20: [[5, 5, 25, 25, 0.95, 2]],  # a normal part only
    30: [[40, 40, 60, 60, 0.4, 3]],  # a fault box below conf 0.5: normal
    40: [[8, 8, 20, 28, 0.7, 5], [50, 30, 70, 50, 0.6, 3]],  # two faults
}
LAYOUT = {"t1/a.png": 10, "t1/b.png": 20, "t2/c.png": 30, "t2/d.png": 40}
LABELS = {"t1/a.txt": "3 0.3 0.3 0.2 0.2\n", "t1/b.txt": "", "t2/c.txt": "3 0.5 0.5 0.2 0.2\n"}  # d: no file


@pytest.fixture(scope="module")
def scripted(hsd_tiny_run):
    """A real checkpoint whose predict returns the SCRIPT boxes of each image (by its grey level)."""
    model = ext.HSD(hsd_tiny_run / "weights" / "best.pt")
    calls = []

    def predict(img, **kwargs):
        calls.append(kwargs)
        level = min(SCRIPT, key=lambda k: abs(k - float(img.mean())))  # nearest: video coding shifts grey levels
        boxes = torch.tensor(SCRIPT[level], dtype=torch.float32).reshape(-1, 6)
        return [Results(img, path="", names=model.names, boxes=boxes)]

    model.predict = predict
    model.calls = calls
    return model


@pytest.fixture
def frames(tmp_path):
    src, labels = tmp_path / "frames", tmp_path / "labels"
    for rel, level in LAYOUT.items():
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(src / rel), np.full((96, 96, 3), level, np.uint8))
    (src / "t2" / "e.jpg").write_bytes(b"not an image")
    for rel, text in LABELS.items():
        (labels / rel).parent.mkdir(parents=True, exist_ok=True)
        (labels / rel).write_text(text)
    return src, labels


def read_csv(path):
    with open(path) as f:
        return list(csv.DictReader(f))


def test_verdicts_csvs_and_rates(scripted, frames, tmp_path):
    src, labels = frames
    res = inspect_frames(scripted, src, labels=labels, out=tmp_path / "run", imgsz=64, slice=48)
    rows = {r["image"]: r for r in read_csv(res["csv"])}
    assert {k: (r["verdict"], r["train"], r["truth"]) for k, r in rows.items()} == {
        "t1/a.png": ("fault", "t1", "fault"), "t1/b.png": ("normal", "t1", "normal"),
        "t2/c.png": ("normal", "t2", "fault"), "t2/d.png": ("fault", "t2", "normal"),
        "t2/e.jpg": ("unreadable", "t2", "")}
    assert rows["t2/d.png"]["faults"] == "2" and rows["t2/d.png"]["top_fault"] == "cotter_pin_missing 0.700"
    boxes = read_csv(res["faults_csv"])
    assert [(b["image"], b["class"], float(b["x1"])) for b in boxes] == [
        ("t1/a.png", "bolt_missing", 10.0), ("t2/d.png", "cotter_pin_missing", 8.0), ("t2/d.png", "bolt_missing", 50.0)]
    # 4 labelled readable images: a found, b right, c missed, d false: FDR = MDR = 1/4
    assert res["rates"] == {"images": 4, "faulty": 2, "false": 1, "missed": 1, "FDR": 0.25, "MDR": 0.25, "CDR": 0.5}
    assert (res["images"], res["flagged"], res["unreadable"], res["complete"]) == (5, 2, ["t2/e.jpg"], True)
    assert all(c["slice"] == 48 and c["imgsz"] == 64 for c in scripted.calls)  # predict keys pass through
    page = res["report"].read_text()
    assert page.index('data-image="t1/a.png"') < page.index('data-image="t2/d.png"') < page.index('data-image="t1/b.png"')
    assert page.count('class="crop"') == 3 and 'id="partial"' not in page


def test_interrupted_run_leaves_a_partial_report(scripted, frames, tmp_path, monkeypatch):
    src, _ = frames
    predict, seen = scripted.predict, []

    def stop_at_third(img, **kwargs):
        seen.append(1)
        if len(seen) == 3:
            raise KeyboardInterrupt
        return predict(img, **kwargs)

    monkeypatch.setattr(scripted, "predict", stop_at_third)
    with pytest.raises(KeyboardInterrupt):
        inspect_frames(scripted, src, out=tmp_path / "run")
    page = (tmp_path / "run" / "report.html").read_text()
    assert 'id="partial"' in page and "after 2 image(s)" in page and page.count('<div class="card ') == 2
    assert len(read_csv(tmp_path / "run" / "inspection.csv")) == 2


def test_bad_sources_and_models_fail_before_writing(scripted, tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="holds no images"):
        inspect_frames(scripted, tmp_path / "empty", out=tmp_path / "run")
    with pytest.raises(FileNotFoundError, match="not found"):
        inspect_frames(scripted, tmp_path / "nowhere", out=tmp_path / "run")
    with pytest.raises(ValueError, match="not a class of this model"):
        inspect_frames(scripted, tmp_path / "empty", faults=["crack"], out=tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_video_frames_are_one_train(scripted, tmp_path):
    path = tmp_path / "pass_17.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (96, 96))
    for level in (10, 20, 40):
        writer.write(np.full((96, 96, 3), level, np.uint8))
    writer.release()
    res = inspect_frames(scripted, path, out=tmp_path / "run", faults=["bolt_missing"])
    rows = read_csv(res["csv"])
    assert [r["image"] for r in rows] == [f"pass_17/frame_{i:06d}" for i in range(3)]
    assert {r["train"] for r in rows} == {"pass_17"}
    assert [r["verdict"] for r in rows] == ["fault", "normal", "fault"]


def browser() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        if shutil.which(name):
            return shutil.which(name)
    pytest.skip("no headless browser (chromium) on PATH: .ci/run installs Debian's chromium")


def test_report_as_a_browser_shows_it(scripted, frames, tmp_path):
    """Debian's chromium renders the page, runs its script, and the DOM shows what a person sees."""
    exe = browser()
    src, labels = frames
    report = inspect_frames(scripted, src, labels=labels, out=tmp_path / "run")["report"]

    def dom(fragment=""):
        out = subprocess.run([exe, "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom",
                              report.as_uri() + fragment], capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr[-2000:]
        return out.stdout

    page = dom()
    assert re.search(r'id="flagged">2<', page) and re.search(r'id="shown">4<', page)
    first = re.search(r'<div class="card ([a-z]+)" data-classes="[^"]*" data-image="([^"]+)"', page)
    assert first.groups() == ("fault", "t1/a.png")
    assert re.search(r'class="crop"[^>]*data-loaded="1"', page), "no crop image loaded in the browser"
    filtered = dom("#class=cotter_pin_missing")
    assert re.search(r'id="shown">1<', filtered)
    assert filtered.count("hidden") >= 3  # the other three cards are hidden by the filter
    shot = tmp_path / "shot.png"
    subprocess.run([exe, "--headless", "--no-sandbox", "--disable-gpu", "--window-size=1000,800",
                    f"--screenshot={shot}", report.as_uri()], capture_output=True, timeout=120)
    img = cv2.imread(str(shot))
    assert img is not None and img.std() > 10  # a rendered page, not a blank one


def test_cli_inspect(hsd_tiny_run, frames, tmp_path):
    from ext.cli import main

    src, _ = frames
    out = tmp_path / "cli"
    assert main(["inspect", f"model={hsd_tiny_run / 'weights' / 'best.pt'}", f"source={src}", "imgsz=64",
                 "conf=0.0001", f"out={out}"]) == 0
    assert len(read_csv(out / "inspection.csv")) == 5 and (out / "report.html").is_file()
    assert main(["inspect", f"model={hsd_tiny_run / 'weights' / 'best.pt'}", f"source={tmp_path / 'none'}"]) == 2


def test_cli_inspect_bracket_faults_and_run_folder(hsd_tiny_run, frames, tmp_path, monkeypatch):
    """The README's form `faults=[name]` names a class (not the string '[name]'), and `project=`/`name=` choose the
    run folder as `yolo` does (a taken name gets a number, Ultralytics' `increment_path`; `exist_ok=True` reuses it; a relative project lies under
    Ultralytics' runs folder, as `yolo predict` puts it); `out=` with them is refused."""
    from ext.cli import main

    src, labels = frames
    monkeypatch.chdir(tmp_path)
    args = ["inspect", f"model={hsd_tiny_run / 'weights' / 'best.pt'}", f"source={src}", "imgsz=64", "conf=0.0001"]
    reports = tmp_path / "reports"
    assert main([*args, "faults=[bolt_missing]", f"project={reports}", "name=train_0412"]) == 0
    first = reports / "train_0412"
    assert len(read_csv(first / "inspection.csv")) == 5 and (first / "report.html").is_file()
    assert "bolt_missing" in (first / "report.html").read_text()
    assert main([*args, "faults=[bolt_missing,", "cotter_pin_missing]", f"project={reports}", "name=train_0412"]) == 0
    assert (tmp_path / "reports" / "train_0412-2" / "inspection.csv").is_file()
    assert main([*args, f"project={reports}", "name=train_0412", "exist_ok=True"]) == 0
    assert not (tmp_path / "reports" / "train_0412-3").exists()
    assert main([*args, "out=o", "name=n"]) == 2
    from ext.tools import inspect_frames

    model = ext.HSD(hsd_tiny_run / "weights" / "best.pt")
    run = dict(project="rel-reports", name=tmp_path.name, exist_ok=True)
    res = inspect_frames(model, src, imgsz=64, conf=0.0001, **run)
    model.predict(str(src / "t1" / "a.png"), imgsz=64, save=True, verbose=False, **run)
    assert res["csv"].parent == Path(model.predictor.save_dir)  # where `yolo predict project= name=` writes
