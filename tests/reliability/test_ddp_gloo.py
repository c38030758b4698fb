"""Two processes on gloo (CPU): every code path of ours that talks across DDP ranks, against one process.

- GJR / EQLv2 statistics (all-reduced increments): tests/losses/test_gjr_ddp.py, not repeated here.
- The non-finite guard (`ext/reliability/nonfinite.py`): the ranks all-reduce (MAX) whether a step's loss is
  finite, so a NaN on ONE rank makes EVERY rank skip that step; a rank that skipped alone would leave the other
  waiting in DDP's gradient all-reduce. Checked on a DDP-wrapped model against one process on the whole batch.
- The image-level rates of HSD's validator (`ExtValidator.merge_across_ranks`, `ImageLevelRates.merge`): rank 0
  gathers every rank's images; its rates must be those of one process that saw all the images.
- Ultralytics' DDP entry file (tests/reliability/test_ddp_file.py runs it in one process): here really on two
  processes, through `cpu_ddp.py`, which replaces only the CUDA-specific points of Ultralytics' DDP setup.

Modules of `ext` (and so Ultralytics, which reads RANK from the environment once, at import) are imported inside the
functions: a spawned worker imports this file first, then sets RANK as torchrun would, then imports them.
"""

from __future__ import annotations

import csv
import math
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn.functional as F

WORLD = 2
HERE = Path(__file__).resolve().parent


def join_world(rank: int, init_file: str) -> None:
    """Be rank `rank` of a gloo world of WORLD processes, with RANK etc. set as torchrun sets them. A collective
    that one rank never reaches fails after 60 s instead of hanging the test."""
    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(WORLD))
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=WORLD,
                            timeout=timedelta(seconds=60))


def spawn(worker, tmp_path: Path, monkeypatch, *args) -> None:
    """Run `worker(rank, init_file, out_dir, *args)` on WORLD spawned processes and wait for all of them."""
    monkeypatch.syspath_prepend(str(HERE.parents[1]))  # spawned children import this module by name
    monkeypatch.syspath_prepend(str(HERE))
    mp.spawn(worker, args=(str(tmp_path / "dist_init"), str(tmp_path), *args), nprocs=WORLD, join=True)


# ---------------------------------------------------------------- the non-finite guard

STEPS, ROWS, FEATURES = 6, 4, 3
NAN_AT = {1: 0, 3: 1, 4: 0}  # step: the one rank whose shard holds a NaN input


def guard_data() -> tuple[torch.Tensor, torch.Tensor]:
    """Per step a global batch of WORLD * ROWS rows (rank r holds rows r * ROWS ...), NaN where NAN_AT says."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(STEPS, WORLD * ROWS, FEATURES, generator=g)
    y = torch.randn(STEPS, WORLD * ROWS, 1, generator=g)
    for step, rank in NAN_AT.items():
        x[step, rank * ROWS, 0] = math.nan
    return x, y


def _guard_worker(rank, init_file, out_dir, x, y, patience):
    """One rank of the trainer's step as ExtTrainer runs it: batch-start snapshot, DDP forward, the guarded
    scaler's backward, an optimizer step only when `take_step` allows it."""
    join_world(rank, init_file)
    from types import SimpleNamespace

    from ext.reliability.nonfinite import GuardedScaler, NonFiniteGuard, NonFiniteLossError

    torch.manual_seed(0)
    net = torch.nn.Linear(FEATURES, 1)
    net.criterion = None  # a model without loss modules to restore
    model = torch.nn.parallel.DistributedDataParallel(net, find_unused_parameters=True)  # as Ultralytics wraps it
    optimizer = torch.optim.SGD(net.parameters(), lr=0.1)
    trainer = SimpleNamespace(model=model, nan_guard=NonFiniteGuard(patience), epoch=0, loss=None, loss_items=None)
    scaler = GuardedScaler(torch.amp.GradScaler("cpu", enabled=False), trainer)
    rows = slice(rank * ROWS, (rank + 1) * ROWS)
    out = {"skipped_at": [], "stopped_at": None, "message": ""}
    try:
        for step in range(STEPS):
            trainer.nan_guard.snapshot(trainer)
            loss = F.mse_loss(model(x[step, rows]), y[step, rows])
            trainer.loss, trainer.loss_items = loss, {"mse_loss": loss.detach()}
            before = trainer.nan_guard.total
            try:
                scaler.scale(loss).backward()
            except NonFiniteLossError as e:
                out.update(stopped_at=step, message=str(e))
                break
            if trainer.nan_guard.total > before:
                out["skipped_at"].append(step)
            if trainer.nan_guard.take_step():
                optimizer.step()
            optimizer.zero_grad()
        dist.barrier()  # every rank got here: none is left waiting in a collective
        guard = trainer.nan_guard
        out.update(total=guard.total, skipped=guard.skipped, terms=guard.terms,
                   params={k: v.detach().clone() for k, v in net.named_parameters()})
        torch.save(out, Path(out_dir) / f"guard_p{patience}_rank{rank}.pt")
    finally:
        dist.destroy_process_group()


