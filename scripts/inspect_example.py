"""Make the ``inspect`` picture of docs/inspect.md, ``docs/inspect_digits.png``, and print its numbers.

Trains the SE job of the default ablation (``experiment=ablate_digits squeeze=avg excite=fc seed=0``: the small
ResNet on the bundled digits, 15 epochs) into a temporary folder with ``se-variants train``, runs
``se-variants inspect`` on it (test split, every sample, the default blocks), prints the per-block statistics and
copies ``excitations_by_class.png`` to the output path. About 30 s on 2 CPU cores; nothing is left behind
unless ``--keep`` names a folder for the job.

    python scripts/inspect_example.py [--out docs/inspect_digits.png] [--keep DIR] [--record]

``--record`` keeps the numbers docs/inspect.md quotes in docs/figures/ and updates the page (scripts/figures.py).
"""

from __future__ import annotations

import argparse
import csv
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from figures import add_record_flag, machine, record  # noqa: E402

JOB = ["experiment=ablate_digits", "squeeze=avg", "excite=fc", "seed=0"]


def run(args: list[str], cwd: Path) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    proc = subprocess.run([sys.executable, "-m", "se_variants.cli", *args], cwd=cwd, env=env, text=True,
                          capture_output=True)
    if proc.returncode != 0:
        sys.exit(f"se-variants {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return proc.stdout


def _figures(printed: str, stats: list[dict[str, str]], first: tuple[float, float]) -> dict[str, tuple[str, str]]:
    """The numbers docs/inspect.md quotes, as sentences that say what the numbers show."""
    eta = [float(r["class_specificity"]) if r["class_specificity"] else float("nan") for r in stats]
    trend = "grows" if all(a < b for a, b in zip(eta, eta[1:])) else "does not grow steadily"
    where = ["the first stage", "the second", "the last"] if len(eta) == 3 else [f"block {i}" for i in range(len(eta))]
    high, low = (f"frac_above_{0.9}", f"frac_below_{0.1}")
    saturating = [(i, float(r[high]), float(r[low])) for i, r in enumerate(stats) if float(r[high]) + float(r[low])]
    sat = ("no stage's scales saturate" if not saturating else
           "; ".join(f"{where[i]}'s scales saturate ({a:.1%} above 0.9, {b:.1%} below 0.1)" for i, a, b in saturating))
    times = first[1] / first[0] if first[0] else float("inf")
    doc = "docs/inspect.md"
    return {"printed": (doc, printed),
            "specificity": (doc, f"The class specificity {trend} with depth: "
                                 + ", ".join(f"{e:.2f} in {w}" for e, w in zip(eta, where)) + f"; {sat}."),
            "first block": (doc, f"its std over images ({first[0]:.3f} per channel) is 1/{times:.0f} of its std "
                                 f"between channels ({first[1]:.3f})")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "inspect_digits.png")
    parser.add_argument("--keep", type=Path, default=None, help="train into this folder and keep it")
    add_record_flag(parser)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="sv-inspect-") as tmp:
        job = (args.keep or Path(tmp) / "se_digits").resolve()
        run(["train", *JOB, "trainer.enable_progress_bar=false", f"hydra.run.dir={job}"], cwd=Path(tmp))
        printed = [run(["inspect", str(job)], cwd=Path(tmp)).split("\n\n")[0]]
        import numpy as np

        spread = {}
        with np.load(job / "inspect" / "excitations.npz") as arrays:
            for name in [k for k in arrays.files if k not in ("labels", "indices")]:
                scale = arrays[name].reshape(len(arrays[name]), -1)  # (images, channels)
                spread[name] = (float(scale.std(0).mean()), float(scale.mean(0).std()))
        first = next(iter(spread))
        printed.append(f"{first}: std over images {spread[first][0]:.4f} (mean over channels), std between channels "
                       f"{spread[first][1]:.4f} (of their means)")
        print("\n".join(printed))
        args.out.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(job / "inspect" / "excitations_by_class.png", args.out)
        stats = list(csv.DictReader(open(job / "inspect" / "excitation_stats.csv")))
    if args.record:
        record("inspect_example", _figures("\n".join(printed), stats, spread[first]), machine(1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
