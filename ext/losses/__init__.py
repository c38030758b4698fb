"""Losses of the HSD / GJADet extension: element-wise classification losses and distillation terms."""

from .classification import (
    CLS_LOSSES,
    BCELoss,
    EQFLoss,
    EQLLoss,
    EQLv2Loss,
    FocalLoss,
    GJRLoss,
    GradientReweightedLoss,
    QualityFocalLoss,
    build_cls_loss,
    quality_focal_element,
)
from .distillation import (
    box_distillation,
    kl_cls,
    ld_kl,
    localization_distillation,
    region_distillation,
    teacher_ahead,
)
from .vlr import valuable_region

__all__ = (
    "CLS_LOSSES",
    "BCELoss",
    "EQFLoss",
    "EQLLoss",
    "EQLv2Loss",
    "FocalLoss",
    "GJRLoss",
    "GradientReweightedLoss",
    "QualityFocalLoss",
    "build_cls_loss",
    "quality_focal_element",
    "kl_cls",
    "ld_kl",
    "box_distillation",
    "localization_distillation",
    "region_distillation",
    "valuable_region",
    "teacher_ahead",
)
