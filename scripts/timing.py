"""Whole commands timed side by side (the planning and status benchmarks): each a fresh process, one warm-up
round, then counted rounds in alternating order, so that a machine's slow spell falls on every command alike."""

from __future__ import annotations

import statistics
import subprocess
import sys
import time

__all__ = ["wall", "alternate", "print_ratios"]


def wall(command: list[str], cwd: str | None = None) -> float:
    """Wall seconds of ``command``; exits naming it when it fails."""
    start = time.perf_counter()
    proc = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"{' '.join(command)} exited {proc.returncode}:\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}")
    return seconds


def alternate(commands: dict[str, list[str]], rounds: int, cwd: str | None = None) -> dict[str, list[float]]:
    """name → wall seconds of each counted round (after one warm-up), the order reversed every other round."""
    times: dict[str, list[float]] = {name: [] for name in commands}
    for r in range(rounds + 1):
        for name in list(commands) if r % 2 == 0 else list(reversed(commands)):
            seconds = wall(commands[name], cwd)
            if r:
                times[name].append(seconds)
    return times


def print_ratios(times: dict[str, list[float]], reference: str = "import torch") -> float:
    """Print each command's median and its ratio to ``reference``'s; returns the reference's median."""
    ref = statistics.median(times[reference])
    rounds = len(next(iter(times.values())))
    print(f"median wall time of {rounds} rounds (each command a fresh process), and the ratio to {reference}:")
    width = max(map(len, times))
    for name, values in times.items():
        median = statistics.median(values)
        print(f"  {name:{width}s} {median:6.2f} s  {median / ref:5.2f}×  "
              f"(min {min(values):.2f}, max {max(values):.2f})")
    return ref
