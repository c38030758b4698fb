"""`GJADetTrainer`: our trainer with GJADet's defaults (GJR classification loss, CIoU box loss) and a log of
GJR's per-class gradient ratio (`gjr_ratio.csv`, `gjr_ratio.png` in the run folder)."""

from __future__ import annotations

import csv

from ultralytics.utils import LOGGER, RANK

from ...nn.tasks import GJADetModel
from ..detector import ExtTrainer
from ..detector.train import student
from .val import GJADetValidator


def log_gradient_ratio(trainer) -> None:
    """Callback (epoch end): append the loss's per-class positive/negative gradient ratio to gjr_ratio.csv."""
    if RANK not in {-1, 0}:
        return
    crit = getattr(student(trainer.model), "criterion", None)
    ratio = getattr(getattr(crit, "bce", None), "gradient_ratio", None)
    if ratio is None:
        return
    f = trainer.save_dir / "gjr_ratio.csv"
    names = [trainer.data["names"][i] for i in range(len(ratio))]
    new = not f.exists()
    with open(f, "a", newline="") as fh:
        w = csv.writer(fh)
        if new:
            w.writerow(["epoch", *names])
        w.writerow([trainer.epoch + 1, *(f"{float(r):.6g}" for r in ratio.cpu())])


def plot_gradient_ratio(trainer) -> None:
    """Callback (train end): plot gjr_ratio.csv as one line per class (log scale) to gjr_ratio.png."""
    f = trainer.save_dir / "gjr_ratio.csv"
    if not f.exists() or not trainer.args.plots:
        return
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = list(csv.reader(open(f)))
    header, data = rows[0], [[float(x) for x in r] for r in rows[1:]]
    fig, ax = plt.subplots(figsize=(6, 4), tight_layout=True)
    for j, name in enumerate(header[1:], 1):
        ax.plot([r[0] for r in data], [max(r[j], 1e-6) for r in data], marker=".", label=name)
    ax.set(xlabel="epoch", ylabel="positive / negative gradient", yscale="log", title="GJR gradient ratio per class")
    ax.legend(fontsize=7)
    fig.savefig(f.with_suffix(".png"), dpi=150)
    plt.close(fig)
    LOGGER.info(f"GJR gradient ratio plotted to {f.with_suffix('.png')}")


class GJADetTrainer(ExtTrainer):
    """Trains GJADet models (any YAML) with GJR + CIoU unless told otherwise."""

    model_class = GJADetModel
    validator_class = GJADetValidator
    defaults = {"cls_loss": "gjr", "iou_loss": "ciou"}

    def __init__(self, cfg=None, overrides: dict | None = None, _callbacks=None):
        super().__init__(**({"cfg": cfg} if cfg else {}), overrides=overrides, _callbacks=_callbacks)
        self.add_callback("on_train_epoch_end", log_gradient_ratio)
        self.add_callback("on_train_end", plot_gradient_ratio)
