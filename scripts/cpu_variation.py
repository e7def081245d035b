"""Do the numbers of a job depend on the CPU? The main job run as on CPUs of other instruction sets, side by side.

torch's CPU kernels pick their code path by the instruction set of the CPU they run on: ATen's vectorised
kernels (``ATEN_CPU_CAPABILITY``: AVX-512, AVX2, or none), oneDNN's convolutions (``ONEDNN_MAX_CPU_ISA``) and MKL's
matrix products (``MKL_ENABLE_INSTRUCTIONS``). Each path adds floating-point numbers in its own order, so the same
seed gives slightly different weights on a laptop with AVX2 than on a server with AVX-512, and after 15 epochs a
test image or two may flip. This script runs ``se-variants ablate`` (the main job, or the overrides given) in
fresh folders, once as this CPU runs it and once per capped instruction set (what a CPU with only that set
computes), and compares the tables: every variant's mean accuracy, the largest difference, and the verdict.

It also checks the remedy for bit-for-bit reproduction across x86 CPUs: the portable kernels (``ATEN_CPU_CAPABILITY
=default ONEDNN_MAX_CPU_ISA=SSE41 MKL_CBWR=COMPATIBLE``), which every x86-64 CPU runs the same way, run once as
they are and once with MKL capped at AVX2, must give identical records.

    python scripts/cpu_variation.py                       # the main job: 5 ablations (about 15 min on 2 cores)
    python scripts/cpu_variation.py 'ablation.variants=["block=none","squeeze=avg excite=fc"]'   # a quick look
    python scripts/cpu_variation.py --record              # keep the figures docs/reproducibility.md quotes
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from figures import add_record_flag, machine, record  # noqa: E402

#: name → the environment that makes this CPU compute as a CPU with that instruction set does
SETTINGS = {
    "this CPU": {},
    "AVX2 only": {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2", "MKL_ENABLE_INSTRUCTIONS": "AVX2"},
}
PORTABLE = {"ATEN_CPU_CAPABILITY": "default", "ONEDNN_MAX_CPU_ISA": "SSE41", "MKL_CBWR": "COMPATIBLE"}
PORTABLE_SETTINGS = {"portable": PORTABLE,
                     "portable, MKL capped at AVX2": {**PORTABLE, "MKL_ENABLE_INSTRUCTIONS": "AVX2"}}
DOC = "docs/reproducibility.md"


def ablate(overrides: list[str], env: dict[str, str], folder: Path) -> tuple[dict[str, list[float]], str, float]:
    """Run the ablation with ``env`` into ``folder``: (variant label → its test accuracies in %, the verdict line,
    wall seconds)."""
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "se_variants.cli", "ablate", *overrides,
                           f"hydra.sweep.dir={folder}"], env={**os.environ, **env}, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"se-variants ablate failed ({proc.returncode}) with {env}:\n{proc.stderr[-3000:]}")
    verdict = next((line for line in proc.stdout.splitlines() if line.startswith("Verdict")), "(no verdict)")
    accs: dict[str, list[float]] = {}
    for path in sorted(folder.glob("*/metrics.json")):
        r = json.loads(path.read_text())
        label = " ".join(o for o in r["overrides"] if not o.startswith(("experiment=", "seed=")) and o not in overrides)
        accs.setdefault(label, []).append(100 * r["metrics"]["test"]["acc"])
    return accs, verdict, time.perf_counter() - start


def records(folder: Path) -> dict[str, dict]:
    """Job folder name → its metrics (train, val, test), for a bit-for-bit comparison."""
    return {p.parent.name: json.loads(p.read_text())["metrics"] for p in folder.glob("*/metrics.json")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("overrides", nargs="*", help="overrides of se-variants ablate (default: the main job)")
    parser.add_argument("--portable-overrides", nargs="*", default=[
        'ablation.variants=["block=none","squeeze=avg excite=fc","squeeze=avg excite=conv1d"]'],
        help="the ablation run with the portable kernels (default: baseline, SE and ECA, 3 seeds each)")
    add_record_flag(parser)
    ns = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="cpu_variation_") as tmp:
        runs = {name: ablate(ns.overrides, env, Path(tmp) / f"native{i}") for i, (name, env) in
                enumerate(SETTINGS.items())}
        portable = {name: Path(tmp) / f"portable{i}" for i, name in enumerate(PORTABLE_SETTINGS)}
        portable_s = [ablate(ns.portable_overrides, env, portable[name])[2] for name, env in PORTABLE_SETTINGS.items()]
        same = records(portable["portable"]) == records(portable["portable, MKL capped at AVX2"])
        n_portable = len(records(portable["portable"]))
        # the cost of the portable kernels: their ablation against the same one on this CPU's own kernels
        native_s = ablate(ns.portable_overrides, {}, Path(tmp) / "native-portable-set")[2]

    names = list(runs)
    variants = list(runs[names[0]][0])
    lines = ["| variant | " + " | ".join(f"{n}: test acc %" for n in names) + " | Δ of the means, pp |",
             "|---|" + "---|" * (len(names) + 1)]
    deltas = []
    for v in variants:
        means = [statistics.mean(runs[n][0][v]) for n in names]
        sds = [statistics.stdev(runs[n][0][v]) if len(runs[n][0][v]) > 1 else 0.0 for n in names]
        deltas.append(max(means) - min(means))
        lines.append(f"| `{v}` | " + " | ".join(f"{m:.2f} ± {s:.2f}" for m, s in zip(means, sds))
                     + f" | {deltas[-1]:.2f} |")
    flipped = sum(a != b for v in variants for a, b in zip(*(runs[n][0][v] for n in names)))
    jobs = sum(len(runs[names[0]][0][v]) for v in variants)
    verdicts = {runs[n][1] for n in names}
    table = "\n".join(lines)
    summary = (f"Of the {jobs} jobs, {flipped} ended with another test accuracy on the AVX2 path; the largest "
               f"difference between a variant's means is {max(deltas):.2f} pp (median {statistics.median(deltas):.2f} "
               f"pp), and the verdict is {'the same' if len(verdicts) == 1 else 'NOT the same'}: "
               + " / ".join(sorted(verdicts)))
    check = (f"The portable kernels gave {'identical' if same else 'DIFFERENT'} records (train, validation and test "
             f"metrics of all {n_portable} jobs, bit for bit) with MKL on its own path and capped at AVX2; their "
             f"ablation took {statistics.mean(portable_s) / native_s:.1f}× the wall time of the same ablation on this "
             f"CPU's own kernels.")
    print(table, summary, check, sep="\n\n")
    if ns.record:
        record("cpu_variation", {"table": (DOC, table), "summary": (DOC, summary), "portable": (DOC, check)},
               machine(1))


if __name__ == "__main__":
    main()
