"""``se-variants train | report | ablate``: dispatched here by ``se_variants.cli``."""

from __future__ import annotations

import sys
from pathlib import Path

__all__ = ["main", "report_main"]

REPORT_USAGE = """usage: se-variants report <sweep folder> [--no-plot]

Writes report.md, report.csv (one row per variant), jobs.csv (one row per job) and report.png into the sweep
folder from the metrics.json of its jobs, and prints the table. Sweeps write it themselves as they go; this
rebuilds it (e.g. after a killed sweep, or to merge results run into the same folder).
"""


def report_main(argv: list[str]) -> int:
    from .report import format_table, write_report

    if not argv or argv[0] in ("-h", "--help"):
        print(REPORT_USAGE)
        return 0 if argv else 2
    flags = [a for a in argv if a.startswith("-") and a != "--no-plot"]
    folders = [a for a in argv if not a.startswith("-")]
    if flags or len(folders) != 1:
        print(f"se-variants report: error: expected one sweep folder{' and --no-plot' if flags else ''}, got "
              f"{argv}.\n\n{REPORT_USAGE}", file=sys.stderr)
        return 2
    folder = Path(folders[0])
    if not folder.is_dir():
        print(f"se-variants report: error: {folder} is not a folder (a sweep folder: multirun/<sweep> or "
              f"outputs/ablate/<name>).", file=sys.stderr)
        return 2
    result = write_report(folder, plot="--no-plot" not in argv)
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
    """Run ``command`` (train, report or ablate) with its arguments; returns the exit code."""
    if command == "train":
        from .hydra_app import main as train_main

        return train_main(argv)
    if command == "report":
        return report_main(argv)
    if command == "ablate":
        from .ablate import main as ablate_main

        return ablate_main(argv)
    raise ValueError(f"unknown runner command {command!r}; expected train, report or ablate.")
