"""``se-variants train | ablate | report | inspect``: dispatched here by ``se_variants.cli``.

``train`` and ``ablate`` plan and check every job (:func:`.plan.open_planner`), check that this machine can start
them (``sbatch`` for SLURM: not in a dry run), then run the plan (:func:`.sweep.run_plan`) -- or, with
``--dry-run``, print it; with ``--no-wait``, submit it and return (:func:`.sweep.submit_plan`). Exit codes
(:data:`EXIT_CODES`): 0 every job ok; 1 a job failed (the others' results and the report stay); 2 a bad command
line or config (nothing trained); 130 interrupted. ``-h`` / ``--help`` prints the command's usage, then the config
groups as Hydra lists them (``--cfg job`` and Hydra's other flags go to Hydra).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
from pathlib import Path
from typing import Any

from .args import Args, UsageError, parse_args
from .excitations import SATURATED_HIGH, SATURATED_LOW
from .folder_args import not_a_folder, parse_folder_args
from .hydra_app import launch
from .inspect_job import SPLITS, InspectError, inspect_job
from .launcher_choice import check_can_launch, check_no_wait
from .plan import DEFAULT_EXPERIMENT, open_planner
from .plans import Plan, SearchPlan
from .redact import redact
from .report import format_table, write_report
from .results import sweeps_below
from .sweep import dry_run, run_plan, submit_plan
from .tables import text_table
from .validate import ConfigError

__all__ = ["main", "train_main", "ablate_main", "report_main", "COMMANDS"]

COMMANDS = ("train", "report", "ablate", "inspect")

#: what ``train`` and ``ablate`` exit with (their usage texts and docs/runner.md say the same)
EXIT_CODES = """exit codes:
  0    every job ok
  1    a job failed or did not finish (the others' results and the report stay; the same command retries it)
  2    a bad command line or config: nothing was trained
  130  interrupted (Ctrl-C, SIGTERM): finished jobs are kept, the same command goes on"""

TRAIN_USAGE = f"""usage: se-variants train [-m] [--dry-run] [--no-wait] [--config-dir DIR] [--confirm K] [overrides ...]

One training run, or with -m a sweep over every combination of the values given (squeeze=avg,max seed=0,1,2).
Every job is planned and checked before any starts; a sweep runs its jobs in parallel on this machine
(hydra/launcher=workers; basic, processes, slurm), skips the jobs already finished in its folder, resumes the
interrupted ones, and writes report.md / report.csv / jobs.csv / report.png there.

options:
  -m, --multirun        a sweep (one job per combination of the listed values), or a search with
                        hydra/sweeper=optuna and a space ('squeeze=choice(avg,max)' 'optim.lr=interval(0.01,0.1)')
  --dry-run             plan and check every job, print the job list, train nothing
  --no-wait             with hydra/launcher=processes or slurm: submit the sweep's jobs and return;
                        se-variants status <folder> says where they stand
  --confirm K           after a search: train the best configuration and the block=none baseline with K fresh
                        seeds and report the comparison
  -cd, --config-dir DIR a folder of your own config files, searched after the packaged ones
  -h, --help            this text, then the config groups and their options
  --cfg job             the composed config (every key; --resolve to resolve it); --info, --hydra-help: Hydra's

{EXIT_CODES}

examples:
  se-variants train squeeze=max excite=conv1d
  se-variants train -m squeeze=avg,max excite=fc,conv1d seed=0,1,2
  se-variants train -m block=none,se,eca seed=0,1,2 --dry-run
  se-variants train -m hydra/sweeper=optuna 'squeeze=choice(avg,max,dct)' hydra.sweeper.n_trials=20 --confirm 3
"""

ABLATE_USAGE = f"""usage: se-variants ablate [--dry-run] [--no-wait] [--config-dir DIR] [overrides ...]

Runs the ablation of an experiment config (default: experiment=ablate_digits): every variant in
ablation.variants with every seed in ablation.seeds, as a sweep -- in parallel on this machine by default
(hydra/launcher=workers: as many jobs at once as cores ÷ threads per job), one after another with
hydra/launcher=basic, or on a cluster with hydra/launcher=slurm -- then prints the results table and writes
report.md / report.csv / jobs.csv / report.png into the output folder (hydra.sweep.dir; default
outputs/ablate/<ablation.name>, and outputs/ablate/<ablation.name>_<overrides> when overrides on the command line
change what the jobs compute, e.g. outputs/ablate/digits_trainer.max_epochs-30). Finished jobs there are skipped
(more ablation.seeds run only the new seeds); rerun=true runs them again.

options:
  --dry-run             plan and check every job, print the job list, train nothing
  --no-wait             with hydra/launcher=processes or slurm: submit the jobs and return;
                        se-variants status <folder> says where they stand
  -cd, --config-dir DIR a folder of your own config files (e.g. DIR/experiment/mine.yaml: experiment=mine)
  -h, --help            this text, then the config groups and their options
  --cfg job             the composed config (every key); --info, --hydra-help: Hydra's

{EXIT_CODES}

examples:
  se-variants ablate
  se-variants ablate --dry-run
  se-variants ablate hydra/launcher=basic
  se-variants ablate trainer.max_epochs=30 'ablation.seeds=[0,1,2,3,4]'
  se-variants ablate --config-dir my_configs experiment=mine hydra.sweep.dir=results/mine
"""

REPORT_USAGE = """usage: se-variants report <sweep folder> [--alpha A] [--paired] [--no-plot] [--pool]

Writes report.md, report.csv (one row per variant), jobs.csv (one row per job) and report.png into the sweep
folder from the metrics.json of its jobs, and prints the table. Sweeps write it when they end; this rebuilds it
(e.g. after a killed sweep, to merge results run into the same folder, or with other statistics).

A sweep's jobs are the metrics.json files at any depth below its folder, except inside a folder that holds its
own sweep.json: that is another sweep (a search's confirm/, a sweep run into a subfolder), reported apart, into
its own folder -- a confirmation is never pooled with the search it confirms. A folder that only holds sweeps
(multirun/) reports each of them.

Each variant is compared with the block=none baseline trained with the same settings: Welch t-test, Holm's
adjustment over the variants of one baseline, 95 % intervals (see docs/statistics.md).

options:
  --alpha A   significance level of the Holm-adjusted tests (default: the jobs' report.alpha, 0.05)
  --paired    paired t-test over the seeds variant and baseline share (default: the jobs' report.paired);
              valid only when a seed fixes randomness both jobs share
  --no-plot   skip report.png
  --pool      one report of every job below the folder, the sweeps below it included
"""


def _parse_report_args(argv: list[str]) -> tuple[Path, float | None, bool | None, bool, bool]:
    """(folder, alpha or None, True or None for --paired, plot, pool) from ``report``'s arguments."""
    try:
        folder, given, values = parse_folder_args(argv, ("--paired", "--no-plot", "--pool"), {
            "--alpha": (lambda x: 0.0 < x < 1.0, "a number in (0, 1), e.g. --alpha 0.05")})
    except ValueError as err:
        raise UsageError(str(err)) from None
    return (folder, values.get("--alpha"), True if "--paired" in given else None, "--no-plot" not in given,
            "--pool" in given)


def report_main(argv: list[str]) -> int:
    """``se-variants report``: 0, 1 when a record is broken, 2 for a bad command line or folder."""
    if not argv or argv[0] in ("-h", "--help"):
        print(REPORT_USAGE)
        return 0 if argv else 2
    try:
        folder, alpha, paired, plot, pool = _parse_report_args(argv)
    except UsageError as err:
        print(f"se-variants report: error: {err}\n\n{REPORT_USAGE}", file=sys.stderr)
        return 2
    if not folder.is_dir():
        print(f"se-variants report: error: {not_a_folder(folder)}", file=sys.stderr)
        return 2
    sweeps = [folder] if pool else [folder, *sweeps_below(folder)]
    reported, broken = 0, 0
    for sweep in sweeps:
        try:
            result = write_report(sweep, plot=plot, alpha=alpha, paired=paired, pool=pool)
        except (OSError, ValueError) as err:
            print(f"se-variants report: error: {sweep}: {err}", file=sys.stderr)
            return 2
        if not result["records"] and not result["broken"]:
            continue
        reported += 1
        if len(sweeps) > 1:
            print(f"{'' if reported == 1 else chr(10)}== {sweep} ==")
        if result["rows"]:
            print(format_table(result["rows"]))
        statuses = [r.get("status") for r in result["records"]]
        pruned = statuses.count("pruned")
        bad = len(statuses) - statuses.count("ok") - pruned
        print(f"\n{len(statuses)} jobs ({bad} failed or unfinished{f', {pruned} pruned' if pruned else ''}). "
              f"Wrote: " + ", ".join(str(p) for p in result["files"]))
        for b in result["broken"]:
            print(f"se-variants report: broken record, not counted: {b['path']}: {b['problem']}", file=sys.stderr)
        broken += len(result["broken"])
    if not reported:
        print(f"se-variants report: error: no job results (metrics.json) under {folder}.", file=sys.stderr)
        return 2
    return 1 if broken else 0


def _run(argv: list[str], prog: str, usage: str, ablation: bool) -> int:
    try:
        args = parse_args(argv)
    except UsageError as err:
        print(f"{prog}: error: {err}\n\n{usage}", file=sys.stderr)
        return 2
    if args.passthrough:  # --cfg job, --info, ...: Hydra prints it
        return launch(_with_experiment(argv) if ablation else argv, prog=prog)
    try:
        plan = _plan(args, ablation)
    except ConfigError as err:
        print(f"{prog}: error: {redact(str(err))}", file=sys.stderr)
        return 2
    if not args.dry_run:  # what starts the jobs is needed to run them, not to plan them (a SLURM login node's check)
        try:
            check_can_launch(plan.launcher)
        except ConfigError as err:
            if isinstance(plan, SearchPlan):
                plan.planner.close()
            print(f"{prog}: error: {err} Nothing was trained.", file=sys.stderr)
            return 2
    if isinstance(plan, SearchPlan):
        from .search import dry_run_search, run_search  # (Optuna, the search extra: only a search imports it)

        return dry_run_search(plan, args.confirm_trial) if args.dry_run else \
            run_search(plan, prog, argv, args.confirm, args.confirm_trial)
    if args.confirm:
        print(f"{prog}: error: --confirm confirms the best trial of a search: add hydra/sweeper=optuna and a space.",
              file=sys.stderr)
        return 2
    if args.dry_run:
        return dry_run(plan)
    return submit_plan(plan, prog, argv) if args.no_wait else run_plan(plan, prog, argv)


def _with_experiment(argv: list[str]) -> list[str]:
    """``ablate``'s command line for Hydra's own flags: with the default experiment unless one is named."""
    named = any(a.lstrip("+").startswith("experiment=") for a in argv)
    return argv if named else [f"experiment={DEFAULT_EXPERIMENT}", *argv]


def _plan(args: Args, ablation: bool) -> Plan | SearchPlan:
    """A grid or a search, as the command line asks: the one place that chooses. A search plan keeps the planner
    open (it plans each trial); the search closes it."""
    planner = open_planner(args, ablation=ablation)
    try:
        if args.no_wait:  # (before a search plans anything: it cannot be submitted)
            check_no_wait(planner.launcher["name"], planner.multirun, planner.searching)
        if planner.searching:
            if importlib.util.find_spec("optuna") is None:
                raise ConfigError("hydra/sweeper=optuna needs optuna, which is not installed. Install it with: "
                                  "pip install 'se-variants[search]'.")
            from .search import plan_search  # (Optuna, the search extra: only a search imports it)

            return plan_search(planner)
        plan = planner.grid()
    except BaseException:
        planner.close()
        raise
    planner.close()
    return plan


def _help(usage: str, argv: list[str], prog: str) -> int:
    """``-h`` / ``--help``: the command's own usage first (its flags, exit codes, examples), then the config groups
    with their options, as Hydra lists them (the help template of configs/train.yaml; for the options a
    --config-dir adds, too). A reader that leaves early (``| head``) ends it quietly."""
    try:
        print(usage, flush=True)
        code = launch([a if a not in ("-h", "--help") else "--help" for a in argv], prog=prog)
        sys.stdout.flush()
        return code
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # silence the flush at exit
        return 0


def train_main(argv: list[str]) -> int:
    """``se-variants train [-m] [--dry-run] [overrides]``; returns the exit code."""
    if any(a in ("-h", "--help") for a in argv):
        return _help(TRAIN_USAGE, argv, "se-variants train")
    return _run(argv, "se-variants train", TRAIN_USAGE, ablation=False)


def ablate_main(argv: list[str]) -> int:
    """``se-variants ablate [--dry-run] [overrides]``; returns the exit code."""
    if any(a in ("-h", "--help") for a in argv):
        return _help(ABLATE_USAGE, _with_experiment(argv), "se-variants ablate")
    if any(a in ("-m", "--multirun") for a in argv):
        argv = [a for a in argv if a not in ("-m", "--multirun")]  # an ablation is a sweep anyway
    return _run(argv, "se-variants ablate", ABLATE_USAGE, ablation=True)


# ------------------------------------------------------------------------------------------------- inspect


INSPECT_USAGE = """se-variants inspect <job folder> [options]

Runs a split through a trained job's network and records every chosen attention block's gate output (the scale,
before it multiplies x); writes <job>/inspect/: excitations.npz, excitation_stats.csv, excitations_by_class.csv,
excitations_by_class.png (SENet Fig. 6), excitations_by_instance.png (Fig. 7), inspect.json."""


class _InspectParser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # exit 2 with usage, through InspectError (no traceback)
        raise InspectError(message)


def _ints(text: str) -> list[int]:
    try:
        return [int(t) for t in text.replace(" ", "").split(",") if t]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated class indices such as 0,3,7; got {text!r}")


def _modules(text: str) -> list[str]:
    names = [t for t in text.replace(" ", "").split(",") if t]
    if not names:
        raise argparse.ArgumentTypeError(f"expected comma-separated module names such as my_ops,pkg.ops; got {text!r}")
    return names


def _inspect_parser() -> _InspectParser:
    p = _InspectParser(prog="se-variants inspect", usage=INSPECT_USAGE.split("\n")[0],
                       description=INSPECT_USAGE.split("\n", 2)[2],
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("job", help="a job folder (with metrics.json and checkpoints/last.ckpt)")
    p.add_argument("--split", default="test", choices=SPLITS, help="split to run (default: test)")
    p.add_argument("--classes", type=_ints, default=None, help="class indices, e.g. 0,3,7 (default: all)")
    p.add_argument("--per-class", type=int, default=None, metavar="N",
                   help="samples per class, drawn with --seed (default: every sample of the split)")
    p.add_argument("--channels", type=int, default=50, metavar="K",
                   help="channels drawn per block in the figures, a fixed seeded subset (default: 50)")
    p.add_argument("--blocks", default=None,
                   help="comma-separated block names, or 'all' (default: the last block of each stage and every "
                        "block of the last stage, as SENet Fig. 6)")
    p.add_argument("--seed", type=int, default=0, help="seed of the sample and channel subsets (default: 0)")
    p.add_argument("--ckpt", default=None, help="checkpoint (default: <job>/checkpoints/last.ckpt)")
    p.add_argument("--out", default=None, help="output folder (default: <job>/inspect)")
    p.add_argument("--imports", type=_modules, default=None, metavar="MOD1,MOD2",
                   help="modules to import first, where the job's own ops are registered (the job's imports: "
                        "list; inspect never imports what a job folder names)")
    return p


def inspect_main(argv: list[str]) -> int:
    """``se-variants inspect``: 0 on success, 2 for a bad command line or a job that cannot be inspected."""
    parser = _inspect_parser()
    try:
        try:
            args = parser.parse_args(argv)
        except SystemExit as done:  # --help printed its text
            return int(done.code or 0)
        blocks = None if args.blocks is None else [b for b in args.blocks.split(",") if b]
        result = inspect_job(args.job, split=args.split, classes=args.classes, per_class=args.per_class,
                             channels=args.channels, blocks=blocks, seed=args.seed, checkpoint=args.ckpt,
                             out=args.out, imports=args.imports)
    except InspectError as err:
        print(f"se-variants inspect: error: {err}\n\nusage: {INSPECT_USAGE.splitlines()[0]} (--help for the options)",
              file=sys.stderr)
        return 2
    if result.job.warning:
        print(result.job.warning, file=sys.stderr)
    print(_format_inspect_stats(result.stats))
    print(f"\n{len(result.labels)} {result.split} samples, {len(result.scales)} blocks. Wrote: "
          + ", ".join(str(p) for p in result.files))
    return 0


def _format_inspect_stats(rows: list[dict[str, Any]]) -> str:
    header = ["block", "gate", "shape", "mean", "std", f"> {SATURATED_HIGH}", f"< {SATURATED_LOW}",
              "class specificity"]
    body = [[r["block"], r["gate"], r["shape"], f"{r['mean']:.3f}", f"{r['std']:.3f}",
             f"{r[f'frac_above_{SATURATED_HIGH}']:.1%}", f"{r[f'frac_below_{SATURATED_LOW}']:.1%}",
             "–" if r["class_specificity"] is None else f"{r['class_specificity']:.3f}"] for r in rows]
    return text_table(header, body, left=(0, 1, 2))


def main(command: str, argv: list[str]) -> int:
    """Run ``command`` (train, report, ablate or inspect) with its arguments; returns the exit code."""
    if command == "train":
        return train_main(argv)
    if command == "report":
        return report_main(argv)
    if command == "ablate":
        return ablate_main(argv)
    if command == "inspect":
        return inspect_main(argv)
    raise ValueError(f"unknown runner command {command!r}; expected one of {', '.join(COMMANDS)}.")
