"""The backbone freeze schedule (`freeze_epochs`): backbone layers frozen for the first N epochs, then trained."""

from __future__ import annotations

from ultralytics.utils import LOGGER

from ..nn.tasks import student


def backbone_freeze_schedule(trainer) -> None:
    """Callback (epoch start): backbone layers frozen while epoch < freeze_epochs, trainable afterwards (Ultralytics'
    own `freeze` list stays frozen). Runs at each epoch start, so a resumed run lands in the right phase."""
    n = int(getattr(trainer.args, "freeze_epochs", 0) or 0)
    frozen = trainer.epoch < n
    if not n or getattr(trainer, "_backbone_frozen", None) == frozen:
        return
    model = student(trainer.model)
    prefixes = tuple(f"model.{i}." for i in range(len(model.yaml["backbone"])))
    keep = tuple(getattr(trainer, "freeze_layer_names", ()))
    for k, p in model.named_parameters():
        if k.startswith(prefixes) and p.dtype.is_floating_point and not any(x in f"{k}" for x in keep):
            p.requires_grad_(not frozen)
    trainer._backbone_frozen = frozen
    LOGGER.info(f"freeze_epochs={n}: backbone layers 0-{len(prefixes) - 1} {'frozen' if frozen else 'unfrozen'} "
                f"from epoch {trainer.epoch + 1}")
