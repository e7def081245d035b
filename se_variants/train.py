"""``python -m se_variants.train [-m] [overrides]``: the same Hydra app as ``se-variants train``."""

import sys

from .runner.train_cmd import main

if __name__ == "__main__":
    sys.exit(main())
