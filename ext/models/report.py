"""What the training scripts (train_hsd.py, train_gjadet.py) and the benchmarks share: their run budget, validating a
checkpoint, printing a comparison table and where results are."""

from __future__ import annotations

from pathlib import Path

from ultralytics.utils import LOGGER
from ultralytics.utils.torch_utils import get_flops

from .family import family_of


# The scripts' budget beside each family's model and epochs (their only defaults that differ from `fdet train`):
# their wall time on a 2-core CPU is in the README, with the command. Shown by `python train_hsd.py help`.
SCRIPT_RUN = dict(imgsz=320, batch=8, nbs=8, workers=2, device="cpu", exist_ok=True)


def script_defaults(family, data: str, epochs: int, project: str) -> dict:
    """A training script's defaults: the family's default model, `SCRIPT_RUN`, and its data, epochs, project."""
    return {"model": family.default_model, **SCRIPT_RUN, "data": data, "epochs": epochs, "project": project}


# the training arguments a validation takes (model_row also passes `workers`, the benchmarks their own val folder)
VAL_KEYS = ("data", "imgsz", "batch", "device")


def evaluate(weights: str, args: dict, family=None, **val) -> dict:
    """Validate checkpoint `weights` on args['data'] at args' imgsz, batch and device (those it has), plots and
    printing off, with `val` besides (e.g. project, name, exist_ok, workers), by `family`'s validator (a model class
    such as ext.HSD; default the checkpoint's own, `family_of`).

    Returns a dict: mAP50-95, mAP50, precision (mean over classes), per_class (mAP50-95 by class name, of the
    classes with labels), names (every class name, by index), extra (the validator's `metrics.extra`, e.g. CDR@0.5
    or AP_rare), params and GFLOPs (at args['imgsz'], default 640) of the model as validated (fused).
    """
    model = (family or family_of(weights))(weights)
    m = model.val(**{k: args[k] for k in VAL_KEYS if k in args}, **val, plots=False, verbose=False)
    return {"mAP50-95": float(m.box.map), "mAP50": float(m.box.map50), "precision": float(m.box.mp),
            "per_class": {m.names[c]: float(ap) for c, ap in zip(m.ap_class_index, m.box.all_ap.mean(1))},
            "names": [m.names[i] for i in sorted(m.names)], "extra": dict(getattr(m, "extra", {}) or {}),
            "params": sum(p.numel() for p in model.model.parameters()),
            "GFLOPs": get_flops(model.model, args.get("imgsz", 640))}


def model_row(label: str, weights: str, args: dict, extra: tuple[str, ...] | None = None) -> dict:
    """Validate `weights` on `args['data']` (`evaluate`, the checkpoint's own validator, args' workers too); return
    params, GFLOPs (at args['imgsz']), mAP50, mAP50-95 and the extra metrics the family's validator reports as
    `metrics.extra` (those named in `extra`, default all)."""
    e = evaluate(weights, args, **{k: args[k] for k in ("workers",) if k in args})
    row = {"model": label, "params": e["params"], f"GFLOPs@{args.get('imgsz', 640)}": round(e["GFLOPs"], 2),
           "mAP50": round(e["mAP50"], 4), "mAP50-95": round(e["mAP50-95"], 4)}
    row.update({k: v for k, v in e["extra"].items() if extra is None or k in extra})
    return row


def print_table(rows: list[dict]) -> str:
    """Print rows (dicts with the same keys) as a fixed-width table and return the text."""
    keys = list(rows[0])
    fmt = lambda v: f"{v:,}" if isinstance(v, int) else f"{v:.4g}" if isinstance(v, float) else str(v)  # noqa: E731
    cells = [[fmt(r.get(k, "")) for k in keys] for r in rows]
    widths = [max(len(k), *(len(c[i]) for c in cells)) for i, k in enumerate(keys)]
    lines = ["  ".join(k.rjust(w) for k, w in zip(keys, widths))]
    lines += ["  ".join(c.rjust(w) for c, w in zip(row, widths)) for row in cells]
    text = "\n".join(lines)
    LOGGER.info("\n" + text)
    return text


def where(run_dir: Path, **others: str) -> None:
    """Print where the weights, metrics and plots of a run are."""
    run_dir = Path(run_dir)
    LOGGER.info(f"\nResults:\n  weights  {run_dir / 'weights' / 'best.pt'}\n  metrics  {run_dir / 'results.csv'}"
                f"\n  plots    {run_dir}/*.png")
    for k, v in others.items():
        LOGGER.info(f"  {k:<8} {v}")
