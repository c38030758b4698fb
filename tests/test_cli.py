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
