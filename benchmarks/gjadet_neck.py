"""What each part of GJADet's adaptive neck costs: ONNX Runtime CPU latency of the adaptive attention PAFPN with its
parts (spatial, scale, task) switched on and off one at a time, against the plain PAFPN and plain PAFPNs made wider
until they cost what the adaptive neck does; writes a table to docs/.

    python benchmarks/gjadet_neck.py [--imgsz 640 320] [--runs 50] [--repeats 3] [--widths 1.25 1.5]
                                     [--yamls runs/gjadet-neck] [--out docs/gjadet_neck_latency.md]

Every variant is GJADet's backbone and Detect head at scale n (`gjadet-n.yaml`, random weights: latency does not
depend on them); only the neck changes. The variants' model YAMLs are written to --yamls (full YAMLs with their
`head:`), so that they can be trained as they are timed (`fdet train model=<yamls>/<variant>.yaml`). A wider plain
PAFPN multiplies the output channels of the neck's C2f and Conv rows by the factor (before the scale's width).
Latency: median of --runs interleaved rounds per --repeats fresh sessions (`latency.measure`); the table gives the
median over repeats of each variant's ratio to the plain PAFPN measured in the same repeat, and its range.
"""

from __future__ import annotations

import argparse
import copy
import datetime
import re
import tempfile
from pathlib import Path

import numpy as np
from ultralytics.utils import YAML

from ext.nn.tasks import load_model_yaml

from latency import export, measure
from runs import command_line, cpu_description, write_report

PARTS = ("spatial", "scale", "task")


def variants(widths: list[float]) -> dict[str, dict]:
    """{name: model dict} of the neck variants: plain PAFPN, the adaptive neck with every subset of parts that
    differs from it by one part, and the wider plain PAFPNs."""
    plain, adaptive = load_model_yaml("gjadet-pafpn-n.yaml"), load_model_yaml("gjadet-n.yaml")
    out = {"plain PAFPN": plain, "adaptive (spatial + scale + task)": adaptive}
    for keep in [(p,) for p in PARTS] + [tuple(q for q in PARTS if q != p) for p in PARTS]:
        d = copy.deepcopy(adaptive)
        for row in d["head"]:
            if row[2] == "AdaptiveAttention":
                row[3] = [p in keep for p in PARTS]
        out[f"adaptive ({' + '.join(keep)})"] = d
    for k in widths:
        d = copy.deepcopy(plain)
        for row in d["head"]:
            if row[2] in ("C2f", "Conv"):
                row[3] = [int(round(row[3][0] * k)), *row[3][1:]]
        out[f"plain PAFPN, neck x{k:g} wide"] = d
    return out


def yaml_path(name: str, folder: str | Path) -> Path:
    """Where `write_yamls` puts variant `name` (a key of `variants`): folder/gjadet-<name as a slug>.yaml."""
    return Path(folder) / ("gjadet-" + re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") + ".yaml")


def write_yamls(models: dict[str, dict], folder: Path) -> dict[str, str]:
    """Write each model dict as a full YAML (scale kept, `head:` written out) under `folder`; {name: path}."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, d in models.items():
        keep = {k: v for k, v in d.items() if k not in ("yaml_file", "neck", "outputs")}
        path = yaml_path(name, folder)
        YAML.save(path, keep)
        paths[name] = str(path)
    return paths


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--imgsz", type=int, nargs="+", default=[640, 320])
    ap.add_argument("--runs", type=int, default=50)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--widths", type=float, nargs="+", default=[1.25, 1.5])
    ap.add_argument("--yamls", default="runs/gjadet-neck", help="where the variants' model YAMLs are written")
    ap.add_argument("--out", default="docs/gjadet_neck_latency.md")
    a = ap.parse_args(argv)
    paths = write_yamls(variants(a.widths), Path(a.yamls))
    ratios, info = {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        for imgsz in a.imgsz:
            files = {}
            for name, cfg in paths.items():
                files[name], info[name] = export(cfg, imgsz, Path(tmp))
            for _ in range(a.repeats):
                ms = measure(files, imgsz, a.runs)
                for name in paths:
                    ratios.setdefault((name, imgsz), []).append(ms[name] / ms["plain PAFPN"])
    head = " | ".join(f"x plain at {s} px (range)" for s in a.imgsz)
    lines = [f"# GJADet's adaptive neck, part by part: latency ({datetime.date.today()})", "",
             f"Command: `{command_line('gjadet_neck.py', argv)}`", "",
             f"GJADet's backbone and head at scale n, only the neck changes; ONNX Runtime CPU, batch 1, median of "
             f"{a.runs} interleaved rounds, ratio to the plain PAFPN in the same round set, median (range) over "
             f"{a.repeats} repeats, on {cpu_description()}. Model YAMLs: `{a.yamls}/`.", "",
             f"| neck | params | GFLOPs (640) | {head} | YAML |", "| --- | --- | --- | " + " | ".join(
                 "---" for _ in a.imgsz) + " | --- |"]
    for name, cfg in paths.items():
        cells = []
        for s in a.imgsz:
            r = np.array(ratios[(name, s)])
            cells.append(f"{np.median(r):.2f} ({r.min():.2f} - {r.max():.2f})")
        lines.append(f"| {name} | {info[name]['params']:,} | {info[name]['GFLOPs']:.2f} | " + " | ".join(cells)
                     + f" | {Path(cfg).name} |")
    write_report(a.out, lines)


if __name__ == "__main__":
    main()
