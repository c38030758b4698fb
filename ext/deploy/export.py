"""INT8 ONNX export through Ultralytics' exporter, quantized so that ONNX Runtime can run it as INT8 on x86 CPUs.

Why not Ultralytics' own `quantize=8` ONNX file: it quantizes only the Conv / Gemm / MatMul nodes and keeps every
other node (each SiLU's Sigmoid and Mul) in float, so no Conv output is quantized, ONNX Runtime cannot fuse the QDQ
pattern into `QLinearConv`, and every Conv still runs in float behind DequantizeLinear / QuantizeLinear pairs; and
its signed 8-bit activations (S8S8) have no fast kernel on a CPU without VNNI. The profile and timings that showed
it are in docs/design.md ("Prediction and export") and docs/int8_profile.md, with their commands.

What `ExtExporter` does instead for `format=onnx quantize=8`: Ultralytics exports the fp32 graph as usual, then
ONNX Runtime's static quantizer (QDQ) quantizes every node except the box / class decode (the nodes between the
head's last convolutions and the outputs: DFL softmax and expectation, anchor arithmetic, class sigmoid; one INT8
scale cannot span pixels and probabilities), with unsigned 8-bit activations and signed per-channel weights (U8S8,
the x86 fast path) of 7 bits (`reduce_range`: without VNNI the u8 x s8 products are summed in pairs into int16,
which saturates with 8-bit weights; the accuracy that chose 7 bits: docs/design.md, docs/int8_accuracy.md),
calibrated on `calib_images` images of `data` (Ultralytics' calibration loader). Every other format and precision
is Ultralytics' exporter unchanged. Which INT8 path is fastest depends on the CPU (docs/int8_latency.md: on one with
VNNI, OpenVINO's `format=openvino quantize=8`): `fdet benchmark` compares them on the user's hardware.
"""

from __future__ import annotations

from pathlib import Path

from ultralytics.engine.exporter import Exporter
from ultralytics.utils import LOGGER, colorstr

from ..keys import arg

MIN_CALIBRATION = 16  # fewer images cannot give stable activation ranges


def decode_nodes(model) -> list[str]:
    """Names of the nodes reached backwards from the graph outputs without crossing a Conv (the box / class decode),
    Ultralytics' DFL included (a fixed 1x1 Conv named `.../dfl/...` after a Softmax).

    Args:
        model (onnx.ModelProto): the fp32 graph.
    """
    producer = {o: n for n in model.graph.node for o in n.output}
    seen, stack = set(), [o.name for o in model.graph.output]
    while stack:
        node = producer.get(stack.pop())
        if node is None or node.name in seen or (node.op_type == "Conv" and "/dfl/" not in node.name):
            continue
        seen.add(node.name)
        stack += list(node.input)
    return sorted(seen)


class Calibration:
    """ONNX Runtime `CalibrationDataReader` over Ultralytics' calibration batches, at most `limit` images."""

    def __init__(self, loader, transform, limit: int, input_name: str = "images"):
        self.batches, self.transform, self.left, self.name = iter(loader), transform, limit, input_name
        self.seen = 0

    def get_next(self):
        if self.left <= 0:
            return None
        batch = next(self.batches, None)
        if batch is None:
            return None
        x = self.transform(batch)[: self.left]
        self.left -= len(x)
        self.seen += len(x)
        return {self.name: x}


def quantize_int8(src: str | Path, dst: str | Path, loader, transform, limit: int) -> str:
    """Static U8S8 (7-bit weights) QDQ quantization of `src` into `dst`, the decode kept in float (module docstring).

    Raises:
        ValueError: fewer than MIN_CALIBRATION calibration images.
    """
    # here, not at the top: about 1 s to import, needed only by an INT8 ONNX export
    import onnx
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static

    n = len(loader.dataset)
    if n < MIN_CALIBRATION:
        raise ValueError(f"INT8 calibration needs at least {MIN_CALIBRATION} images of the data's split, found {n}: "
                         "give data= a set with more (or split=train)")
    if n < limit:
        LOGGER.warning(f"INT8 calibration: {n} images available, fewer than calib_images={limit}")
    reader = Calibration(loader, transform, limit)
    quantize_static(str(src), str(dst), reader, quant_format=QuantFormat.QDQ, activation_type=QuantType.QUInt8,
                    weight_type=QuantType.QInt8, per_channel=True, reduce_range=True,
                    nodes_to_exclude=decode_nodes(onnx.load(src)))
    LOGGER.info(f"INT8: calibrated on {reader.seen} images; decode kept in float")
    return str(dst)


class ExtExporter(Exporter):
    """Ultralytics' `Exporter`; `format=onnx quantize=8` quantizes as the module docstring says."""

    def export_onnx(self, prefix=colorstr("ONNX:")):  # noqa: B008
        if not (self.args.format == "onnx" and self.args.quantize == 8 and not getattr(self, "qat", False)):
            return super().export_onnx(prefix)
        self.args.quantize = None  # Ultralytics' fp32 export first
        try:
            f = Path(super().export_onnx(prefix))
        finally:
            self.args.quantize = 8
        out = quantize_int8(f, f.with_name(f"{f.stem}_int8{f.suffix}"), self.get_int8_calibration_dataloader(prefix),
                            self._transform_fn, int(arg(self.args, "calib_images")))
        f.unlink(missing_ok=True)
        return out
