"""The GPU's mixed precision, proven on the CPU: one training step of every family under `torch.autocast`.

On a GPU, Ultralytics' trainer runs the forward pass and the loss inside `autocast` (`amp=True`). PyTorch's CPU autocast
(bfloat16, and float16 where the build allows it) takes the same code paths: convolutions in low precision, the
losses in float32 where they ask for it. Each family makes one step (forward + loss + backward) on a real batch of
the tiny data sets at 64 px, once in float32 and once under autocast, with the same weights and batch:

- the loss and each of its terms must be finite, returned in float32, and close to the float32 step's;
- every gradient must be finite;
- our own loss terms (GJR's element loss, LD / box distillation, the class-logit KL) must be computed in float32:
  fed the same low-precision head outputs, they give the same values as in float32 (tested apart, tightly, since
  the end-to-end comparison also holds the forward pass's rounding).

Tolerance of the end-to-end comparison: a term may differ by 5 % of itself or 0.1 % of the total loss, whichever is
larger. Measured here over 5 seeds of untrained weights (torch 2.14, CPU, AMD EPYC): box / cls / dfl / l1 / dis terms
within 2.8 % of themselves under bf16 (fp16: 1.2 %); the rounding of the head's outputs moves the task-aligned
assignment (which anchors are foreground) and the sums over those anchors. The LD term of two untrained heads that
share one box start is about 2e-4 of the total loss and a small difference of two near-equal distributions, so the
head's rounding moves it by up to 16 % of itself (bf16; fp16 7 %), 3e-5 of the total: hence the share of the total.
Its float32 computation is checked exactly in `test_our_loss_terms_are_float32_under_autocast` (which found the
DFL read-out of `ld_gate` and box distillation running in bf16: the gated LD term 4 % off, box distillation 0.2 %).
"""

from __future__ import annotations

import contextlib
import copy

import pytest
import torch
from ultralytics.cfg import get_cfg
from ultralytics.data import build_yolo_dataset
from ultralytics.data.utils import check_det_dataset

from ext.losses import GJRLoss
from ext.models.hsd.distill import LDDistillationModel
from ext.nn.tasks import GJADetModel, HSDModel, load_model_yaml

IMGSZ, BATCH = 64, 4
RTOL, SHARE = 5e-2, 1e-3  # a term may differ by RTOL of itself or SHARE of the total loss (module docstring)
DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}
HSD = {"iou_loss": "giou", "dis": 0.0}  # HSDTrainer's defaults
DISTIL = {**HSD, "dis": 1.0, "ld_cls": 1.0, "ld_gate": True, "ld_vlr": 0.25}  # LD (ld_weight 0.25) and every other term on


def real_batch(data_yaml: str) -> tuple[int, dict]:
    """(nc, the first BATCH training images as the trainer's loss sees them): letterboxed to IMGSZ without
    augmentation, collated by the data set, pixels scaled to [0, 1] as `DetectionTrainer.preprocess_batch` does."""
    data = check_det_dataset(data_yaml)
    dataset = build_yolo_dataset(get_cfg(overrides={"imgsz": IMGSZ}), data["train"], BATCH, data, mode="val")
    batch = dataset.collate_fn([dataset[i] for i in range(BATCH)])
    batch["img"] = batch["img"].float() / 255
    assert len(batch["cls"]) > 0
    return data["nc"], batch


def build(yaml: str, cls, nc: int, args: dict, **yaml_keys):
    """An untrained model of `yaml` (keys of its YAML replaced by `yaml_keys`) with the run arguments `args`."""
    torch.manual_seed(0)
    model = cls({**load_model_yaml(yaml), **yaml_keys}, nc=nc, verbose=False)
    model.args = get_cfg(overrides={"imgsz": IMGSZ, **args})
    return model


