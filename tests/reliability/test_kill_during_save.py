"""A run killed while it writes a checkpoint leaves the previous last.pt whole and loadable."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from ultralytics import YOLO

import ext


def test_kill_while_writing_last(tmp_path, fault_tiny, tiny, monkeypatch):
    model = ext.HSD("hsd-n.yaml")
    real_write = Path.write_bytes
    calls = {"n": 0}

    def dying_write(self, data):
        if self.name.startswith("last.pt"):
            calls["n"] += 1
            if calls["n"] == 2:  # the second epoch's checkpoint: write half of it, then the process "dies"
                real_write(self, data[: len(data) // 2])
                raise KeyboardInterrupt
        return real_write(self, data)

    monkeypatch.setattr(Path, "write_bytes", dying_write)
    with pytest.raises(KeyboardInterrupt):
        model.train(data="fault-synth-tiny", project=str(tmp_path), name="k", **{**tiny, "epochs": 3})
    monkeypatch.undo()
    last = Path(model.trainer.save_dir) / "weights" / "last.pt"
    assert torch.load(last, weights_only=False)["epoch"] == 0  # the first epoch's checkpoint, intact
    assert YOLO(str(last)).model is not None
