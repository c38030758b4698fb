"""benchmarks/gpu_check.py, the check prepared for a GPU machine: its help and its refusal without CUDA, on the CPU."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).parents[2] / "benchmarks" / "gpu_check.py"


def run(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}  # no CUDA device, also on a GPU machine
    return subprocess.run([sys.executable, str(SCRIPT), *args], env=env, capture_output=True, text=True, timeout=120)


def test_help_works_without_a_gpu():
    r = run("--help")
    assert r.returncode == 0, r.stderr
    for option in ("--out", "--epochs", "--fault-data", "--crash-data"):
        assert option in r.stdout


def test_without_cuda_it_exits_2_with_the_message_and_writes_nothing(tmp_path):
    import gpu_check

    out = tmp_path / "gpu.md"
    r = run("--out", str(out), "--project", str(tmp_path / "runs"))
    assert r.returncode == 2 and gpu_check.NO_CUDA in r.stderr
    assert not out.exists() and not (tmp_path / "runs").exists()


def test_table_and_last_epoch_reading(tmp_path):
    """The table's columns and the reading of a results.csv (no training: rows as the runs would give them)."""
    import gpu_check

    header = "epoch,train/box_loss,train/cls_loss,metrics/mAP50-95(B),train/skipped_steps"
    (tmp_path / "results.csv").write_text(f"{header}\n1,1.5,2.0,0.1,0\n2,1.2,nan,0.25,3\n")
    last = gpu_check.last_epoch(tmp_path)
    assert last == {"losses_finite": False, "skipped_steps": 3, "mAP50-95": 0.25}
    text = gpu_check.table([{"row": "gjadet-gjr", "device": "0,1", "amp": True, "DDP": True, "seconds": 9.5, **last}],
                           ["DDP rows skipped: fewer than 2 CUDA devices"])
    header, _, row = text.splitlines()[:3]
    assert header.split("|")[1:6] == [" row ", " device ", " amp ", " DDP ", " seconds "]
    assert "| gjadet-gjr | 0,1 | True | True | 9.5 | False | 3 | 0.25 |" in row and "DDP rows skipped" in text
