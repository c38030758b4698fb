"""Checkpoints pickle every class by module and name, so a class moved or renamed breaks every best.pt saved before:
each class path a checkpoint names resolves in this tree, and the plain family's model class loads under its old
name (`ext.nn.tasks.ExtDetectionModel`, renamed `DetectorModel`)."""

from __future__ import annotations

import importlib
import pickletools
import zipfile

import torch
from ultralytics import YOLO
from ultralytics.nn.tasks import load_checkpoint

import ext
from ext.nn.tasks import DetectorModel


def pickled_classes(path) -> set[tuple[str, str]]:
    """The (module, name) pairs of the globals that a torch checkpoint's pickle refers to."""
    with zipfile.ZipFile(path) as z:
        data = z.read(next(n for n in z.namelist() if n.endswith("data.pkl")))
    found, strings = set(), []
    for op, arg, _ in pickletools.genops(data):
        if op.name in ("SHORT_BINUNICODE", "BINUNICODE", "UNICODE"):
            strings.append(arg)
        elif op.name == "STACK_GLOBAL":
            found.add((strings[-2], strings[-1]))
        elif op.name == "GLOBAL":
            found.add(tuple(arg.split(" ", 1)))
    return found


def test_every_class_a_checkpoint_names_is_at_its_path(hsd_tiny_run):
    best = hsd_tiny_run / "weights" / "best.pt"
    ours = sorted((m, n) for m, n in pickled_classes(best) if m.split(".")[0] == "ext")
    assert ("ext.nn.tasks", "HSDModel") in ours and any(m.startswith("ext.nn.modules") for m, _ in ours)
    assert [(m, n) for m, n in ours if not hasattr(importlib.import_module(m), n)] == []
    assert isinstance(YOLO(str(best)).model, ext.HSD.model_class)


def test_a_checkpoint_of_the_old_class_name_loads(tmp_path):
    model = DetectorModel("yolo11n.yaml", nc=2, verbose=False)
    path = tmp_path / "old.pt"
    DetectorModel.__qualname__ = DetectorModel.__name__ = "ExtDetectionModel"  # pickled as before the rename
    try:
        torch.save({"model": model.half(), "train_args": {}}, path)
    finally:
        DetectorModel.__qualname__ = DetectorModel.__name__ = "DetectorModel"
    assert ("ext.nn.tasks", "ExtDetectionModel") in pickled_classes(path)
    loaded = load_checkpoint(str(path))[0]
    assert type(loaded) is DetectorModel
    x = torch.rand(1, 3, 64, 64)
    assert torch.allclose(loaded.float().eval()(x)[0], model.float().eval()(x)[0])