def distilled(nc: int, **student_keys) -> LDDistillationModel:
    """The HSD student distilled from an HSD teacher, as `HSDTrainer` builds it with `distill_model`."""
    teacher = build("hsd-teacher-n.yaml", HSDModel, nc, DISTIL)
    return LDDistillationModel(teacher, build("hsd-n.yaml", HSDModel, nc, DISTIL, **student_keys))


CASES = {  # name: (data fixture, model builder)
    "hsd-student-distilled": ("fault_tiny", distilled),  # LD on the box distributions
    "hsd-student-box-distilled": ("fault_tiny", lambda nc: distilled(nc, reg_max=1)),  # box distillation (no bins)
    "hsd-teacher": ("fault_tiny", lambda nc: build("hsd-teacher-n.yaml", HSDModel, nc, HSD)),
    "gjadet-gjr": ("crash_tiny", lambda nc: build("gjadet-n.yaml", GJADetModel, nc, {"cls_loss": "gjr"})),
    "hsd-teacher-end2end": ("fault_tiny", lambda nc: build("hsd-teacher-n.yaml", HSDModel, nc, HSD, end2end=True)),
    "hsd-student-end2end-gjr": (
        "fault_tiny", lambda nc: build("hsd-n.yaml", HSDModel, nc, {**HSD, "cls_loss": "gjr"}, end2end=True)),
}


@pytest.fixture(scope="module")
def batches(request) -> dict:
    """One real batch per tiny data set, built once."""
    return {name: real_batch(request.getfixturevalue(name)) for name in ("fault_tiny", "crash_tiny")}


def autocast_or_skip(dtype):
    """`torch.autocast('cpu', dtype)`, or a skip naming why this torch cannot run it."""
    try:
        with torch.autocast("cpu", dtype=dtype):
            out = torch.nn.functional.conv2d(torch.ones(1, 1, 3, 3), torch.ones(1, 1, 1, 1))
    except Exception as e:  # e.g. an older torch: "CPU Autocast only supports dtype of torch.bfloat16"
        pytest.skip(f"torch {torch.__version__} has no CPU autocast to {dtype}: {e}")
    if out.dtype != dtype:
        pytest.skip(f"torch {torch.__version__}'s CPU autocast to {dtype} leaves convolutions in {out.dtype}")
    return torch.autocast("cpu", dtype=dtype)


def tensors(x) -> list[torch.Tensor]:
    """Every tensor in a (nested) head output."""
    if isinstance(x, torch.Tensor):
        return [x]
    if isinstance(x, dict):
        x = list(x.values())
    return [t for v in x for t in tensors(v)] if isinstance(x, (list, tuple)) else []


def upcast(x):
    """A (nested) head output with its floating tensors in float32."""
    if isinstance(x, torch.Tensor):
        return x.float() if x.is_floating_point() else x
    if isinstance(x, dict):
        return {k: upcast(v) for k, v in x.items()}
    return type(x)(upcast(v) for v in x) if isinstance(x, (list, tuple)) else x


def student(model):
    """The detection model itself (the student inside a distillation wrapper)."""
    return model.student_model if isinstance(model, LDDistillationModel) else model


def one_step(model, batch: dict, autocast=None) -> dict:
    """Forward + loss + backward of one training step, from a fresh criterion (GJR statistics at their start) and
    no gradients; returns the loss, its terms, the gradients and the dtypes of the head's outputs."""
    model.train()
    model.criterion = None
    model.zero_grad(set_to_none=True)
    head_dtypes = set()
    hook = student(model).model[-1].register_forward_hook(
        lambda m, i, out: head_dtypes.update(t.dtype for t in tensors(out)))
    try:
        with autocast or contextlib.nullcontext():
            loss, items = model(batch)  # a dict batch: the model's (or the distillation wrapper's) loss
    finally:
        hook.remove()
    loss.sum().backward()
    grads = {n: p.grad for n, p in model.named_parameters() if p.grad is not None}
    return {"loss": loss.detach(), "items": {k: v.detach() for k, v in items.items()}, "grads": grads,
            "head": head_dtypes}


