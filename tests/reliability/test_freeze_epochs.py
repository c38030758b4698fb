"""`freeze_epochs=N`: the backbone is frozen for the first N epochs of a run, then trained with the rest."""

from __future__ import annotations

import torch

import ext


def test_backbone_frozen_then_trained(tmp_path, fault_tiny, tiny):
    model = ext.GJADet("gjadet-n.yaml")
    seen = {}

    def snapshot(trainer):
        m = trainer.model
        backbone = [p for k, p in m.named_parameters() if k.startswith("model.0.")]
        head = [p for k, p in m.named_parameters() if k.startswith(f"model.{len(m.model) - 2}.")]
        seen[trainer.epoch] = (all(not p.requires_grad for p in backbone), all(p.requires_grad for p in head),
                               backbone[0].detach().clone())

    model.add_callback("on_train_epoch_end", snapshot)
    model.train(data="fault-synth-tiny", freeze_epochs=1, project=str(tmp_path), name="f", **{**tiny, "epochs": 2})
    frozen0, head0, w0 = seen[0]
    frozen1, head1, w1 = seen[1]
    assert frozen0 and head0  # epoch 1: backbone frozen, neck/head trained
    assert not frozen1 and head1  # epoch 2: everything trains
    assert not torch.equal(w0, w1)  # and the backbone weights moved in epoch 2
