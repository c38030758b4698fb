"""Shared fixtures: an offline environment, a private dataset cache, tiny data and one tiny trained checkpoint."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("YOLO_OFFLINE", "1")
os.environ.setdefault("MPLBACKEND", "Agg")

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "datasets"


@pytest.fixture(scope="session", autouse=True)
def dataset_cache(tmp_path_factory):
    """Prepared datasets go to a per-session cache, never into the repository or the user's cache."""
    cache = tmp_path_factory.mktemp("ext-datasets")
    old = os.environ.get("EXT_DATASETS_DIR")
    os.environ["EXT_DATASETS_DIR"] = str(cache)
    yield cache
    if old is None:
        os.environ.pop("EXT_DATASETS_DIR", None)
    else:
        os.environ["EXT_DATASETS_DIR"] = old


@pytest.fixture(scope="session")
def fault_tiny(dataset_cache) -> str:
    """Data YAML of `fault-synth-tiny` (8 train / 4 val images at 64 px)."""
    from ext.data import resolve_data

    return resolve_data("fault-synth-tiny")


@pytest.fixture(scope="session")
def crash_tiny(dataset_cache) -> str:
    """Data YAML of `crash-synth-tiny`."""
    from ext.data import resolve_data

    return resolve_data("crash-synth-tiny")


TINY = dict(epochs=1, imgsz=64, batch=4, nbs=4, workers=0, device="cpu", plots=False, exist_ok=True, verbose=False)


@pytest.fixture
def tiny() -> dict:
    """Training arguments of a tiny CPU run: 1 epoch at 64 px, no plots."""
    return dict(TINY)


@pytest.fixture(scope="session")
def hsd_tiny_run(tmp_path_factory, fault_tiny) -> Path:
    """One epoch of the HSD student on 8 synthetic images at 64 px; returns the run folder."""
    import ext

    project = tmp_path_factory.mktemp("runs")
    model = ext.HSD("hsd-n.yaml")
    model.train(data="fault-synth-tiny", project=str(project), name="hsd", **TINY)
    return Path(model.trainer.save_dir)


class Interrupted(Exception):
    """Raised by `interrupt_after_first_epoch` to stop a run like a kill would, after its checkpoint is written."""


def interrupt_after_first_epoch(model) -> None:
    """Make `model.train()` stop with `Interrupted` right after the first epoch's last.pt is saved."""

    def stop(trainer):
        if trainer.epoch == 0:
            raise Interrupted

    model.add_callback("on_model_save", stop)


@pytest.fixture
def interrupted_run():
    """Train `model` with `kwargs` until the first epoch's checkpoint exists; return the run's last.pt."""

    def run(model, **kwargs):
        interrupt_after_first_epoch(model)
        with pytest.raises(Interrupted):
            model.train(**kwargs)
        return model.trainer.last

    return run


@pytest.fixture(scope="session")
def shared_datasets() -> Path:
    """The real railway images in ../shared/datasets; tests using them skip when the folder is absent."""
    if not SHARED.is_dir():
        pytest.skip(f"real datasets not found at {SHARED} (../shared/datasets beside the repository)")
    return SHARED
