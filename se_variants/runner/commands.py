"""``se-variants train | ablate | report | inspect``: dispatched here by ``se_variants.cli``.

``train`` and ``ablate`` plan and check every job (:func:`.plan.make_plan`), then run the plan
(:func:`.sweep.run_plan`) -- or, with ``--dry-run``, print it. Exit codes: 0 every job ok; 1 a job failed (the
others' results and the report stay); 2 a bad command line or config (nothing trained); 130 interrupted.
"""

from __future__ import annotations

import sys
from pathlib import Path

from ..registry import suggest
from .plan import Args, UsageError, make_plan, parse_args
from .validate import ConfigError

__all__ = ["main", "train_main", "ablate_main", "report_main", "COMMANDS"]

COMMANDS = ("train", "report", "ablate", "inspect")

TRAIN_USAGE = """usage: se-variants train [-m] [--dry-run] [--config-dir DIR] [overrides ...]

One training run, or with -m a sweep over every combination of the values given (squeeze=avg,max seed=0,1,2).
Every job is planned and checked before any starts; a sweep runs its jobs in parallel on this machine
(hydra/launcher=workers; basic, processes, slurm), skips the jobs already finished in its folder, resumes the
interrupted ones, and writes report.md / report.csv / jobs.csv / report.png there.

options:
  -m, --multirun        a sweep (one job per combination of the listed values), or a search with
                        hydra/sweeper=optuna and a space ('squeeze=choice(avg,max)' 'optim.lr=interval(0.01,0.1)')
  --dry-run             plan and check every job, print the job list, train nothing
  --confirm K           after a search: train the best configuration and the block=none baseline with K fresh
                        seeds and report the comparison
  -cd, --config-dir DIR a folder of your own config files, searched after the packaged ones
  --help                Hydra's help: the config groups and their options (also --cfg job, --info)

examples:
  se-variants train squeeze=max excite=conv1d
  se-variants train -m squeeze=avg,max excite=fc,conv1d seed=0,1,2
  se-variants train -m block=none,se,eca seed=0,1,2 --dry-run
  se-variants train -m hydra/sweeper=optuna 'squeeze=choice(avg,max,dct)' hydra.sweeper.n_trials=20 --confirm 3
"""

ABLATE_USAGE = """usage: se-variants ablate [--dry-run] [--config-dir DIR] [overrides ...]

Runs the ablation of an experiment config (default: experiment=ablate_digits): every variant in
ablation.variants with every seed in ablation.seeds, as a sweep -- in parallel on this machine by default
(hydra/launcher=workers: as many jobs at once as cores ÷ threads per job), one after another with
hydra/launcher=basic, or on a cluster with hydra/launcher=slurm -- then prints the results table and writes
report.md / report.csv / jobs.csv / report.png into the output folder (hydra.sweep.dir; default
outputs/ablate/<ablation.name>). Finished jobs there are skipped; rerun=true runs them again.

options:
  --dry-run             plan and check every job, print the job list, train nothing
  -cd, --config-dir DIR a folder of your own config files (e.g. DIR/experiment/mine.yaml: experiment=mine)

examples:
  se-variants ablate
  se-variants ablate --dry-run
  se-variants ablate hydra/launcher=basic
  se-variants ablate trainer.max_epochs=30 'ablation.seeds=[0,1,2,3,4]'
  se-variants ablate --config-dir my_configs experiment=mine hydra.sweep.dir=results/mine
"""

REPORT_USAGE = """usage: se-variants report <sweep folder> [--alpha A] [--paired] [--no-plot]

Writes report.md, report.csv (one row per variant), jobs.csv (one row per job) and report.png into the sweep
folder from the metrics.json of its jobs, and prints the table. Sweeps write it when they end; this rebuilds it
(e.g. after a killed sweep, to merge results run into the same folder, or with other statistics).

Each variant is compared with the block=none baseline trained with the same settings: Welch t-test, Holm's
adjustment over the variants of one baseline, 95 % intervals (see docs/statistics.md).

options:
  --alpha A   significance level of the Holm-adjusted tests (default: the jobs' report.alpha, 0.05)
  --paired    paired t-test over the seeds variant and baseline share (default: the jobs' report.paired);
              valid only when a seed fixes randomness both jobs share
  --no-plot   skip report.png
"""


