"""Make the ``inspect`` picture of docs/inspect.md, ``docs/inspect_digits.png``, and print its numbers.

Trains the SE job of the default ablation (``experiment=ablate_digits squeeze=avg excite=fc seed=0``: the small
ResNet on the bundled digits, 15 epochs) into a temporary folder with ``se-variants train``, runs
``se-variants inspect`` on it (test split, every sample, the default blocks), prints the per-block statistics and
copies ``excitations_by_class.png`` to the output path. About 30 s on 2 CPU cores; nothing is left behind
unless ``--keep`` names a folder for the job.

    python scripts/inspect_example.py [--out docs/inspect_digits.png] [--keep DIR]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
JOB = ["experiment=ablate_digits", "squeeze=avg", "excite=fc", "seed=0"]


def run(args: list[str], cwd: Path) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    proc = subprocess.run([sys.executable, "-m", "se_variants.cli", *args], cwd=cwd, env=env, text=True,
                          capture_output=True)
    if proc.returncode != 0:
        sys.exit(f"se-variants {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return proc.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "inspect_digits.png")
    parser.add_argument("--keep", type=Path, default=None, help="train into this folder and keep it")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="sv-inspect-") as tmp:
        job = (args.keep or Path(tmp) / "se_digits").resolve()
        run(["train", *JOB, "trainer.enable_progress_bar=false", f"hydra.run.dir={job}"], cwd=Path(tmp))
        print(run(["inspect", str(job)], cwd=Path(tmp)).split("\n\n")[0])
        import numpy as np

        with np.load(job / "inspect" / "excitations.npz") as arrays:
            for name in [k for k in arrays.files if k not in ("labels", "indices")]:
                scale = arrays[name].reshape(len(arrays[name]), -1)  # (images, channels)
                print(f"{name}: std over images {scale.std(0).mean():.4f} (mean over channels), std between "
                      f"channels {scale.mean(0).std():.4f} (of their means)")
        args.out.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(job / "inspect" / "excitations_by_class.png", args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
