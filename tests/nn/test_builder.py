"""The YAML builder: parity with Ultralytics on its own YAMLs, and every YAML of ours at every scale."""

from __future__ import annotations

from copy import deepcopy
from pathlib import Path

import pytest
import torch
import ultralytics.nn.tasks as ut
from ultralytics.nn.tasks import DetectionModel, yaml_model_load

from ext.nn.tasks import DetectorModel, load_model_yaml, our_builder
from ext.paths import models_dir

OUR_YAMLS = sorted(models_dir().glob("*.yaml"))


@pytest.mark.parametrize("name", ["yolov8n.yaml", "yolo11n.yaml", "yolo26n.yaml", "yolo11s.yaml"])
def test_ultralytics_yaml_parity(name):
    """Ultralytics' YAMLs build through our builder into exactly Ultralytics' layers (names, shapes, counts)."""
    theirs, ours = DetectionModel(name, verbose=False), DetectorModel(name, verbose=False)
    a, b = theirs.state_dict(), ours.state_dict()
    assert list(a) == list(b)
    assert all(a[k].shape == b[k].shape for k in a)
    assert [type(m).__name__ for m in theirs.model] == [type(m).__name__ for m in ours.model]


def _ultralytics_detection_yamls() -> list[str]:
    """Every model YAML Ultralytics ships whose head is a plain detection head (Detect, v10Detect), by its own rows."""
    import ultralytics
    from ultralytics.utils import YAML

    root = Path(ultralytics.__file__).parent / "cfg" / "models"
    return sorted(str(p.relative_to(root)) for p in root.rglob("*.yaml") if YAML.load(p)["head"][-1][2] in DETECT)


DETECT = {"Detect", "v10Detect"}


@pytest.mark.parametrize("rel", _ultralytics_detection_yamls())
def test_every_ultralytics_detection_yaml_builds_as_in_ultralytics(rel, monkeypatch):
    """Inside `our_builder` (what `DetectorModel` builds under), each is built by Ultralytics' own parse_model,
    untouched (called once, with the dict as loaded), into the same layers, parameter count and save list."""
    import ultralytics

    d = yaml_model_load(str(Path(ultralytics.__file__).parent / "cfg" / "models" / rel))
    theirs, theirs_save = ut.parse_model(deepcopy(d), 3, verbose=False)
    calls, original = [], ut.parse_model

    def spy(d, ch, verbose=True):
        calls.append(deepcopy(d))
        return original(d, ch, verbose)

    monkeypatch.setattr(ut, "parse_model", spy)
    with our_builder():
        ours, ours_save = ut.parse_model(deepcopy(d), 3, verbose=False)
    assert calls == [d] and ours_save == theirs_save
    assert [type(m).__name__ for m in ours] == [type(m).__name__ for m in theirs]
    assert sum(p.numel() for p in ours.parameters()) == sum(p.numel() for p in theirs.parameters())


def test_yolov10_builds_through_ext():
    """The case that failed when every YAML went through our builder (v10Detect's arguments)."""
    theirs, ours = DetectionModel("yolov10n.yaml", verbose=False), DetectorModel("yolov10n.yaml", verbose=False)
    assert sum(p.numel() for p in ours.parameters()) == sum(p.numel() for p in theirs.parameters())
    assert type(ours.model[-1]).__name__ == "v10Detect"


def test_our_yamls_use_our_builder(monkeypatch):
    """A YAML of ours goes to our `parse_model`, which hands each row that is not ours to Ultralytics' own
    `parse_model` (one row after its source placeholders) and builds only ours itself."""
    import ext.nn.builder as builder

    whole, rows, original = [], [], builder.ultralytics_parse_model
    monkeypatch.setattr(ut, "parse_model", lambda d, ch, verbose=True: whole.append(d) or original(d, ch, verbose))
    monkeypatch.setattr(builder, "ultralytics_parse_model", lambda d, ch, verbose=True: rows.append(
        deepcopy(d["backbone"])) or original(d, ch, verbose))
    d = load_model_yaml("hsd-n.yaml")
    DetectorModel(d, verbose=False)
    assert not whole
    delegated = {r[-1][2] for r in rows if r[-1][2] != "nn.BatchNorm2d"}  # the last row is the one built
    yaml_rows = d["backbone"] + d["head"]
    # the Index rows of this YAML read HKN's list of outputs: ours to build (that output's width)
    assert delegated == {r[2] for r in yaml_rows if builder.our_module(r[2]) is None} - {"Index"}
    built = [b[:-2] if b[-1][2] == "nn.BatchNorm2d" else b[:-1] for b in rows]
    assert all(r[2] == "Index" and r[3][1] == 0 for b in built for r in b)  # the rest: source placeholders


def test_unknown_module_names_the_row():
    """A misspelt module in a YAML of ours: one KeyError naming the module and the row, before Ultralytics'
    `globals()` lookup would fail with the bare name."""
    d = load_model_yaml("hsd-n.yaml")
    d["backbone"][1][2] = "Cnov"
    with pytest.raises(KeyError, match="unknown module 'Cnov' in model YAML row 1"):
        DetectorModel(d, verbose=False)


