"""Shared by the benchmark scripts: train a run unless an identical finished run is on disk; write a report."""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import sys
from pathlib import Path

from ultralytics.utils.patches import torch_load

from ext.models import family_of


def training_parser(description: str, *, data: str, epochs: int, batch: int, project: str | None,
                    out_help: str | None = None) -> argparse.ArgumentParser:
    """The arguments every training benchmark takes: --data --epochs --imgsz (320) --batch --seeds (0 1 2)
    --device (cpu) --project --out, with the script's own defaults."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--data", default=data)
    ap.add_argument("--epochs", type=int, default=epochs)
    ap.add_argument("--imgsz", type=int, default=320)
    ap.add_argument("--batch", type=int, default=batch)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--project", default=project, help=None if project else "default runs/bench-<script>-<data>")
    ap.add_argument("--out", default=None, help=out_help)
    return ap


def finished(project: str | Path, name: str, epochs: int) -> str | None:
    """best.pt of run `name` under `project` if its results.csv has `epochs` rows, or if its training ended before
    (Ultralytics' early stopping, `patience`: the final last.pt has its optimizer stripped, epoch -1); else None."""
    best = Path(project) / name / "weights" / "best.pt"
    csv = best.parents[1] / "results.csv"
    if not (best.is_file() and csv.is_file()):
        return None
    if len(csv.read_text().splitlines()) - 1 >= epochs:
        return str(best)
    last = best.with_name("last.pt")
    ended = last.is_file() and torch_load(last, map_location="cpu").get("epoch") == -1
    return str(best) if ended else None


def train_or_reuse(cfg: str, args: dict, name: str) -> str:
    """Train `cfg` with `args` as run `name` under `args['project']`; return its best.pt.

    A run of the same name whose results.csv already has `args['epochs']` rows is reused, so a benchmark cut short
    (session limit, power) restarts where it stopped.
    """
    best = finished(args["project"], name, args["epochs"])
    if best:
        return best
    model = family_of(cfg)(cfg)
    model.train(**args, name=name)
    return str(model.trainer.best)


class Record:
    """Metrics of finished runs kept in a JSON file under benchmarks/results/ (committed), so a report can be
    rebuilt in a new checkout where the run folders (runs/, not committed) are gone.

    Entries are keyed by run name plus the settings that make a run (`key` dict: epochs, imgsz, ...); a run trained
    with other settings is not taken for this one.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.runs = json.loads(self.path.read_text()) if self.path.is_file() else {}

    @staticmethod
    def _key(name: str, key: dict) -> str:
        return name + "|" + ",".join(f"{k}={key[k]}" for k in sorted(key))

    def get(self, name: str, key: dict) -> dict | None:
        """The metrics recorded for run `name` trained with `key`, or None."""
        return self.runs.get(self._key(name, key))

    def put(self, name: str, key: dict, metrics: dict) -> None:
        """Record `metrics` of run `name` and rewrite the file (sorted, so diffs stay small), keeping what another
        process running the same benchmark (another seed, on the other core) wrote to it since."""
        if self.path.is_file():
            self.runs = {**json.loads(self.path.read_text()), **self.runs}
        self.runs[self._key(name, key)] = metrics
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text(json.dumps(dict(sorted(self.runs.items())), indent=1) + "\n")


def cpu_description() -> str:
    """'<model name>, <n> cores, VNNI yes|no, AMX yes|no' from /proc/cpuinfo (INT8 speed depends on both: VNNI's
    int8 dot products, AMX's int8 tile matrix units), or the platform."""
    try:
        info = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor() or platform.machine()
    name = next((ln.split(":", 1)[1].strip() for ln in info.splitlines() if ln.startswith("model name")), "?")
    yes = {True: "yes", False: "no"}
    return f"{name}, {os.cpu_count()} logical cores, VNNI {yes['vnni' in info]}, AMX {yes['amx_int8' in info]}"


def command_line(script: str, argv: list[str] | None) -> str:
    """The command a report was made by: 'python benchmarks/<script> [args]' (args from sys.argv if argv is None)."""
    args = sys.argv[1:] if argv is None else argv
    return " ".join(["python", f"benchmarks/{script}", *map(shlex.quote, args)])


def write_report(out: str | Path, lines: list[str]) -> str:
    """Write the markdown `lines` to `out` (folders made), print them, return the text."""
    text = "\n".join(lines) + "\n"
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text(text)
    print(text)
    return text