def one_process_reference(x, y) -> dict:
    """The same training in one process on the whole batch, skipping each step whose batch holds a NaN."""
    torch.manual_seed(0)
    net = torch.nn.Linear(FEATURES, 1)
    optimizer = torch.optim.SGD(net.parameters(), lr=0.1)
    skipped = []
    for step in range(STEPS):
        if torch.isnan(x[step]).any():
            skipped.append(step)
            continue
        F.mse_loss(net(x[step]), y[step]).backward()  # the mean over both shards = DDP's average of their means
        optimizer.step()
        optimizer.zero_grad()
    return {"skipped_at": skipped, "params": dict(net.named_parameters())}


def test_nonfinite_guard_skips_the_same_steps_on_every_rank(tmp_path, monkeypatch):
    """A NaN loss on one rank (steps 1 and 4 on rank 0, step 3 on rank 1): both ranks skip steps 1, 3 and 4, count
    3, and end with the weights of one process that skipped those steps; with nan_patience=2 both ranks stop at
    step 4 (steps 3 and 4 in a row), each naming its own term and the other rank's."""
    x, y = guard_data()
    for patience in (0, 2):
        (tmp_path / f"p{patience}").mkdir()
        spawn(_guard_worker, tmp_path / f"p{patience}", monkeypatch, x, y, patience)
    ref = one_process_reference(x, y)
    assert ref["skipped_at"] == sorted(NAN_AT)

    runs = [torch.load(tmp_path / "p0" / f"guard_p0_rank{r}.pt") for r in range(WORLD)]
    for run in runs:
        assert run["skipped_at"] == ref["skipped_at"] and run["total"] == run["skipped"] == len(NAN_AT)
        assert run["stopped_at"] is None
        for k, v in ref["params"].items():
            torch.testing.assert_close(run["params"][k], v.detach(), rtol=1e-5, atol=1e-6)
    for k in runs[0]["params"]:
        assert torch.equal(runs[0]["params"][k], runs[1]["params"][k])
    assert set(runs[0]["terms"]) == set(runs[1]["terms"]) == {"mse_loss", "loss (on another rank)"}

    stops = [torch.load(tmp_path / "p2" / f"guard_p2_rank{r}.pt") for r in range(WORLD)]
    for stop in stops:
        assert stop["stopped_at"] == 4 and stop["skipped_at"] == [1, 3] and stop["total"] == 3
        assert "2 consecutive steps" in stop["message"] and "nan_patience=2" in stop["message"]
        assert "mse_loss" in stop["message"] and "loss (on another rank)" in stop["message"]


# ---------------------------------------------------------------- the image-level rates

FAULTS = [1, 3]


def rate_images(n: int = 11) -> list[tuple[list, list, list]]:
    """`n` images as (box scores, box classes, ground-truth classes); some without boxes, some without truth."""
    g = torch.Generator().manual_seed(1)
    images = []
    for _ in range(n):
        boxes, truth = (int(v) for v in torch.randint(0, 4, (2,), generator=g))
        images.append((torch.rand(boxes, generator=g).tolist(), torch.randint(0, 4, (boxes,), generator=g).tolist(),
                       torch.randint(0, 4, (max(truth - 1, 0),), generator=g).tolist()))
    return images


def rates_of(images):
    from ext.metrics import ImageLevelRates

    rates = ImageLevelRates(fault_classes=FAULTS)
    for image in images:
        rates.update(*image)
    return rates


def _rates_worker(rank, init_file, out_dir, splits):
    """Each split: this rank's share of the images into HSD's accumulator, then the validator's gather."""
    join_world(rank, init_file)
    try:
        import ultralytics.utils

        from ext.models.detector.val import ExtValidator

        assert ultralytics.utils.RANK == rank  # Ultralytics read this process's RANK
        out = []
        for shares in splits:
            rates = rates_of(shares[rank])
            ExtValidator.merge_across_ranks(rates)  # what HSDValidator.gather_stats does
            out.append({"images": len(rates), "summary": rates.summary()})
        torch.save(out, Path(out_dir) / f"rates_rank{rank}.pt")
    finally:
        dist.destroy_process_group()


def test_image_level_rates_of_two_ranks_equal_one_process(tmp_path, monkeypatch):
    """11 images split 6 / 5 between the ranks, and 11 / 0 (Ultralytics' contiguous validation sampler gives a
    rank nothing when the set is one batch): rank 0's rates after the gather are those of one process over all 11;
    rank 1 keeps its own share (its rates are never reported)."""
    images = rate_images()
    splits = [(images[:6], images[6:]), (images, [])]
    spawn(_rates_worker, tmp_path, monkeypatch, splits)
    reference = rates_of(images).summary()
    assert {k: v for k, v in reference.items() if 0 < v < 1}  # rates that tell wrong merges apart
    ranks = [torch.load(tmp_path / f"rates_rank{r}.pt") for r in range(WORLD)]
    for i, shares in enumerate(splits):
        assert ranks[0][i]["images"] == len(images) and ranks[0][i]["summary"] == reference
        assert ranks[1][i]["images"] == len(shares[1])


