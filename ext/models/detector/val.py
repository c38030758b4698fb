"""`ExtValidator`: Ultralytics' `DetectionValidator`, accepting catalog names for `data`."""

from __future__ import annotations

import torch.distributed as dist
from ultralytics.models.yolo.detect import DetectionValidator
from ultralytics.utils import RANK

from ...data import resolve_data


class ExtValidator(DetectionValidator):
    """Detection validator for our families; `data` may be a `datasets.yaml` name."""

    def __init__(self, dataloader=None, save_dir=None, args=None, _callbacks=None):
        super().__init__(dataloader, save_dir, args, _callbacks)
        if isinstance(self.args.data, str):
            self.args.data = resolve_data(self.args.data)

    @staticmethod
    def merge_across_ranks(accumulator) -> None:
        """Under DDP, gather a picklable accumulator with `merge(other)` from every rank into rank 0's copy."""
        if RANK == -1 or not dist.is_initialized():
            return
        parts = [None] * dist.get_world_size() if RANK == 0 else None
        dist.gather_object(accumulator, parts, dst=0)
        if RANK == 0:
            for p in parts[1:]:
                accumulator.merge(p)
