"""The benchmark scripts live in benchmarks/ (not a package): make them importable for their tests."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[2] / "benchmarks"))
