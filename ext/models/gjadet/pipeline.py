"""`python train_gjadet.py [key=value ...]`: train a GJADet model (GJR over BCE with repeat-factor sampling,
CIoU, by default) and report its APs."""

from __future__ import annotations

from pathlib import Path

from ...keys import parse_args
from ..report import model_row, print_table, script_defaults, where
from .model import GJADet

# relative projects are made absolute below; `python train_*.py help` prints these
DEFAULTS = script_defaults(GJADet, "crash-synth", epochs=40, project="runs/gjadet")


def main(argv: list[str] | dict) -> dict:
    """Train, validate and print the table; return {'weights': path, 'rows': [...]}."""
    args = {**DEFAULTS, **(argv if isinstance(argv, dict) else parse_args(argv))}
    args["project"] = str(Path(args["project"]).resolve())  # runs/... under the current folder, as printed
    model = GJADet(args.pop("model"))
    model.train(**args, name="train")
    best = str(model.trainer.best)
    rows = [model_row("gjadet", best, args, ("AP_rare", "AP_common", "AP_frequent", "AP_small", "AP_medium"))]
    print_table(rows)
    where(Path(model.trainer.save_dir))
    return {"weights": best, "rows": rows}
