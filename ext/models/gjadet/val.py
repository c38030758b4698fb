"""`GJADetValidator`: detection validation for GJADet models."""

from ..detector import ExtValidator


class GJADetValidator(ExtValidator):
    """Validator of the GJADet family."""
