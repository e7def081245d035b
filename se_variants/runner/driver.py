"""The detached driver of ``--no-wait`` on the ``processes`` launcher: a process in a session of its own (it
outlives the command and its terminal) that runs the submitted jobs ``n_jobs`` at a time -- each in a fresh process
of submitit's local executor, through the same launcher a waiting sweep uses, so with the same numbers and the same
handling of a job whose process dies -- and then exits. While it lives it holds the claim of its folder
``<sweep>/.drivers/<name>/`` (:class:`.submissions.Driver`); its log is ``log.txt`` there.

Why one driver: something must start a job when a slot frees, and the launcher already does that. Every job
started at once, each waiting for a slot, would load ``N`` interpreters at once; a process per slot would need a
queue of its own on disk to share the jobs out. If the driver dies, the jobs it started go on (processes of their
own) and the jobs still waiting are lost: ``se-variants status`` says so, and the same command submits them again.

The command hands the jobs over through the driver's standard input (a pipe, never a file: nothing loaded from
disk runs code) and returns once the driver holds its claim (:func:`detach`). Stop it with ``kill <pid>``: it hands
out no more jobs, and those it started keep running, as after Ctrl-C of a waiting sweep.
"""

from __future__ import annotations

import os
import pickle
import secrets
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from .files import stamp
from .launchers import open_launcher
from .plans import Job
from .submissions import DRIVERS, LOG_FILE, Driver
from .tables import one_line

__all__ = ["detach", "main"]

#: what the driver prints on its standard output once it holds its claim; then the command returns
READY = b"ready\n"


def detach(jobs: list[Job], options: dict[str, Any], sweep_dir: Path, parallel: int | None) -> tuple[int, str]:
    """Start a driver for ``jobs`` (the ``processes`` launcher's ``options``, ``parallel`` at a time) and return
    (its pid, its folder relative to ``sweep_dir``) once it holds its claim. RuntimeError, naming its log, when it
    does not start."""
    name = f"{stamp()}-{secrets.token_hex(3)}"
    folder = sweep_dir / DRIVERS / name
    folder.mkdir(parents=True)
    with open(folder / LOG_FILE, "ab") as log:
        proc = subprocess.Popen([sys.executable, "-m", __name__, str(sweep_dir), name], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=log, start_new_session=True)
    try:
        pickle.dump((jobs, options, parallel), proc.stdin)
        proc.stdin.close()
        ready = proc.stdout.readline()  # the driver answers once it holds its claim, or exits
    except BrokenPipeError:
        ready = b""
    proc.stdout.close()
    if ready != READY:
        code = proc.wait()
        tail = one_line((folder / LOG_FILE).read_text(errors="replace")[-600:], 600)
        raise RuntimeError(f"the driver process did not start (exit {code}); its log {folder / LOG_FILE}: {tail}")
    return proc.pid, f"{DRIVERS}/{name}"


def _stop(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signal.Signals(signum).name}")


def main(argv: list[str]) -> int:
    """The driver process: ``python -m se_variants.runner.driver <sweep folder> <name>``, the jobs on stdin."""
    sweep_dir, name = Path(argv[0]), argv[1]
    jobs, options, parallel = pickle.load(sys.stdin.buffer)
    driver = Driver(sweep_dir, name)
    try:
        signal.signal(signal.SIGTERM, _stop)
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        os.close(devnull)
        sys.stdout.buffer.write(READY)
        sys.stdout.flush()
        os.dup2(2, 1)  # from now on, prints go to the log with the errors
        print(f"driver {name} (pid {os.getpid()}): {len(jobs)} job(s), {parallel} at a time", flush=True)
        launcher = open_launcher("processes", options, sweep_dir, parallel)
        try:
            for job, s in launcher.run(jobs):
                driver.done(str(job.folder.relative_to(sweep_dir)))
                err = s.get("error") or {}
                why = f": {err.get('type')}: {one_line(err.get('message'), 300)}" if err else ""
                print(f"[{s.get('status')}] {job.label}{why}", flush=True)
        except KeyboardInterrupt:
            print(launcher.close(interrupted=True) or "stopped", flush=True)
            return 130
        launcher.close()
        return 0
    finally:
        driver.close()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
