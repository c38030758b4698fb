"""`HSDValidator`: detection validation for HSD models."""

from ..detector import ExtValidator


class HSDValidator(ExtValidator):
    """Validator of the HSD family."""
