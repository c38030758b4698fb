"""The names of the loss choices (`cls_loss=`, `iou_loss=`, `gjr_region=`), defined once: `ext.keys` validates
against them and the losses are built from them."""

CLS_LOSSES = ("bce", "focal", "qfl", "eqlv2", "eqfl", "eql", "gjr")
IOU_LOSSES = ("iou", "giou", "diou", "ciou")
# where GJR / EQLv2 count statistics and reweight, and EQL drops rare classes' negatives (not "all")
REWEIGHT_REGIONS = ("foreground", "candidates", "all")
EQL_EVERY_ANCHOR = ("'cls_loss=eql gjr_region=all' is invalid: EQL drops rare classes' negatives at the anchors of "
                    "gjr_region, and at every anchor a rare class would never learn background. Use "
                    "gjr_region=foreground or candidates.")  # refused by ext.keys and by EQLLoss itself