def _yamls_covering_every_ultralytics_module() -> list[str]:
    """Few of the model YAMLs Ultralytics ships (every task; none that downloads weights) that together name every
    module any of them names: the smallest file first, then whichever adds a module not yet named."""
    import ultralytics
    from ultralytics.utils import YAML

    root = Path(ultralytics.__file__).parent / "cfg" / "models"
    files = sorted((p for p in root.rglob("*.yaml") if "cls-resnet" not in p.stem), key=lambda p: p.stat().st_size)
    named, chosen = set(), []
    for p in files:
        d = YAML.load(p)
        modules = {str(r[2]) for r in d["backbone"] + d["head"]}
        if modules - named:
            named |= modules
            chosen.append(str(p.relative_to(root)))
    return sorted(chosen)


@pytest.mark.parametrize("rel", _yamls_covering_every_ultralytics_module())
def test_our_parse_model_builds_ultralytics_rows_as_ultralytics(rel):
    """Our `parse_model` (row by row through Ultralytics' own) gives, for Ultralytics YAMLs that name every module
    Ultralytics' YAMLs name, the layers Ultralytics' `parse_model` gives: the same classes, save list and, from the
    same seed, the same weights (the placeholder, marker and meta-device probe rows draw no random numbers)."""
    import ultralytics

    from ext.nn.builder import parse_model

    d = yaml_model_load(str(Path(ultralytics.__file__).parent / "cfg" / "models" / rel))
    torch.manual_seed(0)
    theirs, theirs_save = ut.parse_model(deepcopy(d), 3, verbose=False)
    torch.manual_seed(0)
    ours, ours_save = parse_model(deepcopy(d), 3, verbose=False)
    assert ours_save == theirs_save
    assert [type(m).__name__ for m in ours] == [type(m).__name__ for m in theirs]
    assert [(m.i, m.f, m.np) for m in ours] == [(m.i, m.f, m.np) for m in theirs]
    a, b = theirs.state_dict(), ours.state_dict()
    assert list(a) == list(b) and all(torch.equal(a[k], b[k]) for k in a)
    head = theirs[-1]
    if hasattr(type(head), "legacy"):
        assert type(ours[-1]).legacy == type(head).legacy


def _cases():
    for path in OUR_YAMLS:
        for scale in load_model_yaml(path).get("scales", {"": None}):
            yield pytest.param(path, scale, id=f"{path.stem}-{scale}")


@pytest.mark.parametrize("path,scale", list(_cases()))
def test_our_yaml_builds_and_runs(path, scale):
    """Each YAML of cfg/models builds at each of its scales and runs forward at 64 px, in train and eval mode."""
    d = load_model_yaml(path)
    d["scale"] = scale
    model = DetectorModel(d, nc=3, verbose=False)
    x = torch.rand(2, 3, 64, 64)
    model.train()
    feats = model(x)
    feats = feats.get("one2many", feats)["feats"] if isinstance(feats, dict) else feats
    assert [f.shape[-1] for f in feats] == [8, 4, 2]  # strides 8, 16, 32
    model.eval()
    y = model(x)[0]
    assert y.shape[0] == 2 and y.shape[-1] == 8 * 8 + 4 * 4 + 2 * 2
    assert model.model[-1].stride.tolist() == [8.0, 16.0, 32.0]


def test_scales_grow_with_width():
    """Our modules scale with width like the built-ins: the s student has about 4x the n student's parameters."""
    n = sum(p.numel() for p in DetectorModel("hsd-n.yaml", verbose=False).parameters())
    s = sum(p.numel() for p in DetectorModel("hsd-s.yaml", verbose=False).parameters())
    assert 3.0 < s / n < 4.5


def test_default_student_is_the_paper_student_with_shortcuts():
    """hsd.yaml and hsd-paper.yaml build the same layers (keys, shapes, seeded weights); only the default adds its
    depthwise-separable blocks to their inputs (HKN residual, HKH ShortcutTower)."""
    from ext.nn.modules import HKN
    from ext.nn.modules.heads import ShortcutTower

    torch.manual_seed(0)
    default = DetectorModel("hsd-n.yaml", nc=3, verbose=False)
    torch.manual_seed(0)
    paper = DetectorModel("hsd-paper-n.yaml", nc=3, verbose=False)
    a, b = default.state_dict(), paper.state_dict()
    assert list(a) == list(b) and all(torch.equal(a[k], b[k]) for k in a)
    neck = lambda m: next(x for x in m.model if isinstance(x, HKN))  # noqa: E731
    assert neck(default).residual and not neck(paper).residual
    assert all(isinstance(t, ShortcutTower) for t in (*default.model[-1].cv2, *default.model[-1].cv3))
    assert not any(isinstance(t, ShortcutTower) for t in (*paper.model[-1].cv2, *paper.model[-1].cv3))
    x = torch.rand(1, 3, 64, 64)
    default.eval(), paper.eval()
    with torch.no_grad():
        before = default(x)[0]
        neck(default).residual = False  # the switches are the only difference: off, the outputs are the paper's
        for t in (*default.model[-1].cv2, *default.model[-1].cv3):
            t.__class__ = torch.nn.Sequential
        assert not torch.equal(before, paper(x)[0]) and torch.equal(default(x)[0], paper(x)[0])


def test_scale_from_name_and_unknown_model():
    assert load_model_yaml("gjadet-m.yaml")["scale"] == "m"
    assert load_model_yaml("hsd-teacher-s.yaml")["scale"] == "s"
    assert load_model_yaml("yolo11n.yaml")["scale"] == "n"
    with pytest.raises(FileNotFoundError, match="hsd"):
        load_model_yaml("no-such-model.yaml")
