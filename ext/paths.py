"""Where the package finds its YAMLs: the repository's `cfg/` in a source checkout, `ext/cfg/` when installed."""

from __future__ import annotations

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
REPO_DIR = PACKAGE_DIR.parent


def cfg_dir() -> Path:
    """Return the folder holding `default.yaml`, `models/` and `datasets.yaml`."""
    for d in (PACKAGE_DIR / "cfg", REPO_DIR / "cfg"):
        if (d / "default.yaml").is_file():
            return d
    raise FileNotFoundError(f"ext configuration folder not found in {PACKAGE_DIR / 'cfg'} or {REPO_DIR / 'cfg'}")


def models_dir() -> Path:
    """Return the folder of our model YAMLs (`cfg/models`)."""
    return cfg_dir() / "models"
