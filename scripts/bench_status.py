"""How long ``se-variants status`` takes on a finished sweep of 500 jobs, as a ratio to ``python -c "import torch"``
measured side by side.

Makes the sweep folder first (not timed): the 500-job grid of ``scripts/bench_plan.py`` (10 squeezes × 5
excitations × 10 seeds) planned and checked by the runner's planner, one job of it trained for real by the job
runner (``se_variants.runner.job.run_job``), and its record written for every job the way the job runner writes
records -- each with its own overrides, config, hashes and variant columns -- with ``sweep.json`` and a finished
submission, as a sweep leaves them. Then times whole commands (a fresh process each, as a user runs them),
alternating them round by round so that the machine's drift hits both alike, prints each median and the ratio,
and lists what ``status`` imports (``python -X importtime``: the largest top-level imports, and whether Hydra or
Lightning is among them).

Usage: python scripts/bench_status.py [--rounds 5] [--record [--doc DOC]]

``--record`` keeps the ratio ("**1.02×** (5.60 s vs 5.50 s, medians of 5 rounds)") and what ``status`` imports, as
docs/speed.md quotes them, in docs/figures/bench_status.json and updates the document: see scripts/figures.py.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from figures import add_record_flag, machine, record  # noqa: E402
from timing import alternate, print_ratios  # noqa: E402

from se_variants.runner.args import parse_args  # noqa: E402
from se_variants.runner.files import write_json  # noqa: E402
from se_variants.runner.identity import config_hashes, variant_columns  # noqa: E402
from se_variants.runner.job import run_job  # noqa: E402
from se_variants.runner.plan import make_plan  # noqa: E402
from se_variants.runner.results import RESULT_FILE  # noqa: E402
from se_variants.runner.submissions import Submission, add_submission, utc_now, write_plan  # noqa: E402

SQUEEZES = "avg,max,avgmax,std,meanstd,h,w,c,dct,conv"
EXCITES = "fc,conv1d,attn,identity,multi_conv"
#: a record's fields that belong to its own job, not to the one trained
OWN = ("overrides", "seed", "config_hash", "variant_hash", "context_hash", "job", "config")


def make_sweep(folder: Path) -> Path:
    """A finished 500-job sweep in ``folder / "sweep"``; returns that folder."""
    sweep = folder / "sweep"
    plan = make_plan(parse_args(["-m", f"squeeze={SQUEEZES}", f"excite={EXCITES}", "seed=range(0,10)", "threads=1",
                                 f"hydra.sweep.dir={sweep}"]))
    assert len(plan.jobs) == 500, len(plan.jobs)
    first = plan.jobs[0]
    quiet = {**first.config, "trainer": {**first.config["trainer"], "enable_progress_bar": False}}  # (a run knob)
    trained = run_job(quiet, first.folder, first.overrides)
    assert trained["status"] == "ok", trained.get("error")
    for job in plan.jobs[1:]:
        record = {k: v for k, v in trained.items() if k not in OWN}
        record.update(**variant_columns(job.config), **config_hashes(job.config), overrides=job.overrides,
                      seed=job.config["seed"], job=job.folder.name, config=job.config)
        job.folder.mkdir(parents=True, exist_ok=True)
        write_json(job.folder / RESULT_FILE, record)
    write_plan(sweep, {"version": 1, "planned": time.strftime("%Y-%m-%dT%H:%M:%S"), "command": [],
                       "launcher": "workers",
                       "jobs": [{"folder": str(j.folder.relative_to(sweep)), "overrides": j.overrides,
                                 "config_hash": j.config_hash, "variant_hash": j.variant_hash} for j in plan.jobs]})
    add_submission(sweep, Submission("workers", utc_now(), "se-variants train -m ...",
                                     {str(j.folder.relative_to(sweep)): None for j in plan.jobs}, ".drivers/done"))
    return sweep


def imports(command: list[str]) -> list[tuple[float, str]]:
    """(cumulative seconds, module) of the top-level imports of ``command``, largest first."""
    proc = subprocess.run([sys.executable, "-X", "importtime", *command[1:]], capture_output=True, text=True)
    out = []
    for line in proc.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            _, cumulative, name = line[len("import time:"):].split("|")
            if not name.startswith("  ") and cumulative.strip().isdigit():
                out.append((int(cumulative) / 1e6, name.strip()))
    return sorted(out, reverse=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5, help="counted rounds, after one warm-up round")
    add_record_flag(parser, doc="docs/speed.md")
    ns = parser.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    with tempfile.TemporaryDirectory(prefix="bench_status_") as tmp:
        print("making a finished sweep of 500 jobs (plans them, trains one) ...", flush=True)
        sweep = make_sweep(Path(tmp))
        commands = {"import torch": [sys.executable, "-c", "import torch"],
                    "status (500 finished jobs)": [sys.executable, "-m", "se_variants.cli", "status", str(sweep)]}
        times = alternate(commands, ns.rounds)
        torch_s = print_ratios(times)
        top = imports(commands["status (500 finished jobs)"])
        heavy = [name for _, name in top if name.split(".")[0] in ("hydra", "omegaconf", "lightning", "matplotlib")]
        print("largest top-level imports of status: " + ", ".join(f"{name} {s:.2f} s" for s, name in top[:6]))
        print(f"Hydra, OmegaConf, Lightning or matplotlib imported: {', '.join(heavy) if heavy else 'none'}")
    if ns.record:
        status_s = statistics.median(times["status (500 finished jobs)"])
        packages = sorted({name.split(".")[0] for name in heavy})
        record(__file__, {
            "status vs import torch": (ns.doc, f"**{status_s / torch_s:.2f}×** ({status_s:.2f} s vs {torch_s:.2f} s, "
                                              f"medians of {ns.rounds} round{'s' if ns.rounds != 1 else ''})"),
            "imports": (ns.doc, "it imports " + (", ".join(packages) if packages else
                                                 "no Hydra, OmegaConf, Lightning or matplotlib")),
        }, machine(int(os.environ["OMP_NUM_THREADS"])))  # (the commands' threads: set above unless given)


if __name__ == "__main__":
    main()