@pytest.mark.parametrize("dtype", DTYPES.values(), ids=DTYPES.keys())
@pytest.mark.parametrize("case", CASES)
def test_one_step_under_autocast_matches_float32(case, dtype, batches):
    fixture, builder = CASES[case]
    nc, batch = batches[fixture]
    autocast = autocast_or_skip(dtype)
    model = builder(nc)
    ref = one_step(model, batch)
    amp = one_step(model, batch, autocast)

    assert ref["head"] == {torch.float32} and dtype in amp["head"]  # autocast ran the network in low precision
    assert amp["loss"].dtype == torch.float32 and torch.isfinite(amp["loss"]).all()
    assert set(amp["items"]) == set(ref["items"])
    total = sum(float(v.sum()) for v in ref["items"].values())
    for k, v in amp["items"].items():
        assert v.dtype == torch.float32 and torch.isfinite(v).all(), (k, v)
        err, want = float((v - ref["items"][k]).abs().max()), float(ref["items"][k].abs().max())
        assert err <= RTOL * want + SHARE * abs(total), f"{k}: {float(v.sum()):.6g} under {dtype}, {want:.6g} in fp32"
    assert float(amp["loss"].sum()) == pytest.approx(float(ref["loss"].sum()), rel=RTOL)
    assert amp["grads"].keys() == ref["grads"].keys() and amp["grads"]
    assert all(torch.isfinite(g).all() for g in amp["grads"].values())
    assert any(g.abs().sum() > 0 for g in amp["grads"].values())


@pytest.mark.parametrize("dtype", DTYPES.values(), ids=DTYPES.keys())
def test_our_loss_terms_are_float32_under_autocast(dtype, batches):
    """Given the low-precision head outputs of an autocast step, GJR's element loss and the distillation terms
    (LD with its gate, box distillation, class-logit KL) equal their float32 computation from the same outputs."""
    autocast = autocast_or_skip(dtype)

    # GJR (GJADet's classification loss): what the criterion hands it under autocast, and what it returns
    nc, batch = batches["crash_tiny"]
    model = build("gjadet-n.yaml", GJADetModel, nc, {"cls_loss": "gjr"})
    model.train()
    model.criterion = model.init_criterion()
    gjr = model.criterion.classification_loss
    assert isinstance(gjr, GJRLoss)
    calls = []
    gjr.register_forward_pre_hook(lambda m, args: calls.append({"before": copy.deepcopy(m)}))
    gjr.register_forward_hook(lambda m, args, out: calls[-1].update(args=args, out=out))
    with autocast:
        model(batch)
    (call,) = calls
    logits, targets = call["args"]
    assert logits.dtype == dtype and call["out"].dtype == torch.float32
    expected = call["before"](logits.float(), targets.float())  # the same statistics, in float32 throughout
    torch.testing.assert_close(call["out"], expected, rtol=1e-6, atol=1e-9)

    # the distillation terms, from the hooked head outputs and the foreground of the autocast step
    nc, batch = batches["fault_tiny"]
    for model in (distilled(nc), distilled(nc, reg_max=1)):
        model.train()
        model.criterion = None
        with autocast:
            model(batch)
            weight, T, w_cls = model._ld_args()
            low = model.kd_terms(weight, T, w_cls)
        n = len(model.feats_idx) - 1
        # the teacher's outputs and the student's class logits come from low-precision convs (the student's box
        # logits are float32: HKH's conv output times its float32 `logit_scale`, after the conv's rounding)
        t, s = (model.decouple_outputs(f[n], branch="one2many") for f in (model._teacher_feats, model._student_feats))
        assert t["boxes"].dtype == s["scores"].dtype == dtype
        model._student_feats[n] = upcast(model._student_feats[n])
        model._teacher_feats[n] = upcast(model._teacher_feats[n])
        high = model.kd_terms(weight, T, w_cls)
        assert low.dtype == torch.float32 and bool((high > 0).all()), high
        torch.testing.assert_close(low, high, rtol=1e-6, atol=1e-9)
