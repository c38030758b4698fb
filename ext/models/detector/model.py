"""`Detector`: an Ultralytics `Model` whose YAMLs build through our builder and whose `data` may be a catalog name
(resolved by our trainer and validator, the one place each)."""

from __future__ import annotations

from pathlib import Path

from ultralytics.engine.model import Model
from ultralytics.utils import DEFAULT_CFG_DICT, RANK

from ...data import resolve_data
from ...nn.tasks import DetectorModel, load_model_yaml
from ...deploy.benchmark import benchmark_formats
from ...deploy.export import ExtExporter
from ...deploy.predict import SlicedPredictor
from .train import ExtTrainer
from .val import ExtValidator


class Detector(Model):
    """Ultralytics `Model` for our detection families; subclasses change `model_class`, `trainer`, `validator`.

    Examples:
        >>> Detector("yolo11n.yaml").train(data="fault-synth-tiny", epochs=1, imgsz=64)
    """

    model_class = DetectorModel
    trainer_class = ExtTrainer
    validator_class = ExtValidator
    predictor_class = SlicedPredictor
    default_model = "yolo11n.yaml"

    def __init__(self, model: str | Path = None, task: str = "detect", verbose: bool = False) -> None:
        super().__init__(model=model or self.default_model, task="detect", verbose=verbose)

    @property
    def task_map(self) -> dict:
        """Map the detect task to our model, trainer, validator and predictor classes."""
        return {
            "detect": {
                "model": self.model_class,
                "trainer": self.trainer_class,
                "validator": self.validator_class,
                "predictor": self.predictor_class,
            }
        }

    def _new(self, cfg: str, task: str | None = None, verbose: bool = False) -> None:
        """Build a new model from a YAML path or name (ours are found by name, e.g. `hsd-s.yaml`)."""
        d = load_model_yaml(cfg)
        self.cfg, self.task = str(cfg), "detect"
        self.model = self.model_class(d, verbose=verbose and RANK == -1)
        self.overrides.update(model=self.cfg, task=self.task)
        self.model.args = {**DEFAULT_CFG_DICT, **self.overrides}  # allows export straight from a YAML
        self.model.task = self.task
        self.model_name = cfg

    def benchmark(self, data=None, formats=None, format: str = "", **kwargs) -> list[dict]:
        """PyTorch fp32 and each of `formats` (default onnx; `format=` also works) side by side: size, mAP50-95,
        image-level rates, inference ms at batch 1 (benchmark.py). Keys used: imgsz, quantize, device, project/name
        (the folder of benchmark.csv), and for INT8 calibration only split, calib_images (validation is on val).
        """
        self._check_is_pytorch_model()
        args = {**self.overrides, **kwargs}
        out = Path(kwargs["project"]) / (kwargs.get("name") or "benchmark") if kwargs.get("project") else None
        return benchmark_formats(self, data, formats or format or None, imgsz=int(args.get("imgsz") or 640),
                                 quantize=kwargs.get("quantize"), device=kwargs.get("device") or "cpu", out=out,
                                 **{k: kwargs[k] for k in ("split", "calib_images") if kwargs.get(k) is not None})

    def export(self, **kwargs) -> str:
        """Ultralytics' `Model.export` through `ExtExporter` (INT8 ONNX that is fast on CPUs, export.py); `data` may be
        a catalog name. INT8 (`quantize=8`) calibrates on `calib_images` images of `data`'s `split` (default val).

        Raises:
            ValueError: quantize=8 without data= (Ultralytics would fetch COCO; nothing is downloaded here).
        """
        self._check_is_pytorch_model()
        if kwargs.get("data"):
            kwargs["data"] = resolve_data(kwargs["data"])
        elif kwargs.get("quantize") == 8:
            raise ValueError("quantize=8 calibrates on your images: give data= (a catalog name or a data YAML)")
        custom = {"imgsz": self.model.args["imgsz"], "batch": 1, "data": None, "device": None, "verbose": False}
        args = {**self.overrides, **custom, **kwargs, "mode": "export"}  # as Ultralytics' Model.export
        return ExtExporter(overrides=args, _callbacks=self.callbacks)(model=self.model)
