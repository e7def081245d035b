"""``se-variants status <sweep folder>``: where every job of a sweep stands (:mod:`.standing`) -- one line a job, a
summary line and what to do next -- for a sweep running under any launcher, submitted with ``--no-wait``, or run by
another machine into a shared folder. ``--watch`` refreshes it until no job is pending.

Exit codes: 0 every job finished ok; 1 some failed or were lost and none is pending; 3 some are still pending;
2 a bad command line or folder; 130 Ctrl-C. It reads only what the jobs and their submitters wrote, with bounded
reads, and imports neither Hydra nor Lightning: on a finished sweep of 500 jobs it costs about an ``import torch``
(``scripts/bench_status.py``).
"""

from __future__ import annotations

import os
import shlex
import sys
import time
from pathlib import Path

from .folder_args import not_a_folder, parse_folder_args
from .results import RESULT_FILE
from .standing import Look, Standing, exit_code, look, stand, summary
from .submissions import Queues

__all__ = ["main", "render", "USAGE", "DEFAULT_INTERVAL_S"]

#: seconds between two looks of ``--watch``
DEFAULT_INTERVAL_S = 10.0
#: a label wider than this is not padded (the line stays readable)
_LABEL_WIDTH = 60

USAGE = """usage: se-variants status <sweep folder> [--watch] [--interval SECONDS]

Where each job of a sweep stands: ok, failed (with its reason), pruned, training (host and process, epoch,
heartbeat), starting, queued, or lost (its process or its SLURM job ended without a result), read from the files
the jobs write, the submissions in sweep.json and, for SLURM, squeue and sacct; then what to do next. Works for
every launcher, for sweeps submitted with --no-wait, and for a sweep another machine runs into a shared folder.

options:
  --watch          look again every --interval seconds until no job is pending (Ctrl-C stops)
  --interval S     seconds between two looks with --watch (default: 10)

exit codes: 0 every job finished ok; 1 some failed or were lost and none is pending; 3 some are still pending
(training, starting, queued); 2 a bad command line or folder.
"""


def _parse(argv: list[str]) -> tuple[Path, bool, float]:
    """(folder, watch, interval) from ``status``'s arguments; ValueError naming the fix."""
    folder, given, values = parse_folder_args(argv, ("--watch",), {
        "--interval": (lambda x: x > 0, "a number of seconds > 0, e.g. --interval 30")})
    return folder, "--watch" in given, values.get("--interval", DEFAULT_INTERVAL_S)


def _next_step(view: Look, standings: list[Standing], shown: str) -> str:
    """What the user does now, by the exit code."""
    code = exit_code(standings)
    if code == 3:
        return (f"{sum(s.pending for s in standings)} pending. Look again later, or follow it: "
                f"se-variants status {shown} --watch")
    if code == 0:
        report = view.folder / "report.md"
        newest = max((os.stat(s.job.folder / RESULT_FILE).st_mtime for s in standings), default=0.0)
        if report.is_file() and report.stat().st_mtime >= newest:
            return f"All {len(standings)} finished; the report is up to date: {report}"
        return f"All {len(standings)} finished: run se-variants report {shown}"
    again = f": {view.command}" if view.command else ""
    bad = sum(s.state not in ("ok", "pruned") for s in standings)
    return (f"{bad} did not finish ok. Run the same command again to retry them (finished jobs are skipped, lost ones "
            f"resume from their checkpoints){again}; se-variants report {shown} reports the others.")


def render(view: Look, standings: list[Standing], shown: str) -> str:
    """The text of one look: a line a job, the problems of sweep.json, the summary and the next step."""
    width = min(max((len(s.job.label) for s in standings), default=0), _LABEL_WIDTH)
    lines = [f"{f'[{s.state}]':<11} {s.job.label:<{width}}  {s.detail}" for s in standings]
    lines += [f"note: {p}" for p in view.problems]
    lines += ["", f"{summary(standings)}.", _next_step(view, standings, shown)]
    return "\n".join(lines)


def _print(text: str) -> bool:
    """Print ``text``; False when the reader stopped reading (``| head``): not an error, the rest goes nowhere."""
    try:
        print(text, flush=True)
        return True
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return False


def _wait(seconds: float) -> None:
    """The pause between two looks of ``--watch``."""
    time.sleep(seconds)


def main(argv: list[str]) -> int:
    """``se-variants status``; returns the exit code."""
    if not argv or argv[0] in ("-h", "--help"):
        _print(USAGE)
        return 0 if argv else 2
    try:
        folder, watch, interval = _parse(argv)
    except ValueError as err:
        print(f"se-variants status: error: {err}\n\n{USAGE}", file=sys.stderr)
        return 2
    if not folder.is_dir():
        print(f"se-variants status: error: {not_a_folder(folder)}", file=sys.stderr)
        return 2
    shown = shlex.quote(str(folder))
    clear = watch and sys.stdout.isatty()
    queues: Queues | None = None
    try:
        while True:
            view = look(folder)
            if not view.jobs:
                print(f"se-variants status: error: no jobs in {folder}: neither a sweep.json that lists them nor a "
                      f"job folder (metrics.json or claim.json)." + "".join(f"\n  {p}" for p in view.problems),
                      file=sys.stderr)
                return 2
            if queues is None:
                queues = Queues(folder, view.submissions, slurm_every_s=max(30.0, interval))
            else:
                queues.submissions = view.submissions
                queues.refresh()
            standings = stand(view, queues=queues)
            code = exit_code(standings)
            text = render(view, standings, shown)
            if watch:
                head = f"{time.strftime('%H:%M:%S')} se-variants status {shown} (every {interval:g} s; Ctrl-C stops)"
                text = ("\033[H\033[2J" if clear else "\n") + f"{head}\n\n{text}"
            if not _print(text) or not watch or code != 3:
                return code
            _wait(interval)
    except KeyboardInterrupt:
        print("\nse-variants status: stopped.", file=sys.stderr)
        return 130
