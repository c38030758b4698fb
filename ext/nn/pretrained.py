"""Initialise a model from a local weights file (`pretrained=path`), saying how many tensors transferred.

Two kinds of file:
- an Ultralytics checkpoint (`best.pt`, `last.pt`, `yolo11n.pt` ...): tensors transfer by layer name and shape,
  through Ultralytics' own `DetectionModel.load` (which also re-fits the class branch to a new class count);
- a plain state dict (a `{name: tensor}` file such as torchvision's `resnet50-*.pth`, or one under a
  `state_dict` / `model` key): names are mapped onto the model's `TorchVision` backbone layers
  (`layer1.0.conv1.weight` -> `model.0.m.4.0.conv1.weight`), and names already in the model's own form load as
  they are.
A file from which nothing transfers is an error, not a silent no-op. Nothing is ever downloaded.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn
from ultralytics.nn.modules import TorchVision
from ultralytics.utils import LOGGER
from ultralytics.utils.torch_utils import intersect_dicts


def torchvision_names(model: nn.Module) -> dict[str, str]:
    """Map each torchvision child-module name of the model's `TorchVision` layers to its name in the model.

    Returns:
        {'conv1': 'model.0.m.0', 'layer1': 'model.0.m.4', ...} for an unwrapped ResNet at layer 0 (children of a
        leading `Sequential`, e.g. ConvNeXt's `features`, are named `features.0`, ...); `{'': 'model.i.m'}` for a
        layer that is not unwrapped.
    """
    import torchvision  # here, not at the top: about 1 s to import, needed only by TorchVision backbones

    rows = model.yaml["backbone"] + model.yaml["head"]
    out = {}
    for layer in model.model:
        if not isinstance(layer, TorchVision):
            continue
        args = rows[layer.i][3]  # [c2, name, weights, unwrap=True, truncate=2, split=False]
        name, unwrap = args[1], args[3] if len(args) > 3 else True
        if not unwrap:
            out[""] = f"model.{layer.i}.m"
            continue
        with torch.device("meta"):  # the names only: no memory, no weights
            net = torchvision.models.get_model(name, weights=None)
        children = list(net.named_children())
        if isinstance(children[0][1], nn.Sequential):  # as TorchVision unwraps (EfficientNet, ConvNeXt, Swin, VGG)
            first, seq = children[0]
            children = [(f"{first}.{k}", c) for k, c in seq.named_children()] + children[1:]
        out.update({old: f"model.{layer.i}.m.{k}" for k, (old, _) in enumerate(children[: len(layer.m)])})
    return out


def remap_state_dict(sd: dict[str, torch.Tensor], names: dict[str, str]) -> dict[str, torch.Tensor]:
    """Rename the keys of a torchvision state dict with `torchvision_names`; keys of no kept child are dropped."""
    out = {}
    for key, v in sd.items():
        prefix = max((p for p in names if p == "" or key.startswith(p + ".")), key=len, default=None)
        if prefix is not None:
            out[f"{names[prefix]}.{key[len(prefix) + 1:] if prefix else key}"] = v
    return out


def load_pretrained(model: nn.Module, path: str | Path) -> int:
    """Load the tensors of local file `path` that match `model` (by name and shape); return how many.

    Raises:
        FileNotFoundError: no such file.
        ValueError: the file holds no tensors, or none of them matches the model.
    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"pretrained={path}: no such file (weights are never downloaded; give a local file)")
    obj = torch.load(p, map_location="cpu", weights_only=False)  # a local file the user chose, as Ultralytics loads
    own, tv = model.state_dict(), torchvision_names(model)
    ckpt_model = (obj.get("ema") or obj.get("model")) if isinstance(obj, dict) else obj
    if isinstance(ckpt_model, nn.Module):  # an Ultralytics checkpoint (or a pickled module)
        n = len(intersect_dicts(ckpt_model.float().state_dict(), own))
        if n:
            model.load(ckpt_model)  # Ultralytics' transfer (logs 'Transferred n/N items')
        src = ckpt_model.state_dict()
    else:
        src = obj.get("state_dict", obj.get("model", obj)) if isinstance(obj, dict) else {}
        src = {k: v for k, v in src.items() if isinstance(v, torch.Tensor)} if isinstance(src, dict) else {}
        matched = intersect_dicts({**src, **remap_state_dict(src, tv)}, own)
        n = len(matched)
        if n:
            model.load_state_dict(matched, strict=False)
    if not n:
        raise ValueError(
            f"pretrained={path}: none of its {len(src)} tensors matches this model by name and shape "
            f"(file keys start {list(src)[:3]}; model keys start {list(own)[:3]}"
            + (f"; TorchVision children {list(tv)[:4]}" if tv else "") + ")")
    LOGGER.info(f"pretrained={path}: transferred {n}/{len(own)} tensors of the model ({len(src)} in the file)")
    return n
