"""``python -m se_variants.train [-m] [overrides]``: the same command as ``se-variants train``."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main(["train", *sys.argv[1:]]))
