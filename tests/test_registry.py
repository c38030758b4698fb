"""`import ext` registers our keys with Ultralytics' configuration and its type checks."""

from __future__ import annotations

import pytest
from ultralytics.cfg import get_cfg
from ultralytics.utils import DEFAULT_CFG, DEFAULT_CFG_DICT

import ext  # noqa: F401
from ext.registry import ext_defaults


def test_keys_registered_with_defaults():
    defaults = ext_defaults()
    assert {"cls_loss", "iou_loss", "gjr_gamma", "ld_weight", "ld_T", "freeze_epochs"} <= set(defaults)
    for k, v in defaults.items():
        assert DEFAULT_CFG_DICT[k] == v and getattr(DEFAULT_CFG, k) == v
    assert get_cfg(overrides={"ld_T": 10}).ld_T == 10


def test_no_clash_with_ultralytics_keys():
    """Ultralytics' own keys (distill_model, dis, cls_pw, freeze) are not redeclared by us."""
    assert not {"distill_model", "dis", "cls_pw", "freeze", "multi_scale"} & set(ext_defaults())


def test_type_errors_like_ultralytics():
    with pytest.raises(TypeError, match="ld_weight"):
        get_cfg(overrides={"ld_weight": "high"})
    with pytest.raises(TypeError, match="freeze_epochs"):
        get_cfg(overrides={"freeze_epochs": 1.5})
    with pytest.raises(SyntaxError, match="ld_weight"):
        get_cfg(overrides={"ld_wieght": 0.5})
