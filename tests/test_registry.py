"""`import ext` registers our keys with Ultralytics' configuration and its type checks. The keys, defaults and types
expected here are read from the YAML files themselves (ours and Ultralytics'), not typed into the test."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from ultralytics.cfg import DEFAULT_CFG_PATH, get_cfg
from ultralytics.utils import DEFAULT_CFG, DEFAULT_CFG_DICT

import ext  # noqa: F401

REPO = Path(__file__).resolve().parents[1]
OURS = yaml.safe_load((REPO / "cfg" / "default.yaml").read_text())
THEIRS = yaml.safe_load(Path(DEFAULT_CFG_PATH).read_text())  # the file: the live dict now holds ours too

# a value of the wrong type and another value of the right one, by the type of the default (None: untyped)
WRONG = {bool: "maybe", int: 1.5, float: "high", str: 1}
OTHER = {bool: lambda v: not v, int: lambda v: v + 1, float: lambda v: v + 1.5, str: lambda v: v + "x",
         type(None): lambda v: "x"}


def test_yaml_read():
    assert len(OURS) > 10 and len(THEIRS) > 50


@pytest.mark.parametrize("key", OURS)
def test_key_registered_with_its_default(key):
    assert DEFAULT_CFG_DICT[key] == OURS[key] and getattr(DEFAULT_CFG, key) == OURS[key]


@pytest.mark.parametrize("key", OURS)
def test_key_overridden_like_ultralytics(key):
    value = OTHER[type(OURS[key])](OURS[key])
    assert getattr(get_cfg(overrides={key: value}), key) == value


@pytest.mark.parametrize("key", [k for k, v in OURS.items() if v is not None])
def test_key_type_checked_like_ultralytics(key):
    with pytest.raises(TypeError, match=re.escape(key)):
        get_cfg(overrides={key: WRONG[type(OURS[key])]})


@pytest.mark.parametrize("key", OURS)
def test_misspelled_key_refused_naming_ours(key):
    with pytest.raises(SyntaxError, match=f"'{re.escape(key)}['=]"):  # the suggestion: 'fps=0.0' or 'pairs'
        get_cfg(overrides={key + "x": OURS[key]})


def test_no_clash_with_ultralytics_keys():
    """Ultralytics' own keys (distill_model, dis, cls_pw, freeze, ...) are not redeclared by us."""
    assert set(OURS) & set(THEIRS) == set()
