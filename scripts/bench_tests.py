"""How long the tests take: the fast tier (``pytest -m "not slow"``) and then the full suite (``pytest``), each run
as a subprocess from the repository's root with the options of pyproject.toml (every core, ``-n auto``); prints
each wall time and the counts of pytest's last line.

Arguments this script does not know are passed to both pytest runs (``-n 2``, ``-k test_registry -n 0``, ``-x``).

``--load N`` runs the tests on a busy machine: N ``se-variants ablate`` commands at the lowest priority
(``nice -n 19``), each started again as soon as it ends, train in the background (in a temporary folder) for as
long as the tests run. ``--repeat R`` runs each tier R times (each run must pass); ``--only full`` or ``--only
fast`` runs one tier.

Usage: python scripts/bench_tests.py [pytest options ...] [--load N] [--repeat R] [--only fast|full]
                                     [--by-test N] [--record [--doc DOC]]

``--by-test N`` also prints where the CPU time goes: the N tests that take the most, each file's total, and the
fast and slow tiers' totals, split into the CPU of the pytest processes and of the processes the tests start
(measured by the plugin ``scripts/cpu_by_test.py``; read its caveats).

``--record`` keeps the times as docs/speed.md quotes them ("**48 s** (2,740 tests on 2 cores)") in
docs/figures/bench_tests.json (with ``--load``: bench_tests-load.json) and updates the document: see
scripts/figures.py. A run with a failing test is not recorded.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import resource
import shlex
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from figures import ROOT, add_record_flag, machine, record  # noqa: E402

#: the outcomes pytest's last line counts, and those that are tests run (not deselected, not warnings)
OUTCOME = re.compile(r"(\d+) (passed|failed|skipped|xfailed|xpassed|errors?|deselected|warnings?)\b")
RUN = ("passed", "failed", "skipped", "xfailed", "xpassed", "error")
#: pytest-xdist's line naming its workers: "created: 2/2 workers" or "2 workers [2740 items]"
WORKERS = re.compile(r"created: (\d+)/\d+ workers|^(\d+) workers \[", re.MULTILINE)


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run(args: list[str], env: dict[str, str] | None = None) -> tuple[float, dict[str, int], int | None, str]:
    """(wall seconds, outcome → count of pytest's last line, xdist workers or None, that line) of ``pytest args``;
    prints its CPU time (of pytest and every process it waited for)."""
    command = [sys.executable, "-m", "pytest", *args]
    print("$ " + shlex.join(["pytest", *args]), flush=True)
    start, cpu = time.perf_counter(), _children_cpu()
    proc = subprocess.run(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    seconds = time.perf_counter() - start
    print(f"  CPU time: {duration(_children_cpu() - cpu)} ({seconds:.0f} s of wall time)", flush=True)
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


@contextlib.contextmanager
def background_load(n: int) -> Iterator[None]:
    """``n`` ``se-variants ablate`` commands at nice 19, each started again when it ends, until the block ends."""
    if n <= 0:
        yield
        return
    with tempfile.TemporaryDirectory(prefix="bench-tests-load-") as folder:
        loop = (f'i=0; while true; do i=$((i+1)); {shlex.quote(sys.executable)} -m se_variants.cli ablate '
                f'hydra.sweep.dir={shlex.quote(folder)}/load$1/$i > /dev/null 2>&1; done')
        procs = [subprocess.Popen(["nice", "-n", "19", "sh", "-c", loop, "sh", str(k)], cwd=folder,
                                  process_group=0) for k in range(n)]
        print(f"background load: {n} x `nice -n 19 se-variants ablate`, again and again", flush=True)
        try:
            yield
        finally:
            for proc in procs:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def duration(seconds: float) -> str:
    """``48 s``, ``3 min 37 s``."""
    total = round(seconds)
    return f"{total} s" if total < 60 else f"{total // 60} min {total % 60} s"


def figure(seconds: list[float], counts: dict[str, int], workers: int | None, cores: int, load: int = 0) -> str:
    """Runs of one tier as docs/speed.md quotes them: ``**48 s** (2,740 tests on 2 cores)``; several runs:
    ``**12 min 3 s**, **11 min 50 s** (2,898 tests on 2 cores; 2 runs, each passed)``."""
    tests = sum(n for outcome, n in counts.items() if outcome in RUN)
    if workers is None:
        where = f"in one process on {cores} cores"
    elif workers == cores:
        where = f"on {cores} cores"
    else:
        where = f"in {workers} workers on {cores} cores"
    more = [f"{len(seconds)} runs, each passed"] if len(seconds) > 1 else []
    more += [f"beside {load} `nice -n 19 se-variants ablate`"] if load else []
    return ", ".join(f"**{duration(s)}**" for s in seconds) + f" ({tests:,} tests {where}" + \
        "".join(f"; {m}" for m in more) + ")"


def by_test(path: Path, most: int) -> None:
    """Print where the CPU time of the runs recorded in ``path`` (scripts/cpu_by_test.py's lines) went."""
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    spent = {r["test"]: r["self"] + r["children"] for r in rows}
    print(f"CPU time by test ({len(rows)} tests; self: in the pytest process, children: in processes it started):")
    for tier, slow in (("fast tier", False), ("slow tests", True)):
        part = [r for r in rows if r["slow"] is slow]
        print(f"  {tier}: {len(part)} tests, {duration(sum(spent[r['test']] for r in part))} "
              f"(self {duration(sum(r['self'] for r in part))}, children {duration(sum(r['children'] for r in part))})")
    files: dict[str, float] = {}
    for r in rows:
        files[r["test"].split("::")[0]] = files.get(r["test"].split("::")[0], 0.0) + spent[r["test"]]
    print(f"  the {min(most, len(files))} files that take the most:")
    for name, cpu in sorted(files.items(), key=lambda kv: -kv[1])[:most]:
        print(f"    {cpu:7.1f} s  {name}")
    print(f"  the {min(most, len(rows))} tests that take the most (self + children):")
    for r in sorted(rows, key=lambda r: -spent[r["test"]])[:most]:
        print(f"    {spent[r['test']]:7.1f} s  (self {r['self']:5.1f}, children {r['children']:5.1f})  {r['test']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], allow_abbrev=False,
                                     epilog="other arguments are passed to both pytest runs")
    add_record_flag(parser, doc="docs/speed.md")
    parser.add_argument("--load", type=int, default=0, metavar="N",
                        help="N `nice -n 19 se-variants ablate` in the background while the tests run")
    parser.add_argument("--repeat", type=int, default=1, metavar="R", help="run each tier R times")
    parser.add_argument("--only", choices=["fast", "full"], help="run one tier")
    parser.add_argument("--by-test", type=int, default=0, metavar="N",
                        help="print the N tests and files that take the most CPU time (of the last run)")
    ns, extra = parser.parse_known_args()
    if ns.repeat < 1 or ns.load < 0 or ns.by_test < 0:
        parser.error("--repeat takes 1 or more, --load and --by-test 0 or more")
    folder = tempfile.TemporaryDirectory(prefix="bench-tests-cpu-")
    cpu_file = Path(folder.name) / "tests.jsonl"
    env = None
    if ns.by_test:
        here = str(Path(__file__).resolve().parent)
        env = {**os.environ, "SV_TEST_CPU": str(cpu_file),
               "PYTHONPATH": os.pathsep.join(filter(None, [here, os.environ.get("PYTHONPATH")]))}
        extra = ["-p", "cpu_by_test", *extra]
    where = machine()
    runs = {"fast tier": ["-m", "not slow", *extra], "full suite": extra}
    runs = {name: args for name, args in runs.items() if ns.only in (None, name.split()[0])}
    suffix = " under load" if ns.load else ""
    figures = {}
    with folder, background_load(ns.load):
        for name, args in runs.items():
            times = []
            for _ in range(ns.repeat):
                cpu_file.unlink(missing_ok=True)
                seconds, counts, workers, last = run(args, env)
                times.append(seconds)
                print(f"{name}{suffix}: {duration(seconds)} wall time ({seconds:.1f} s); pytest: {last}; "
                      f"{'xdist workers: ' + str(workers) if workers else 'no xdist workers'}", flush=True)
            figures[name + suffix] = figure(times, counts, workers, where["cores"], ns.load)
            print(f"  {figures[name + suffix]}", flush=True)
            if ns.by_test:
                by_test(cpu_file, ns.by_test)
    if ns.record:
        quoted = {name: (ns.doc, text) for name, text in figures.items()}
        record(__file__ if not ns.load else "bench_tests-load", quoted, where)


if __name__ == "__main__":
    main()
