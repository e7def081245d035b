"""``se-variants train | report | ablate | inspect``: dispatched here by ``se_variants.cli``."""

from __future__ import annotations

import sys
from pathlib import Path

__all__ = ["main", "report_main", "COMMANDS"]

COMMANDS = ("train", "report", "ablate", "inspect")

REPORT_USAGE = """usage: se-variants report <sweep folder> [--alpha A] [--paired] [--no-plot]

Writes report.md, report.csv (one row per variant), jobs.csv (one row per job) and report.png into the sweep
folder from the metrics.json of its jobs, and prints the table. Sweeps write it themselves as they go; this
rebuilds it (e.g. after a killed sweep, to merge results run into the same folder, or with other statistics).

Each variant is compared with the block=none baseline trained with the same settings: Welch t-test, Holm's
adjustment over the variants of one baseline, 95 % intervals (see README, "Is the difference real?").

options:
  --alpha A   significance level of the Holm-adjusted tests (default: the jobs' report.alpha, 0.05)
  --paired    paired t-test over the seeds variant and baseline share (default: the jobs' report.paired);
              valid only when a seed fixes randomness both jobs share
  --no-plot   skip report.png
"""


class UsageError(Exception):
    """A bad command line: printed with the usage, exit code 2, no traceback."""


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
            from ..registry import suggest

            raise UsageError(f"unknown option {a!r}.{suggest(a, ['--alpha', '--paired', '--no-plot'])}")
        else:
            folders.append(a)
    if len(folders) != 1:
        raise UsageError(f"expected one sweep folder, got {len(folders)}: {folders}.")
    return Path(folders[0]), alpha, paired, plot


def report_main(argv: list[str]) -> int:
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
    result = write_report(folder, plot=plot, alpha=alpha, paired=paired)
    if not result["records"] and not result["broken"]:
        print(f"se-variants report: error: no job results (metrics.json) under {folder}.", file=sys.stderr)
        return 2
    print(format_table(result["rows"]))
    bad = sum(r.get("status") != "ok" for r in result["records"])
    print(f"\n{len(result['records'])} jobs ({bad} failed or unfinished). Wrote: "
          + ", ".join(str(p) for p in result["files"]))
    for b in result["broken"]:
        print(f"se-variants report: broken record, not counted: {b['path']}: {b['problem']}", file=sys.stderr)
    return 1 if result["broken"] else 0


def main(command: str, argv: list[str]) -> int:
    """Run ``command`` (train, report, ablate or inspect) with its arguments; returns the exit code."""
    if command == "train":
        from .train_cmd import main as train_main

        return train_main(argv)
    if command == "report":
        return report_main(argv)
    if command == "ablate":
        from .train_cmd import ablate_main

        return ablate_main(argv)
    if command == "inspect":
        from .inspect_job import main as inspect_main

        return inspect_main(argv)
    raise ValueError(f"unknown runner command {command!r}; expected one of {', '.join(COMMANDS)}.")
