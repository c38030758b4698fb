"""Grad-CAM heat maps for our detectors (HSD, GJADet, any Ultralytics detection YAML).

Method, per image:
  1. letterbox to `imgsz` (Ultralytics' `LetterBox`, as predict does), RGB, [0, 1], shape (1, 3, imgsz, imgsz);
  2. forward the detection model in eval mode with a forward hook on `model.model[layer]`, whose output A
     (1, C, h, w) is kept;
  3. target score S = sum over the top detections (Ultralytics' NMS at `conf`, IoU 0.7, at most `top_k`) of each
     detection's class score (sigmoid, the score predict reports), taken from the graph before NMS; when nothing
     passes `conf`, S = the single highest class score over all anchors, so a map is always produced;
  4. G = dS/dA; Grad-CAM = ReLU(sum_c mean_hw(G)_c * A_c), shape (h, w);
  5. upsampled to the letterboxed input, padding cropped, resized to the original image (Ultralytics'
     `scale_masks`), divided by its maximum (all zeros stay zeros), coloured (JET) and blended 50/50 over the image.

Layers: any layer before the head whose output is one tensor. A layer returning a list (HSD's `HKN` neck, layer 10
of `hsd.yaml`) cannot be visualised as one map: pick the `Index` rows that read it (11, 12, 13 = P3, P4, P5).
Default layer: the last neck layer before the head, `len(model.model) - 2` (P5/32 in our YAMLs: `hsd.yaml` 13,
`gjadet.yaml` 25, `yolov8.yaml` 21): a coarse map. For small objects pick the head's finest input
(`model.model[-1].f[0]`: 11 in `hsd.yaml`, 17 in `gjadet.yaml`).
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import torch
from ultralytics.data import load_inference_source
from ultralytics.data.augment import LetterBox
from ultralytics.utils.checks import check_imgsz
from ultralytics.utils.nms import non_max_suppression
from ultralytics.utils.ops import scale_masks
from ultralytics.utils.torch_utils import select_device

from .common import load_model, run_dir


def valid_layers(net: torch.nn.Module) -> list[int]:
    """Indices of the layers of a `DetectionModel` (`net.model`) that Grad-CAM accepts: before the head, one tensor."""
    return [i for i, m in enumerate(net.model[:-1]) if not getattr(m, "returns_list", False)]


def _ranges(ids: list[int]) -> str:
    """[0, 1, 2, 5, 6] -> '0-2, 5-6'."""
    parts, start = [], None
    for k, i in enumerate(ids):
        if start is None:
            start = i
        if k + 1 == len(ids) or ids[k + 1] != i + 1:
            parts.append(f"{start}-{i}" if i > start else f"{i}")
            start = None
    return ", ".join(parts)


def _layer_error(net: torch.nn.Module, layer, why: str) -> ValueError:
    """A ValueError naming the valid layers (and the Index rows of list-output layers)."""
    n = len(net.model)
    msg = f"layer={layer} {why}. Valid Grad-CAM layers of this {n}-layer model: {_ranges(valid_layers(net))}"
    listed = [i for i, m in enumerate(net.model[:-1]) if getattr(m, "returns_list", False)]
    for i in listed:
        readers = [j for j, m in enumerate(net.model) if type(m).__name__ == "Index" and m.f == i]
        msg += f"; layer {i} ({type(net.model[i]).__name__}) outputs a list, use the Index layers {readers}"
    return ValueError(msg + f" (layer {n - 1} is the head).")


def check_layer(net: torch.nn.Module, layer: int | None) -> int:
    """Return `layer`, or the default (last neck layer before the head) when None; raise ValueError if invalid."""
    ok = valid_layers(net)
    if layer is None:
        return len(net.model) - 2 if len(net.model) - 2 in ok else ok[-1]
    if isinstance(layer, bool) or not isinstance(layer, (int, np.integer)):
        raise _layer_error(net, layer, "is not an integer")
    if int(layer) not in ok:
        why = "is the detection head" if layer == len(net.model) - 1 else "outputs a list"
        why = why if 0 <= layer < len(net.model) else "is out of range"
        raise _layer_error(net, layer, why)
    return int(layer)


def cam_map(net: torch.nn.Module, layer: int, x: torch.Tensor, conf: float = 0.25, top_k: int = 10) -> torch.Tensor:
    """Grad-CAM of one letterboxed image.

    Args:
        net: an Ultralytics `DetectionModel` (put in eval mode here, its mode restored after).
        layer: index into `net.model` (see `check_layer`).
        x: (1, 3, H, W) float RGB in [0, 1], H and W multiples of the model stride.
        conf: score threshold of the detections that make the target score. top_k: at most this many of them.

    Returns:
        (H, W) float tensor in [0, 1] on x's device, aligned with x.
    """
    store = {}

    def hook(module, inputs, output):
        if not (isinstance(output, torch.Tensor) and output.ndim == 4):
            raise _layer_error(net, layer, f"outputs {type(output).__name__}, not one (B, C, H, W) tensor")
        store["act"] = output

    was_training = net.training
    net.eval()
    handle = net.model[layer].register_forward_hook(hook)
    try:
        with torch.enable_grad():
            x = x.detach().clone().requires_grad_(True)  # gives every activation a graph, whatever the params say
            out = net(x)
            pred = out[0] if isinstance(out, (list, tuple)) else out
            end2end = pred.ndim == 3 and pred.shape[-1] == 6  # (1, max_det, 6) rows x1 y1 x2 y2 score cls
            dets, keep = non_max_suppression(pred.detach(), conf, 0.7, max_det=top_k, end2end=end2end,
                                             return_idxs=True)
            idx = keep[0].view(-1).long()
            if end2end:
                score = pred[0, idx, 4].sum() if len(idx) else pred[0, :, 4].max()
            elif len(idx):
                score = pred[0, 4 + dets[0][:, 5].long(), idx].sum()
            else:
                score = pred[0, 4:].max()
            act = store["act"]
            (grad,) = torch.autograd.grad(score, act, allow_unused=True)
    finally:
        handle.remove()
        net.train(was_training)
    if grad is None:  # the layer does not reach the scores
        return torch.zeros(x.shape[2:], device=x.device)
    weights = grad.mean(dim=(2, 3), keepdim=True)  # (1, C, 1, 1)
    cam = torch.relu((weights * act).sum(1, keepdim=True)).detach()  # (1, 1, h, w)
    return torch.nn.functional.interpolate(cam, size=x.shape[2:], mode="bilinear", align_corners=False)[0, 0]


def overlay(image: np.ndarray, heat: np.ndarray, alpha: float = 0.5) -> np.ndarray:
    """Blend a heat map over an image: image (H, W, 3) uint8 BGR, heat (H, W) in [0, 1] -> (H, W, 3) uint8 BGR."""
    colour = cv2.applyColorMap(np.uint8(np.clip(heat, 0, 1) * 255), cv2.COLORMAP_JET)
    return cv2.addWeighted(image, 1 - alpha, colour, alpha, 0)


def grad_cam(model_or_path, source, layer: int | None = None, imgsz: int = 640, out=None, conf: float = 0.25,
             device=None, project=None, name=None, exist_ok: bool = False) -> list[Path]:
    """Write one Grad-CAM overlay PNG per image (or video frame) of `source`; return their paths.

    Args:
        model_or_path: checkpoint / YAML path or an Ultralytics `Model` (any of our families).
        source: an image, a folder, a glob or a video (Ultralytics' loaders).
        layer: index into `model.model`; None = the last neck layer before the head (see the module notes).
        imgsz: inference size in pixels (rounded up to a multiple of the stride).
        out: output folder (created); None = `project/name` (`run_dir`; default a new `runs/detect/cam*`).
        conf: score threshold of the detections whose class scores make the target (see the module notes).
        device: torch device ('cpu', '0', ...); None keeps the model's.
        project, name, exist_ok: Ultralytics' run-folder keys, when `out` is not given.

    Returns:
        PNG paths `<out>/<image stem>_cam.png` (videos: `<stem>_<frame>_cam.png`), each the original image's size.

    Raises:
        ValueError: `layer` is not a valid layer (the message lists the valid ones).
    """
    model = load_model(model_or_path)
    net = model.model
    layer = check_layer(net, layer)
    if device is not None:
        net.to(select_device(device, verbose=False))
    param = next(net.parameters())
    stride = int(max(net.stride))
    size = check_imgsz(imgsz, stride=stride, min_dim=2)
    letterbox = LetterBox(size, auto=False, stride=stride)
    save_dir = run_dir("cam", out, project, name, exist_ok)

    saved = []
    dataset = load_inference_source(source)
    for paths, images, _ in dataset:
        for path, im0 in zip(paths, images):
            im = letterbox(image=im0)
            x = torch.from_numpy(np.ascontiguousarray(im[..., ::-1].transpose(2, 0, 1)))
            x = (x.to(param.device, param.dtype) / 255.0)[None]
            heat = cam_map(net, layer, x, conf=conf)
            heat = scale_masks(heat[None, None].float(), im0.shape[:2])[0, 0]
            heat = (heat / heat.max()).nan_to_num(0.0) if heat.max() > 0 else heat
            video = getattr(dataset, "mode", "image") == "video"
            stem = Path(path).stem + (f"_{dataset.frame}" if video else "")
            file = save_dir / f"{stem}_cam.png"
            cv2.imwrite(str(file), overlay(im0, heat.cpu().numpy()))
            saved.append(file)
    return saved
