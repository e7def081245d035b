"""How long planning takes, as a ratio to ``python -c "import torch"`` measured side by side.

Times whole commands (a fresh process each, as a user runs them), alternating them round by round so that the
machine's drift hits all alike, and prints each median and its ratio to the torch import:

* ``se-variants ablate --dry-run``: the default ablation planned and every job checked, nothing trained;
* ``se-variants train -m squeeze=<10> excite=<5> 'seed=range(0,10)' --dry-run``: a 500-job sweep;
* ``se-variants ablate experiment=ucr_fcn --dry-run``: the real-data experiment (45 jobs; it reads and
  resamples its three datasets of the UCR/UEA archive);
* ``se-variants list`` and ``se-variants show squeeze=max excite=conv1d``: the library's own commands.

Usage: python scripts/bench_plan.py [--rounds 5] [--record [--doc DOC]]

``--record`` keeps each command's ratio, as docs/speed.md quotes it ("**1.70×** (2.58 s vs 1.52 s)": the command's
median against import torch's), in docs/figures/bench_plan.json and updates the document: see scripts/figures.py.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from figures import add_record_flag, machine, record  # noqa: E402
from timing import alternate, print_ratios  # noqa: E402

SQUEEZES = "avg,max,avgmax,std,meanstd,h,w,c,dct,conv"
EXCITES = "fc,conv1d,attn,identity,multi_conv"
CLI = [sys.executable, "-m", "se_variants.cli"]
COMMANDS = {
    "import torch": [sys.executable, "-c", "import torch"],
    "ablate --dry-run (default ablation)": [*CLI, "ablate", "--dry-run"],
    "train -m ... --dry-run (500 jobs)": [*CLI, "train", "-m", f"squeeze={SQUEEZES}", f"excite={EXCITES}",
                                          "seed=range(0,10)", "--dry-run"],
    "ablate experiment=ucr_fcn --dry-run": [*CLI, "ablate", "experiment=ucr_fcn", "--dry-run"],
    "list": [*CLI, "list"],
    "show squeeze=max excite=conv1d": [*CLI, "show", "squeeze=max", "excite=conv1d"],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5, help="counted rounds, after one warm-up round")
    add_record_flag(parser, doc="docs/speed.md")
    ns = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench_plan_") as cwd:
        times = alternate(COMMANDS, ns.rounds, cwd)
    torch_s = print_ratios(times)
    if ns.record:
        figures = {name: (ns.doc, ratio(statistics.median(values), torch_s))
                   for name, values in times.items() if name != "import torch"}
        figures["rounds"] = (ns.doc, f"medians of {ns.rounds} round{'s' if ns.rounds != 1 else ''}, each command a "
                                       "fresh process")
        record(__file__, figures, machine())


def ratio(seconds: float, torch_s: float) -> str:
    """A command's figure as docs/speed.md quotes it: ``**1.70×** (2.58 s vs 1.52 s)`` (vs import torch)."""
    return f"**{seconds / torch_s:.2f}×** ({seconds:.2f} s vs {torch_s:.2f} s)"


if __name__ == "__main__":
    main()
