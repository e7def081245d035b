"""How long the tests take: the fast tier (``pytest -m "not slow"``) and then the full suite (``pytest``), each run
as a subprocess from the repository's root with the options of pyproject.toml (every core, ``-n auto``); prints
each wall time and the counts of pytest's last line.

Arguments this script does not know are passed to both pytest runs (``-n 2``, ``-k test_registry -n 0``, ``-x``).

Usage: python scripts/bench_tests.py [pytest options ...] [--record [--doc DOC]]

``--record`` keeps both times as docs/speed.md quotes them ("**48 s** (2,740 tests on 2 cores)") in
docs/figures/bench_tests.json and updates the document: see scripts/figures.py. A run with a failing test is not
recorded.
"""

from __future__ import annotations

import argparse
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from figures import ROOT, add_record_flag, machine, record  # noqa: E402

#: the outcomes pytest's last line counts, and those that are tests run (not deselected, not warnings)
OUTCOME = re.compile(r"(\d+) (passed|failed|skipped|xfailed|xpassed|errors?|deselected|warnings?)\b")
RUN = ("passed", "failed", "skipped", "xfailed", "xpassed", "error")
#: pytest-xdist's line naming its workers: "created: 2/2 workers" or "2 workers [2740 items]"
WORKERS = re.compile(r"created: (\d+)/\d+ workers|^(\d+) workers \[", re.MULTILINE)


def run(args: list[str]) -> tuple[float, dict[str, int], int | None, str]:
    """(wall seconds, outcome → count of pytest's last line, xdist workers or None, that line) of ``pytest args``."""
    command = [sys.executable, "-m", "pytest", *args]
    print("$ " + shlex.join(["pytest", *args]), flush=True)
    start = time.perf_counter()
    proc = subprocess.run(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    seconds = time.perf_counter() - start
    lines = [line for line in proc.stdout.splitlines() if OUTCOME.search(line)]
    last = lines[-1].strip(" =") if lines else ""
    if proc.returncode != 0 or not last:
        tail = "\n".join(proc.stdout.splitlines()[-30:])
        sys.exit(f"{shlex.join(['pytest', *args])} exited {proc.returncode}:\n{tail}")
    counts: dict[str, int] = {}
    for number, outcome in OUTCOME.findall(last):
        counts[outcome.rstrip("s") if outcome.startswith(("error", "warning")) else outcome] = int(number)
    found = WORKERS.search(proc.stdout)
    workers = int(found.group(1) or found.group(2)) if found else None
    return seconds, counts, workers, last


def duration(seconds: float) -> str:
    """``48 s``, ``3 min 37 s``."""
    total = round(seconds)
    return f"{total} s" if total < 60 else f"{total // 60} min {total % 60} s"


def figure(seconds: float, counts: dict[str, int], workers: int | None, cores: int) -> str:
    """A run as docs/speed.md quotes it: ``**48 s** (2,740 tests on 2 cores)``."""
    tests = sum(n for outcome, n in counts.items() if outcome in RUN)
    if workers is None:
        where = f"in one process on {cores} cores"
    elif workers == cores:
        where = f"on {cores} cores"
    else:
        where = f"in {workers} workers on {cores} cores"
    return f"**{duration(seconds)}** ({tests:,} tests {where})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], allow_abbrev=False,
                                     epilog="other arguments are passed to both pytest runs")
    add_record_flag(parser, doc="docs/speed.md")
    ns, extra = parser.parse_known_args()
    where = machine()
    runs = {"fast tier": ["-m", "not slow", *extra], "full suite": extra}
    figures = {}
    for name, args in runs.items():
        seconds, counts, workers, last = run(args)
        figures[name] = figure(seconds, counts, workers, where["cores"])
        print(f"{name}: {duration(seconds)} wall time ({seconds:.1f} s); pytest: {last}; "
              f"{'xdist workers: ' + str(workers) if workers else 'no xdist workers'}\n  {figures[name]}", flush=True)
    if ns.record:
        record(__file__, {name: (ns.doc, text) for name, text in figures.items()}, where)


if __name__ == "__main__":
    main()
