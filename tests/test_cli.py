"""`fdet`: key validation like `yolo`, help, data subcommands, and a family picked from the model."""

from __future__ import annotations

import subprocess
import sys

import pytest

from ext.cli import main
from ext.models import family_of


def test_unknown_key_names_closest(capsys):
    assert main(["train", "model=hsd-n.yaml", "epoch=3"]) == 2
    err = capsys.readouterr().err
    assert "'epoch' is not a valid YOLO argument" in err and "epochs" in err


def test_unknown_ext_key_names_closest(capsys):
    assert main(["train", "ld_wieght=0.5"]) == 2
    assert "ld_weight" in capsys.readouterr().err


def test_wrong_type_and_bad_choice(capsys):
    assert main(["train", "ld_T=hot"]) == 2
    assert "ld_T" in capsys.readouterr().err
    assert main(["train", "cls_loss=softmax"]) == 2
    assert "gjr" in capsys.readouterr().err


def test_unknown_mode_and_help(capsys):
    assert main(["fly"]) == 2
    assert "train" in capsys.readouterr().err
    assert main(["help"]) == 0
    out = capsys.readouterr().out
    assert "ld_weight=0.25" in out and "fdet data convert" in out


def test_family_from_yaml():
    import ext

    assert family_of("hsd-n.yaml") is ext.HSD
    assert family_of("hsd-teacher.yaml") is ext.HSD
    assert family_of("gjadet-s.yaml") is ext.GJADet
    assert family_of("yolo11n.yaml") is ext.Detector


def test_data_list_and_bad_key(capsys):
    assert main(["data", "list"]) == 0
    out = capsys.readouterr().out
    assert "fault-synth" in out and "crash-synth" in out
    assert main(["data", "convert", "fromat=voc"]) == 2
    assert "format" in capsys.readouterr().err


def test_console_script_installed():
    """The `fdet` entry point runs as a program (installed by `pip install -e .`)."""
    r = subprocess.run([sys.executable, "-m", "ext.cli", "train", "imgsz=abc", "model=hsd-n.yaml", "batch=x"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "batch" in r.stderr
    pytest.importorskip("shutil").which("fdet") or pytest.skip("fdet not on PATH (package not installed)")
    r = subprocess.run(["fdet", "help"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and "Usage: fdet" in r.stdout


def test_bracket_list_of_bare_words():
    """`faults=[bolt_missing]` (README form) is a list of names; numbers stay numbers; run names stay verbatim."""
    from ext.keys import parse_args, take_tool_keys

    assert take_tool_keys("inspect", ["faults=[bolt_missing]"]) == ({"faults": ["bolt_missing"]}, [])
    assert take_tool_keys("inspect", ["faults=[bolt_missing,", "3]"])[0] == {"faults": ["bolt_missing", 3]}
    assert take_tool_keys("track", ["ref_ids=[3,7]", "pairs=[[3,7]]"])[0] == {"ref_ids": [3, 7], "pairs": [[3, 7]]}
    assert parse_args(["name=[run]"]) == {"name": "[run]"}


def test_help_shows_family_defaults_from_the_trainers(capsys):
    """`fdet help` shows each family's own defaults beside ours, from the trainers' `defaults` (the one place they
    are declared); `fdet help model=...` shows that family's values in place."""
    from ext.models.gjadet.train import GJADetTrainer
    from ext.models.hsd.train import HSDTrainer

    assert main(["help"]) == 0
    lines = {ln.split("=")[0].strip(): ln.strip() for ln in capsys.readouterr().out.splitlines() if "=" in ln}
    for fam, trainer in (("HSD", HSDTrainer), ("GJADet", GJADetTrainer)):
        for k, v in trainer.defaults.items():
            assert f"{fam}: {v}" in lines[k], (k, lines[k])
    assert lines["cls_loss"].startswith("cls_loss=bce") and lines["iou_loss"].startswith("iou_loss=ciou")
    assert main(["help", "model=gjadet-n.yaml"]) == 0
    out = capsys.readouterr().out
    assert "GJADet family" in out and "rfs=1.0" in out
    assert main(["help", "model=hsd-n.yaml"]) == 0
    out = capsys.readouterr().out
    assert "iou_loss=giou" in out and "dis=0.0" in out


@pytest.mark.parametrize("family", ["hsd", "gjadet"])
def test_script_help_prints_its_defaults(family, capsys):
    """`python train_hsd.py help` (and train_gjadet.py) prints the script's defaults and its family's, from the one
    place each is declared (the pipeline's DEFAULTS, the trainer's `defaults`), and exits 0."""
    import importlib

    from ext.cli import parse_args_or_exit

    pipeline = importlib.import_module(f"ext.models.{family}.pipeline")
    with pytest.raises(SystemExit) as stop:
        parse_args_or_exit(["help"], prog=f"train_{family}.py", defaults=pipeline.DEFAULTS)
    assert stop.value.code == 0
    out = capsys.readouterr().out
    trainer = family_of(pipeline.DEFAULTS["model"]).trainer_class
    for k, v in {**pipeline.DEFAULTS, **trainer.defaults}.items():
        assert f"{k}={v}" in out


@pytest.mark.parametrize("mode, key, user", [("predict", "fps=1000", "track"), ("val", "rfs=0.3", "train"),
                                             ("export", "slice=640", "predict / inspect"),
                                             ("train", "faults=[bolt]", "inspect"), ("val", "formats=onnx", "benchmark")])
def test_a_key_the_mode_does_not_use_is_refused(mode, key, user, capsys):
    """Our keys are refused by name in a mode that would ignore them, naming the mode that uses them."""
    assert main([mode, "model=hsd-n.yaml", key]) == 2
    err = capsys.readouterr().err
    assert f"'{key.split('=')[0]}' is not a valid 'fdet {mode}' key" in err and f"'fdet {user}'" in err
