"""`GJADetTrainer`: our trainer with GJADet's defaults (GJR's reweighting over BCE with repeat-factor sampling
at 1.0, CIoU box loss; the paper's form is `cls_loss=gjr gjr_beta=2 rfs=0`, docs/design.md) and a log of the
per-class gradient ratio of GJR / EQLv2 when one is chosen (`gjr_ratio.csv`, `gjr_ratio.png` in the run folder)."""

from __future__ import annotations

import csv

import torch
from matplotlib.figure import Figure
from ultralytics.utils import LOGGER, RANK

from ...nn.tasks import GJADetModel, student
from ..detector import ExtTrainer
from .val import GJADetValidator


def gradient_ratios(crit) -> dict[str, torch.Tensor]:
    """The classification loss's per-class positive/negative gradient ratio ([C]) by branch: {'': ratio} for a
    one-branch loss, {'': one-to-many, 'one2one:': one-to-one} for an end-to-end one; {} without GJR/EQLv2."""
    branches = {"": getattr(crit, "one2many", crit), "one2one:": getattr(crit, "one2one", None)}
    out = {k: getattr(getattr(b, "classification_loss", None), "gradient_ratio", None) for k, b in branches.items()}
    return {k: v for k, v in out.items() if v is not None}


def log_gradient_ratio(trainer) -> None:
    """Callback (epoch end): append the loss's per-class positive/negative gradient ratio to gjr_ratio.csv, one
    column per class (and per class of the one-to-one branch, 'one2one:<class>', on end-to-end heads)."""
    if RANK not in {-1, 0}:
        return
    ratios = gradient_ratios(getattr(student(trainer.model), "criterion", None))
    if not ratios:
        return
    f = trainer.save_dir / "gjr_ratio.csv"
    names = [f"{k}{trainer.data['names'][i]}" for k, r in ratios.items() for i in range(len(r))]
    values = [float(x) for r in ratios.values() for x in r.cpu()]
    new = not f.exists()
    with open(f, "a", newline="") as fh:
        w = csv.writer(fh)
        if new:
            w.writerow(["epoch", *names])
        w.writerow([trainer.epoch + 1, *(f"{v:.6g}" for v in values)])


def plot_gradient_ratio(trainer) -> None:
    """Callback (train end): plot gjr_ratio.csv as one line per class (log scale) to gjr_ratio.png."""
    f = trainer.save_dir / "gjr_ratio.csv"
    if not f.exists() or not trainer.args.plots:
        return
    rows = list(csv.reader(open(f)))
    header, data = rows[0], [[float(x) for x in r] for r in rows[1:]]
    fig = Figure(figsize=(6, 4), tight_layout=True)
    ax = fig.subplots()
    for j, name in enumerate(header[1:], 1):
        ax.plot([r[0] for r in data], [max(r[j], 1e-6) for r in data], marker=".", label=name,
                linestyle="--" if name.startswith("one2one:") else "-")
    ax.set(xlabel="epoch", ylabel="positive / negative gradient", yscale="log", title="GJR gradient ratio per class")
    ax.legend(fontsize=7)
    fig.savefig(f.with_suffix(".png"), dpi=150)
    LOGGER.info(f"GJR gradient ratio plotted to {f.with_suffix('.png')}")


class GJADetTrainer(ExtTrainer):
    """Trains GJADet models (any YAML) with GJR's reweighting over BCE (`cls_loss=gjr`, the package's `gjr_beta` 0)
    and repeat-factor sampling (`rfs=1.0`) unless told otherwise (CIoU, the package's box loss); why, with the
    figures: docs/design.md, "GJADet's default by evidence"."""

    model_class = GJADetModel
    validator_class = GJADetValidator
    defaults = {"cls_loss": "gjr", "rfs": 1.0}

    def __init__(self, cfg=None, overrides: dict | None = None, _callbacks=None):
        super().__init__(**({"cfg": cfg} if cfg else {}), overrides=overrides, _callbacks=_callbacks)
        self.add_callback("on_train_epoch_end", log_gradient_ratio)
        self.add_callback("on_train_end", plot_gradient_ratio)
