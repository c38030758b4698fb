"""Train GJADet (adaptive attention PAFPN + GJR loss) and print per-class and class-group APs.

    python train_gjadet.py [key=value ...]  # same keys as `fdet train`, e.g. epochs=10 data=crash-synth
"""

import sys

import ext  # noqa: F401  (registers our arguments with Ultralytics)
from ext.models.gjadet.pipeline import DEFAULTS, main

if __name__ == "__main__":
    from ext.cli import parse_args_or_exit

    main(parse_args_or_exit(sys.argv[1:], prog="train_gjadet.py", defaults=DEFAULTS))
