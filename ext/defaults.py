"""The package defaults of our keys, read from `cfg/default.yaml`: the one place each is set. `ext.keys` adds them to
Ultralytics' configuration; constructors that are also called outside a run (the loss classes) take theirs from
here, so no key has a second default. Family defaults (e.g. GJADet's `rfs=1.0`) are each trainer's `defaults`,
shown by `fdet help model=...`."""

from __future__ import annotations

from functools import lru_cache

from ultralytics.utils import YAML

from .paths import cfg_dir


@lru_cache(maxsize=1)
def _loaded() -> dict:
    return YAML.load(cfg_dir() / "default.yaml")


def ext_defaults() -> dict:
    """Our keys and their defaults, in the order of `cfg/default.yaml` (a new dict each call)."""
    return dict(_loaded())


def ext_default(name: str):
    """The default of one of our keys.

    Raises:
        KeyError: `name` is not a key of `cfg/default.yaml`.
    """
    if name not in _loaded():
        raise KeyError(f"'{name}' is not a key of cfg/default.yaml")
    return _loaded()[name]


def or_default(value, name: str):
    """`value`, or the default of key `name` when `value` is None."""
    return ext_default(name) if value is None else value
