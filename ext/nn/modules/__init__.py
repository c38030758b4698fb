"""Custom layers for the HSD and GJADet re-builds; each YAML-nameable class has a ``yaml_args`` classmethod."""

from .attention import AdaptiveAttention, CoordAtt, DeformSpatial, DynamicReLU, ScaleAttention
from .dla import DLA, DLABlock, DLATree
from .deform import DeformConv, ModulatedDeformConv2d, deform_conv2d_exportable
from .heads import HKH, ScaledConv2d
from .layout import ChannelsFirst
from .necks import HKN

__all__ = (
    "HKH",
    "HKN",
    "DLA",
    "AdaptiveAttention",
    "ChannelsFirst",
    "CoordAtt",
    "DeformConv",
    "DLABlock",
    "DLATree",
    "DeformSpatial",
    "DynamicReLU",
    "ModulatedDeformConv2d",
    "ScaleAttention",
    "ScaledConv2d",
    "deform_conv2d_exportable",
)