def _parse_report_args(argv: list[str]) -> tuple[Path, float | None, bool | None, bool]:
    """(folder, alpha or None, True or None for --paired, plot) from ``report``'s arguments."""
    folders, alpha, paired, plot = [], None, None, True
    args = iter(argv)
    for a in args:
        if a == "--no-plot":
            plot = False
        elif a == "--paired":
            paired = True
        elif a == "--alpha" or a.startswith("--alpha="):
            value = a.split("=", 1)[1] if "=" in a else next(args, None)
            try:
                alpha = float(value) if value is not None else None
            except ValueError:
                alpha = None
            if alpha is None or not 0.0 < alpha < 1.0:
                raise UsageError(f"--alpha takes a number in (0, 1), e.g. --alpha 0.05; got {value!r}.")
        elif a.startswith("-"):
            raise UsageError(f"unknown option {a!r}.{suggest(a, ['--alpha', '--paired', '--no-plot'])}")
        else:
            folders.append(a)
    if len(folders) != 1:
        raise UsageError(f"expected one sweep folder, got {len(folders)}: {folders}.")
    return Path(folders[0]), alpha, paired, plot


def report_main(argv: list[str]) -> int:
    """``se-variants report``: 0, 1 when a record is broken, 2 for a bad command line or folder."""
    from .report import format_table, write_report

    if not argv or argv[0] in ("-h", "--help"):
        print(REPORT_USAGE)
        return 0 if argv else 2
    try:
        folder, alpha, paired, plot = _parse_report_args(argv)
    except UsageError as err:
        print(f"se-variants report: error: {err}\n\n{REPORT_USAGE}", file=sys.stderr)
        return 2
    if not folder.is_dir():
        print(f"se-variants report: error: {folder} is not a folder (a sweep folder: multirun/<sweep> or "
              f"outputs/ablate/<name>).", file=sys.stderr)
        return 2
    try:
        result = write_report(folder, plot=plot, alpha=alpha, paired=paired)
    except (OSError, ValueError) as err:
        print(f"se-variants report: error: {err}", file=sys.stderr)
        return 2
    if not result["records"] and not result["broken"]:
        print(f"se-variants report: error: no job results (metrics.json) under {folder}.", file=sys.stderr)
        return 2
    if result["rows"]:
        print(format_table(result["rows"]))
    bad = sum(r.get("status") != "ok" for r in result["records"])
    print(f"\n{len(result['records'])} jobs ({bad} failed or unfinished). Wrote: "
          + ", ".join(str(p) for p in result["files"]))
    for b in result["broken"]:
        print(f"se-variants report: broken record, not counted: {b['path']}: {b['problem']}", file=sys.stderr)
    return 1 if result["broken"] else 0


def _run(argv: list[str], prog: str, usage: str, ablation: bool) -> int:
    from .hydra_app import launch

    try:
        args = parse_args(argv)
    except UsageError as err:
        print(f"{prog}: error: {err}\n\n{usage}", file=sys.stderr)
        return 2
    if args.passthrough:  # --help, --cfg job, ...: Hydra prints it
        extra = ["experiment=ablate_digits"] if ablation and not any(
            a.startswith("experiment=") for a in argv) else []
        return launch([*extra, *argv], prog=prog)
    return _plan_and_run(args, argv, prog, ablation)


def _plan_and_run(args: Args, argv: list[str], prog: str, ablation: bool) -> int:
    from .sweep import dry_run, run_plan

    try:
        plan = make_plan(args, ablation=ablation)
    except ConfigError as err:
        print(f"{prog}: error: {err}", file=sys.stderr)
        return 2
    if plan.search is not None:
        from .search import dry_run_search, run_search

        if args.dry_run:
            return dry_run_search(plan)
        return run_search(plan, prog, args.confirm)
    if args.confirm:
        plan_usage = "--confirm confirms the best trial of a search: add hydra/sweeper=optuna and a space."
        print(f"{prog}: error: {plan_usage}", file=sys.stderr)
        return 2
    if args.dry_run:
        return dry_run(plan)
    return run_plan(plan, prog, argv)


def train_main(argv: list[str]) -> int:
    """``se-variants train [-m] [--dry-run] [overrides]``; returns the exit code."""
    if any(a in ("-h", "--usage") for a in argv[:1]):
        print(TRAIN_USAGE)
        return 0
    return _run(argv, "se-variants train", TRAIN_USAGE, ablation=False)


def ablate_main(argv: list[str]) -> int:
    """``se-variants ablate [--dry-run] [overrides]``; returns the exit code."""
    if any(a in ("-h", "--help") for a in argv):
        print(ABLATE_USAGE)
        return 0
    if any(a in ("-m", "--multirun") for a in argv):
        argv = [a for a in argv if a not in ("-m", "--multirun")]  # an ablation is a sweep anyway
    return _run(argv, "se-variants ablate", ABLATE_USAGE, ablation=True)


def main(command: str, argv: list[str]) -> int:
    """Run ``command`` (train, report, ablate or inspect) with its arguments; returns the exit code."""
    if command == "train":
        return train_main(argv)
    if command == "report":
        return report_main(argv)
    if command == "ablate":
        return ablate_main(argv)
    if command == "inspect":
        from .inspect_job import main as inspect_main

        return inspect_main(argv)
    raise ValueError(f"unknown runner command {command!r}; expected one of {', '.join(COMMANDS)}.")
