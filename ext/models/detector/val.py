"""`ExtValidator`: Ultralytics' `DetectionValidator`, accepting catalog names for `data`."""

from __future__ import annotations

from ultralytics.models.yolo.detect import DetectionValidator

from ...data import resolve_data


class ExtValidator(DetectionValidator):
    """Detection validator for our families; `data` may be a `datasets.yaml` name."""

    def __init__(self, dataloader=None, save_dir=None, args=None, _callbacks=None):
        super().__init__(dataloader, save_dir, args, _callbacks)
        if isinstance(self.args.data, str):
            self.args.data = resolve_data(self.args.data)
