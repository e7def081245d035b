"""How long the planner takes to check a large sweep before anything trains.

Plans (``preflight``: compose every job, check it, build each variant's model once) a sweep of
``len(SQUEEZES) × len(EXCITES) × --seeds`` jobs twice in one session, so the ratio compares like with like:

* as the planner does it: one Hydra composition per group of jobs that differ only in their seed, the other
  seeds derived from it;
* the reference: every job composed through Hydra (what the planner did before the seed groups).

Prints both wall times, their ratio, and checks that both plans hold identical configs, job by job.

Usage: python scripts/bench_plan.py [--seeds 10]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import tempfile
import time
from unittest import mock

SQUEEZES = "avg,max,avgmax,std,meanstd,h,w,c,dct,conv"
EXCITES = "fc,conv1d,attn,identity,multi_conv"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=10, help="seeds per variant (50 variants)")
    ns = parser.parse_args()

    from se_variants.runner import plan

    argv = ["-m", f"squeeze={SQUEEZES}", f"excite={EXCITES}", f"seed=range(0,{ns.seeds})"]

    def every_job_composed(args, jobs, hydra_overrides):
        return plan._compose([job + hydra_overrides for job in jobs], args)

    with tempfile.TemporaryDirectory(prefix="bench_plan_") as tmp:
        os.chdir(tmp)
        results = {}
        for name in ("seed groups", "reference"):
            patch = mock.patch.object(plan, "_compose_jobs", every_job_composed) if name == "reference" else \
                contextlib.nullcontext()
            with patch:
                start = time.perf_counter()
                planned = plan.preflight(plan.parse_args(argv))
                results[name] = (time.perf_counter() - start, planned.jobs)
    (ours, jobs), (ref, ref_jobs) = results["seed groups"], results["reference"]
    same = jobs == ref_jobs
    print(f"{len(jobs)} jobs ({SQUEEZES.count(',') + 1} squeezes × {EXCITES.count(',') + 1} excites × {ns.seeds} seeds)")
    print(f"  planned with seed groups:        {ours:6.1f} s")
    print(f"  every job composed (reference):  {ref:6.1f} s")
    print(f"  ratio reference / seed groups:   {ref / ours:6.2f}×   identical configs: {same}")
    if not same:
        raise SystemExit("the two plans differ")


if __name__ == "__main__":
    main()
