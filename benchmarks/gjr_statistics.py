"""What the long-tail losses (GJR, EQLv2, EQFL, EQL) learned: each finished run's per-class statistics
at the end of training (the `loss_state` our checkpoints carry), with the weights they give, against the classes'
training instances; writes a table to docs/.

    python benchmarks/gjr_statistics.py [--data crash-synth-lt] [--project runs/bench-gjadet-<data>]
                                        [--out docs/gjr_statistics_<data>.md]

Reads the run folders of benchmarks/gjadet_ablation.py (last.pt of every run trained with such a loss); trains
nothing. Ratio r_j = accumulated positive over negative gradient of class j; GJR / EQLv2 weight the class's
negatives by q_j = sigmoid(gamma (r_j - mu)) and its positives by 1 + alpha (1 - q_j) (ext/losses/reweighted.py),
EQFL raises its focusing exponent by scale * (1 - min(1, r_j)). EQL: each class's share of the foreground anchors
counted in training, and whether it is rare there (share < eql_lambda: its negatives at the foreground are dropped).
"""

from __future__ import annotations

import argparse
import datetime
from pathlib import Path

import numpy as np
import torch

from ext.metrics.longtail import train_instance_counts
from gjadet_ablation import train_label_files
from runs import command_line, write_report


def weights(args: dict, ratio: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(positive weight, negative weight) per class that the run's loss gives at `ratio`."""
    name = args["cls_loss"]
    if name == "eqfl":
        w = 1 + args["eqfl_scale"] * (1 - np.clip(ratio, 0, 1)) / args["eqfl_gamma"]
        return w, w
    gamma, mu, alpha = (args[f"{name}_{k}"] for k in ("gamma", "mu", "alpha"))
    q = 1 / (1 + np.exp(-gamma * (ratio - mu)))
    return 1 + alpha * (1 - q), q


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="crash-synth-lt")
    ap.add_argument("--project", default=None)
    ap.add_argument("--out", default=None)
    a = ap.parse_args(argv)
    project = Path(a.project or f"runs/bench-gjadet-{a.data}")
    a.out = a.out or f"docs/gjr_statistics_{Path(a.data).stem}.md"
    names, counts = None, None
    lines = []
    for last in sorted(project.glob("*/weights/last.pt")):
        ckpt = torch.load(last, map_location="cpu", weights_only=False)
        args, model = ckpt["train_args"], ckpt["ema"] or ckpt["model"]
        state = model.__dict__.get("loss_state") or {}
        eql = args.get("cls_loss") == "eql" and "fg_count" in state
        if not eql and (args.get("cls_loss") not in ("gjr", "eqlv2", "eqfl") or "ratio" not in state):
            continue
        if names is None:
            names = [model.names[i] for i in sorted(model.names)]
            counts = train_instance_counts(train_label_files(a.data)[1], len(names))
            lines += ["| run | quantity | " + " | ".join(names) + " |", "| --- | --- |" + " --- |" * len(names),
                      "| (training instances) | | " + " | ".join(f"{int(c):,}" for c in counts) + " |"]
        run = last.parents[1].name
        if eql:
            share = np.asarray(state["fg_count"], dtype=float) / max(float(np.sum(state["fg_count"])), 1.0)
            lines += [f"| {run} | share of foreground anchors | " + " | ".join(f"{x:.1%}" for x in share) + " |",
                      f"| {run} | rare (< {args['eql_lambda']}) | " +
                      " | ".join("yes" if x < args["eql_lambda"] else "no" for x in share) + " |"]
            continue
        ratio = np.asarray(state["ratio"], dtype=float)
        pos, neg = weights(args, ratio)
        for label, v in (("ratio r", ratio), ("positive weight", pos), ("negative weight", neg)):
            lines.append(f"| {run} | {label} | " + " | ".join(f"{x:.2f}" for x in v) + " |")
    head = [f"# Gradient statistics of the reweighted losses on {a.data} ({datetime.date.today()})", "",
            f"Command: `{command_line('gjr_statistics.py', argv)}`", "",
            "End of training (last.pt) of each run of benchmarks/gjadet_ablation.py under "
            f"{project} trained with GJR, EQLv2, EQFL or EQL. r: accumulated positive / negative gradient of the class in "
            "the run's gjr_region (GJR / EQLv2; foreground anchors by default) or at every anchor (EQFL); the weights "
            "are the ones the loss applies at that r (EQFL: beta_j / gamma_b on both). EQL: the class's share of the "
            "foreground anchors counted in training, and whether EQL treats it as rare.", ""]
    write_report(a.out, head + (lines or ["No run with a reweighted loss found."]))


if __name__ == "__main__":
    main()
