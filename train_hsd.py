"""Train HSD: the teacher (unless distill_model=... is given), then the distilled student; compare both.

    python train_hsd.py [key=value ...]     # same keys as `fdet train`, e.g. epochs=10 data=fault-synth
"""

import sys

import ext  # noqa: F401  (registers our arguments with Ultralytics)
from ext.models.hsd.pipeline import DEFAULTS, main

if __name__ == "__main__":
    from ext.cli import parse_args_or_exit

    main(parse_args_or_exit(sys.argv[1:], prog="train_hsd.py", defaults=DEFAULTS))
