"""Figures the documentation quotes, kept by the scripts that measure them.

A script that measures something README.md or docs/ quote (a table, a time, a ratio) prints it and, run with
``--record``, calls :func:`record`: ``docs/figures/<script>.json`` then holds where and when it was measured
(:func:`machine`: CPU, instruction set, cores, threads, torch and Python versions), the command, and every figure
as the exact text the documents quote, with the document that quotes it. Where a document still quotes a figure's
previous text (the last recording), that text is replaced by the new one, so the documents follow the
measurement; a figure quoted for the first time is placed by hand once. ``tests/test_figures.py`` fails when a
document no longer quotes what its script recorded, so a figure cannot drift from the script that makes it.

Floating-point results of the CPU kernels depend on the instruction set they use (AVX-512, AVX2, ...): a table of
accuracies recorded on one CPU can differ in its last digits on another (docs/reproducibility.md), which is why
every recording names its machine.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
FIGURES = ROOT / "docs" / "figures"

__all__ = ["machine", "machine_line", "record", "add_record_flag", "FIGURES"]


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return " ".join(line.split(":", 1)[1].split())
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine(threads: int | None = None) -> dict[str, Any]:
    """Where a figure is measured: CPU model and the instruction set torch's kernels use, usable cores, torch
    threads (``threads``: the figure's own, e.g. one per job; default torch's), torch and Python versions."""
    import torch

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {"cpu": _cpu_model(), "isa": torch.backends.cpu.get_cpu_capability(), "cores": cores,
            "threads": threads if threads is not None else torch.get_num_threads(), "torch": torch.__version__,
            "python": platform.python_version()}


def machine_line(m: dict[str, Any]) -> str:
    """``Intel(R) Xeon(R) Processor (AVX512 kernels), 2 cores, torch 2.14.1 on 1 thread, Python 3.11.7``."""
    threads = f"{m['threads']} thread{'s' if m['threads'] != 1 else ''}"
    return f"{m['cpu']} ({m['isa']} kernels), {m['cores']} cores, torch {m['torch']} on {threads}, Python {m['python']}"


def record(script: str, figures: dict[str, tuple[str, str]], where: dict[str, Any]) -> Path:
    """Record ``figures`` (name → (document relative to the repository, the exact text it quotes)) measured on
    ``where`` (:func:`machine`) as ``docs/figures/<script>.json``; replace each figure's previous text in its
    document by the new one. The machine's line (:func:`machine_line`) is recorded as the figure ``machine`` of
    every document named. ``script`` is the script's ``__file__``, or a stem that names it and, after a dash, the
    variant measured (``bench_job-ucr``: one recording per variant). Prints what it changed and what must be placed
    by hand."""
    FIGURES.mkdir(parents=True, exist_ok=True)
    stem = Path(script).stem
    # the script's file: a stem may name one of its variants after a dash (bench_sweep-ablate_mnist1d)
    source = f"scripts/{stem.split('-', 1)[0]}.py"
    path = FIGURES / f"{stem}.json"
    old = json.loads(path.read_text()) if path.is_file() else {"figures": {}}
    figures = dict(figures)
    for doc in sorted({doc for doc, _ in figures.values()}):
        figures[f"machine: {doc}"] = (doc, machine_line(where))
    for name, (doc, text) in figures.items():
        before = (old["figures"].get(name) or {}).get("text")
        file = ROOT / doc
        content = file.read_text(encoding="utf-8")
        if text in content:
            continue
        if before and before in content:
            file.write_text(content.replace(before, text), encoding="utf-8")
            print(f"figures: {doc}: {name} updated")
        else:
            print(f"figures: {doc} does not quote {name} yet; place it by hand:\n{text}", file=sys.stderr)
    data = {"script": source, "command": " ".join(["python", source, *sys.argv[1:]]),
            "measured": time.strftime("%Y-%m-%d"), "machine": where,
            "figures": {name: {"doc": doc, "text": text} for name, (doc, text) in figures.items()}}
    path.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"figures: recorded {len(figures)} figure(s) in {path.relative_to(ROOT)}")
    return path


def add_record_flag(parser: Any, doc: str | None = None) -> None:
    """The ``--record`` flag of a script whose figures the documentation quotes, and with ``doc`` its ``--doc``
    option: the document that quotes them (default ``doc``)."""
    parser.add_argument("--record", action="store_true",
                        help="write the figures into docs/figures/ and update the documents that quote them")
    if doc is not None:
        parser.add_argument("--doc", default=doc, help="the document that quotes the figures (with --record)")