# ---------------------------------------------------------------- Ultralytics' DDP entry file on two processes

def entry_file(trainer_class, model_class, yaml: str, overrides: dict):
    """The trainer as `Model.train` builds it before launching DDP, and Ultralytics' entry file for it."""
    from ultralytics.utils.dist import generate_ddp_file

    model = model_class(yaml)
    trainer = trainer_class(overrides={**overrides, "model": yaml, "mode": "train"}, _callbacks=model.callbacks)
    trainer.model = trainer.get_model(cfg=model.model.yaml, verbose=False)
    return trainer, Path(generate_ddp_file(trainer))


def test_ddp_entry_files_train_on_two_cpu_processes(fault_tiny, crash_tiny, tiny, tmp_path):
    """HSD (a NaN cls_loss on rank 1's first step) and GJADet (GJR) train one epoch on two processes: both ranks
    finish, skip the same step, hold the same parameters and GJR statistics; HSD's final validation gathers the
    image-level rates of both ranks' images, equal to one process validating the same best.pt."""
    pytest.importorskip("cloudpickle")
    import ext
    from ext.models.gjadet.train import GJADetTrainer
    from ext.models.hsd.train import HSDTrainer

    args = {**tiny, "batch": 2, "project": str(tmp_path)}  # 1 image per rank; 4 val images: 2 batches, 1 per rank
    # trainer, its Model, model YAML, data, arguments of its own (GJR for its statistics, over GJADet's rfs default)
    cases = {"hsd": (HSDTrainer, ext.HSD, "hsd-n.yaml", fault_tiny, {}),
             "gjadet": (GJADetTrainer, ext.GJADet, "gjadet-n.yaml", crash_tiny, {"cls_loss": "gjr"})}
    trainers, files = {}, []
    try:
        for name, (trainer_class, model_class, yaml, data, own) in cases.items():
            trainers[name], file = entry_file(trainer_class, model_class, yaml, {**args, "data": data, "name": name,
                                                                                 **own})
            files.append(file)
        env = {**os.environ, "WORLD_SIZE": str(WORLD), "DDP_INIT_DIR": str(tmp_path), "NAN_LOSS_AT": "1:0"}
        procs = [subprocess.Popen([sys.executable, str(HERE / "cpu_ddp.py"), str(tmp_path), *map(str, files)],
                                  env={**env, "RANK": str(r), "LOCAL_RANK": str(r)}, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True) for r in range(WORLD)]
        logs = []
        try:
            for p in procs:
                logs.append(p.communicate(timeout=240)[0])
        finally:
            for p in procs:
                p.kill()
        assert [p.returncode for p in procs] == [0] * WORLD, "\n".join(log[-3000:] for log in logs)
    finally:
        for file in files:
            file.unlink(missing_ok=True)
            file.with_suffix(".pt").unlink(missing_ok=True)

    for n, name in enumerate(cases):
        ranks = [torch.load(tmp_path / f"{n}_rank{r}.pt", weights_only=False) for r in range(WORLD)]
        assert [r["world_size"] for r in ranks] == [WORLD] * WORLD, name
        assert ranks[0]["guard"] == ranks[1]["guard"] == {"total": int(name == "hsd"), "skipped": int(name == "hsd"),
                                                          "streak": 0}, name
        for k, v in ranks[0]["params"].items():
            assert torch.isfinite(v).all() and torch.equal(v, ranks[1]["params"][k]), (name, k)
        row = list(csv.DictReader(open(trainers[name].save_dir / "results.csv")))
        assert len(row) == 1 and float(row[0]["train/skipped_steps"]) == int(name == "hsd"), name
    gjr = [torch.load(tmp_path / f"1_rank{r}.pt", weights_only=False)["loss_state"] for r in range(WORLD)]
    assert gjr[0].keys() == {"pos_grad", "neg_grad", "ratio"} and (gjr[0]["ratio"] != 100).all()
    for k in gjr[0]:
        assert (gjr[0][k] == gjr[1][k]).all(), k

    hsd = [torch.load(tmp_path / f"0_rank{r}.pt", weights_only=False) for r in range(WORLD)]
    assert [r["val_images"] for r in hsd] == [4, 2]  # rank 0: both ranks' images after the gather
    save_dir = trainers["hsd"].save_dir
    alone = ext.HSD(str(save_dir / "weights" / "best.pt")).val(
        data=fault_tiny, imgsz=tiny["imgsz"], batch=2, device="cpu", plots=False, project=str(tmp_path),
        name="val-one-process", verbose=False)
    ddp_rows = list(csv.DictReader(open(save_dir / "image_level.csv")))
    one_rows = list(csv.DictReader(open(Path(alone.save_dir) / "image_level.csv")))
    assert ddp_rows == one_rows and {r["images"] for r in ddp_rows} == {"4"}
