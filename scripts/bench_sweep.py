"""How much faster sweeps get with parallel launchers, and what a job costs beyond its training.

Runs, each into a fresh temporary folder, in one session so the ratios compare like with like:

1. ``se-variants ablate`` with the default launcher (joblib: as many jobs at once as cores ÷ threads per job) and
   with ``hydra/launcher=basic`` (one job after another), in alternating order over ``--repeats`` rounds; prints
   the wall times, their ratio, and checks that both gave identical test accuracies, job by job;
2. the per-job overhead: two sweeps of 1-epoch jobs (``--jobs`` jobs and 1 job, basic launcher); the marginal
   wall time of a job minus its training loop (fit, as measured inside the job).

Usage: python scripts/bench_sweep.py [--repeats 1] [--jobs 8] [--quick]
(``--quick``: 3 epochs instead of the experiment's 15, for a fast look.)
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def run(args: list[str], cwd: Path) -> tuple[float, subprocess.CompletedProcess]:
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "se_variants.cli", *args], cwd=cwd, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"se-variants {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return elapsed, proc


def records(sweep: Path) -> dict[str, dict]:
    return {p.parent.name: json.loads(p.read_text()) for p in sorted(sweep.glob("*/metrics.json"))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=1, help="rounds of (default, basic) ablations")
    parser.add_argument("--jobs", type=int, default=8, help="jobs of the per-job overhead sweep")
    parser.add_argument("--quick", action="store_true", help="3 epochs per ablation job instead of 15")
    ns = parser.parse_args()
    extra = ["trainer.max_epochs=3"] if ns.quick else []
    with tempfile.TemporaryDirectory(prefix="bench_sweep_") as tmp:
        root = Path(tmp)
        times: dict[str, list[float]] = {"default": [], "basic": []}
        accs: dict[str, dict[str, float]] = {}
        for r in range(ns.repeats):
            order = ("default", "basic") if r % 2 == 0 else ("basic", "default")
            for launcher in order:
                folder = root / f"{launcher}-{r}"
                args = ["ablate", *extra, f"hydra.sweep.dir={folder}"]
                if launcher == "basic":
                    args.append("hydra/launcher=basic")
                elapsed, proc = run(args, root)
                times[launcher].append(elapsed)
                found = {k: v["metrics"]["test"]["acc"] for k, v in records(folder).items()}
                if launcher in accs and accs[launcher] != found:
                    sys.exit(f"{launcher}: accuracies changed between rounds")
                accs[launcher] = found
                if launcher == "default":
                    parallel = next((line for line in proc.stdout.splitlines() if "at a time" in line), "")
                print(f"round {r + 1}: ablate ({launcher}): {elapsed:.1f} s", flush=True)
        same = accs["default"] == accs["basic"]
        n = len(accs["basic"])
        t_default, t_basic = statistics.median(times["default"]), statistics.median(times["basic"])
        print(f"\nse-variants ablate{' ' + ' '.join(extra) if extra else ''}: {n} jobs")
        print(f"  {parallel.split(';')[-1].split('→')[0].strip()}")
        print(f"  default launcher (joblib): {t_default:.1f} s   hydra/launcher=basic: {t_basic:.1f} s   "
              f"speed-up {t_basic / t_default:.2f}x")
        print(f"  test accuracies identical job by job: {same} ({n} jobs)")

        # per-job overhead: marginal wall time per job minus its training loop
        common = ["train", "-m", "trainer.max_epochs=1", "trainer.enable_progress_bar=false", "hydra/launcher=basic"]
        t1, _ = run([*common, "seed=0", f"hydra.sweep.dir={root / 'one'}"], root)
        seeds = ",".join(str(i) for i in range(ns.jobs))
        tn, _ = run([*common, f"seed={seeds}", f"hydra.sweep.dir={root / 'many'}"], root)
        fits = [r["time_s"]["fit_s"] for r in records(root / "many").values()]
        inside = [r["wall_time_s"] - r["time_s"]["fit_s"] for r in records(root / "many").values()]
        marginal = (tn - t1) / (ns.jobs - 1)
        print(f"\nper-job overhead, 1-epoch jobs ({ns.jobs} vs 1 job, basic launcher):")
        print(f"  marginal wall time per job {marginal:.2f} s, of which training loop (fit) "
              f"{statistics.fmean(fits):.2f} s: overhead {marginal - statistics.fmean(fits):.2f} s per job")
        print(f"  inside the job (build + test + measure + records): {statistics.median(inside):.2f} s median")
        if not same:
            sys.exit("accuracies differ between launchers")


if __name__ == "__main__":
    main()
