"""The names of the loss choices (`cls_loss=`, `iou_loss=`, `gjr_region=`), defined once: `ext.keys` validates
against them and the losses are built from them."""

CLS_LOSSES = ("bce", "focal", "qfl", "eqlv2", "eqfl", "eql", "gjr")
IOU_LOSSES = ("iou", "giou", "diou", "ciou")
# where GJR / EQLv2 count statistics and reweight, and EQL drops rare classes' negatives (not "all")
REWEIGHT_REGIONS = ("foreground", "candidates", "all")
