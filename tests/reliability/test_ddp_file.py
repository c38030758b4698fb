"""DDP readiness without a GPU: Ultralytics' DDP entry file rebuilds and trains each of our trainers.

For multi-GPU training Ultralytics' `generate_ddp_file` pickles the trainer's class, arguments, built model and
callbacks (cloudpickle) and writes a script that rebuilds the trainer from them and calls `train()`; torchrun runs
it once per GPU. Here the same file, generated for a 1-epoch tiny CPU run, is run with plain `python file` and
RANK / LOCAL_RANK / WORLD_SIZE unset, so it trains in one process: it must import, unpickle our classes, rebuild the
trainer from the parent's callbacks (without registering ours twice) and finish.
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("cloudpickle")

import ext  # noqa: E402
from ext.models.detector import ExtTrainer  # noqa: E402
from ext.models.gjadet.train import GJADetTrainer  # noqa: E402
from ext.models.hsd.train import HSDTrainer  # noqa: E402

CASES = {  # trainer, its Model, model YAML, data fixture, arguments of its own
    "ExtTrainer": (ExtTrainer, ext.Detector, "hsd-n.yaml", "fault_tiny", {}),
    "HSDTrainer": (HSDTrainer, ext.HSD, "hsd-n.yaml", "fault_tiny", {}),
    "GJADetTrainer": (GJADetTrainer, ext.GJADet, "gjadet-n.yaml", "crash_tiny", {"cls_loss": "gjr"}),  # its log
}


def ddp_file(trainer_class, model_class, yaml: str, overrides: dict) -> tuple:
    """Build the trainer as `Model.train` does before it launches DDP, and write Ultralytics' DDP entry file."""
    from ultralytics.utils.dist import generate_ddp_file

    model = model_class(yaml)
    trainer = trainer_class(overrides={**overrides, "model": yaml, "mode": "train"}, _callbacks=model.callbacks)
    trainer.model = trainer.get_model(cfg=model.model.yaml, verbose=False)
    return trainer, Path(generate_ddp_file(trainer))


def test_ddp_entry_files_build_and_train(request, tiny, tmp_path):
    """One entry file per trainer, run one after another as `__main__` by a fresh interpreter (one start-up for
    the three; the first one unpickles our classes before anything of ext is imported)."""
    trainers, files = {}, []
    try:
        for name, (trainer_class, model_class, yaml, fixture, own) in CASES.items():
            overrides = {**tiny, "data": request.getfixturevalue(fixture), "project": str(tmp_path), "name": name,
                         **own}
            trainers[name], file = ddp_file(trainer_class, model_class, yaml, overrides)
            files.append(file)
        rebuild = 'state["trainer"](cfg=cfg, overrides=state["args"], _callbacks=state["callbacks"])'
        assert rebuild in files[0].read_text()  # what the workers do with our trainer class
        env = {k: v for k, v in os.environ.items() if k not in {"RANK", "LOCAL_RANK", "WORLD_SIZE"}}
        run = "import runpy, sys\nfor f in sys.argv[1:]:\n    runpy.run_path(f, run_name='__main__')"
        r = subprocess.run([sys.executable, "-c", run, *map(str, files)], env=env, capture_output=True, text=True,
                           timeout=300)
        assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    finally:
        for file in files:
            file.unlink(missing_ok=True)
            file.with_suffix(".pt").unlink(missing_ok=True)
    for name, trainer in trainers.items():
        rows = list(csv.DictReader(open(trainer.save_dir / "results.csv")))
        assert len(rows) == 1 and "train/skipped_steps" in rows[0], name
    # GJADet's epoch-end callback ran once, not once per registration (header + 1 epoch)
    assert len(list(csv.reader(open(trainers["GJADetTrainer"].save_dir / "gjr_ratio.csv")))) == 2


def test_callbacks_of_a_rebuilt_trainer_are_not_doubled(fault_tiny, tiny, tmp_path):
    """What the DDP file does, in-process: a trainer built from another's callbacks holds ours once."""
    first = GJADetTrainer(overrides={**tiny, "data": fault_tiny, "project": str(tmp_path), "model": "gjadet-n.yaml"})
    again = GJADetTrainer(overrides=dict(vars(first.args)), _callbacks=first.callbacks)
    for event, fns in again.callbacks.items():
        assert len(fns) == len(set(fns)), event
