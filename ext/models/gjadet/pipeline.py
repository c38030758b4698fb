"""`python train_gjadet.py [key=value ...]`: train a GJADet model (GJR + CIoU by default) and report its APs."""

from __future__ import annotations

from pathlib import Path

from ...registry import parse_args
from ..report import model_row, print_table, where
from .model import GJADet

# The default budget finishes in about 10 minutes on a 2-core CPU (see README).
DEFAULTS = dict(model="gjadet-n.yaml", data="crash-synth", epochs=40, imgsz=320, batch=8, nbs=8, workers=2, device="cpu",
                project="runs/gjadet", exist_ok=True)  # relative projects are made absolute below


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
