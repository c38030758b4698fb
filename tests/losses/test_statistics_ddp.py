"""Two-process (gloo, CPU) test: the statistics of GJR (gradient sums) and EQL (foreground counts) are all-reduced,
so every rank holds the global statistics."""

from pathlib import Path

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import pytest

import ext.losses

NC, WORLD, STEPS, ROWS = 3, 2, 2, 8


def make_data():
    """Per step: logits [WORLD * ROWS, NC] and soft targets with some background rows."""
    g = torch.Generator().manual_seed(0)
    data = []
    for _ in range(STEPS):
        logits = torch.randn(WORLD * ROWS, NC, generator=g) * 2
        cls = torch.randint(0, NC, (WORLD * ROWS,), generator=g)
        score = torch.rand(WORLD * ROWS, generator=g) * (torch.rand(WORLD * ROWS, generator=g) > 0.3)
        data.append((logits, torch.nn.functional.one_hot(cls, NC).float() * score[:, None]))
    return data


def _worker(rank, init_file, out_dir, data, loss_name):
    """One rank: run the loss `ext.losses.<loss_name>` on its half of every step's batch, save its statistics."""
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=WORLD)
    try:
        loss_fn = getattr(ext.losses, loss_name)(NC)
        for logits, targets in data:
            part = slice(rank * ROWS, (rank + 1) * ROWS)
            loss_fn(logits[part], targets[part])
        torch.save(loss_fn.state_dict(), Path(out_dir) / f"rank{rank}.pt")
    finally:
        dist.destroy_process_group()


@pytest.mark.parametrize("loss_name", ["GJRLoss", "EQLLoss"])
def test_statistics_summed_across_processes(tmp_path, monkeypatch, loss_name):
    here = Path(__file__).resolve()
    # spawned children import this module by name: make both possible module names importable there
    monkeypatch.syspath_prepend(str(here.parents[2]))
    monkeypatch.syspath_prepend(str(here.parent))
    data = make_data()
    mp.spawn(_worker, args=(str(tmp_path / "dist_init"), str(tmp_path), data, loss_name), nprocs=WORLD, join=True)

    reference, fresh = getattr(ext.losses, loss_name)(NC), getattr(ext.losses, loss_name)(NC).state_dict()
    for logits, targets in data:
        reference(logits, targets)
    states = [torch.load(tmp_path / f"rank{r}.pt") for r in range(WORLD)]
    assert any(not torch.equal(v, fresh[k]) for k, v in reference.state_dict().items())  # statistics were taken
    for state in states:
        for key, value in reference.state_dict().items():
            torch.testing.assert_close(state[key], value, rtol=1e-5, atol=1e-6)
    for key in states[0]:
        torch.testing.assert_close(states[0][key], states[1][key], rtol=0, atol=0)
