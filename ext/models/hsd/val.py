"""`HSDValidator`: detection validation plus the HSD paper's image-level rates (FDR, MDR, CDR)."""

from __future__ import annotations

from ultralytics.utils import LOGGER

from ...metrics import ImageLevelRates, fault_class_ids
from ..detector import ExtValidator


class HSDValidator(ExtValidator):
    """Validator of the HSD family.

    Next to mAP it reports, from each image's top-scoring box at score thresholds 0.5-0.9, the false-detection
    rate (a box on an image without objects), missed-detection rate (objects but no box) and CDR = 1 - FDR - MDR;
    when class names mark fault states (`broken`, `missing`, `fault`, `_f` ...), also the fault-flagging rates.
    They are added to the returned stats (so to results.csv during training, as `metrics/CDR@0.5` ...), kept as
    `metrics.extra` and saved to `image_level.csv` in the run folder.
    """

    def init_metrics(self, model) -> None:
        super().init_metrics(model)
        faults = fault_class_ids(self.names)
        self.rates = ImageLevelRates(fault_classes=faults or None)

    def update_metrics(self, preds, batch) -> None:
        super().update_metrics(preds, batch)
        for si, pred in enumerate(preds):
            predn, pbatch = self._prepare_pred(pred), self._prepare_batch(si, batch)
            self.rates.update(predn["conf"], predn["cls"], pbatch["cls"])

    def gather_stats(self) -> None:
        super().gather_stats()
        self.merge_across_ranks(self.rates)

    def get_stats(self) -> dict:
        stats = super().get_stats()
        summary = self.rates.summary()
        self.metrics.extra = {k: round(float(v), 4) for k, v in summary.items() if k.startswith(("CDR", "FDR", "MDR"))}
        if self.save_dir:
            self.save_dir.mkdir(parents=True, exist_ok=True)
            self.rates.to_csv(self.save_dir / "image_level.csv")
        stats.update({f"metrics/{k}": v for k, v in self.metrics.extra.items() if k.startswith("CDR")})
        return stats

    def print_results(self) -> None:
        super().print_results()
        rows = self.rates.compute()
        LOGGER.info("Image-level   " + "  ".join(f"@{t:.1f}: CDR {r['CDR']:.3f} FDR {r['FDR']:.3f} MDR {r['MDR']:.3f}"
                                                 for t, r in rows.items()))
