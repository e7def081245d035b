"""``se-variants train`` and ``se-variants ablate``: plan and check every job (:func:`.plan.preflight`), then run
the Hydra app (:func:`.hydra_app.launch`), whose sweeper launches the planned jobs.

Exit codes: 0 every job ok; 1 a job failed (the others' results and the report stay); 2 a bad command line or
config (nothing trained); 130 interrupted.
"""

from __future__ import annotations

import signal
import sys
import threading
from typing import Any

from .plan import Args, parse_args, preflight
from .validate import ConfigError

__all__ = ["main", "ablate_main", "ABLATE_USAGE"]

ABLATE_USAGE = """usage: se-variants ablate [overrides ...]

Runs the ablation of an experiment config (default: experiment=ablate_digits): every variant in
ablation.variants with every seed in ablation.seeds, as a Hydra sweep -- in parallel on this machine by default
(hydra/launcher=joblib: as many jobs at once as cores ÷ threads per job), one after another with
hydra/launcher=basic, or on a cluster with hydra/launcher=submitit_slurm -- then prints the results table and
writes report.md / report.csv / jobs.csv / report.png into the output folder (hydra.sweep.dir; default
outputs/ablate/<ablation.name>). Finished jobs there are skipped; rerun=true runs them again.

examples:
  se-variants ablate
  se-variants ablate hydra/launcher=basic
  se-variants ablate trainer.max_epochs=30 'ablation.seeds=[0,1,2]'
  se-variants ablate experiment=my_ablation hydra.sweep.dir=results/mine
"""


def _header(plan, ablation: bool) -> str:
    cfg = plan.jobs[0][1]
    at_once = f"{plan.parallel} at a time ({plan.launcher})" if plan.parallel else f"launcher {plan.launcher}"
    if ablation:
        ab = cfg["ablation"]
        model = cfg["model"]
        shape = ", ".join(f"{k}={v}" for k, v in model.items() if k in ("depth", "arch", "dims"))
        return (f"Ablation '{ab['name']}': {len(ab['variants'])} variants × {len(ab['seeds'])} seeds = "
                f"{len(plan.jobs)} jobs; model {model['name']} {shape}, data {cfg['data']['name']}, "
                f"{cfg['trainer']['max_epochs']} epochs; {at_once} → {plan.out_dir}")
    return f"Sweep of {len(plan.jobs)} jobs into {plan.out_dir}, {at_once} (re-running the same command skips " \
           f"finished jobs)."


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signal.Signals(signum).name}")


def _run(args: Args, argv: list[str], prog: str, ablation: bool) -> int:
    from .hydra_app import launch

    # SIGTERM (kill, timeout, a scheduler ending the command) stops the command as Ctrl-C does: a sweep's launcher
    # stops its workers, the job records and the report are written, and the command exits 130
    main_thread = threading.current_thread() is threading.main_thread()  # only it may set signal handlers
    previous = signal.signal(signal.SIGTERM, _interrupt) if main_thread else None
    try:
        try:
            plan = preflight(args, ablation=ablation)
        except ConfigError as err:
            print(f"{prog}: error: {err}", file=sys.stderr)
            return 2
        if plan.multirun:
            print(_header(plan, ablation), flush=True)
        return launch([*(["-m"] if ablation else []), *argv, *plan.added], prog=prog)
    except KeyboardInterrupt:  # before the first job, or after the last one (jobs and sweeps say more)
        print(f"\n{prog}: interrupted.", file=sys.stderr)
        return 130
    finally:
        if main_thread:
            signal.signal(signal.SIGTERM, previous)


def main(argv: list[str] | None = None) -> int:
    """``se-variants train [-m] [overrides]``; returns the exit code."""
    from .hydra_app import launch

    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    if args.passthrough:  # --help, --cfg job, ...: Hydra prints it
        return launch(argv)
    return _run(args, argv, "se-variants train", ablation=False)


def ablate_main(argv: list[str]) -> int:
    """``se-variants ablate [overrides]``; returns the exit code."""
    if any(a in ("-h", "--help") for a in argv):
        print(ABLATE_USAGE)
        return 0
    flags = [a for a in argv if a.startswith("-")]
    if flags:
        print(f"se-variants ablate: error: unknown flag {flags[0]!r}; ablate takes Hydra overrides only "
              f"(e.g. rerun=true, hydra/launcher=basic, hydra.sweep.dir=<folder>).\n\n{ABLATE_USAGE}",
              file=sys.stderr)
        return 2
    return _run(Args(overrides=list(argv)), argv, "se-variants ablate", ablation=True)
