"""What a tracker costs a job: the default job (the digits ResNet with an SE block, 15 epochs) run in this process
with ``trainer.loggers=[]`` (metrics.json only), ``[csv]``, ``[mlflow]`` (the embedded SQLite store) and
``[wandb]`` (offline), in alternating order over ``--rounds`` rounds after one warm-up round; prints each median
wall time of a whole job (``run_job``: build, fit, test, records, tracker runs) and its ratio to no tracker.

Usage: python scripts/bench_track.py [--rounds 3] [--epochs 15] [--record [--doc DOC]]

``--record`` keeps each tracker's ratio as docs/speed.md quotes it ("**1.05×** (2.84 s vs 2.70 s)": the job with
the tracker against the job without one, medians) in docs/figures/bench_track.json and updates the document: see
scripts/figures.py.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from figures import add_record_flag, machine, record  # noqa: E402

from se_variants.runner.configs import compose  # noqa: E402
from se_variants.runner.job import run_job  # noqa: E402
from se_variants.runner.validate import check_config  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=15)
    add_record_flag(parser, doc="docs/speed.md")
    ns = parser.parse_args()
    os.environ.setdefault("WANDB_MODE", "offline")
    os.environ.setdefault("WANDB_SILENT", "true")
    trackers = [[], ["csv"], *([["mlflow"]] if importlib.util.find_spec("mlflow") else []),
                *([["wandb"]] if importlib.util.find_spec("wandb") else [])]
    times: dict[str, list[float]] = {",".join(t) or "none": [] for t in trackers}
    with tempfile.TemporaryDirectory(prefix="bench_track_") as tmp:
        store = f"sqlite:///{Path(tmp) / 'mlflow.db'}"
        for r in range(ns.rounds + 1):
            for i, loggers in enumerate(trackers if r % 2 == 0 else list(reversed(trackers))):
                cfg = check_config(compose([f"trainer.max_epochs={ns.epochs}", f"trainer.loggers=[{','.join(loggers)}]",
                                            f"logger.mlflow.tracking_uri={store}",
                                            "trainer.enable_progress_bar=false"]))
                torch.set_num_threads(cfg.get("threads") or 1)
                start = time.perf_counter()
                result = run_job(cfg, Path(tmp) / f"job-{r}-{i}")
                seconds = time.perf_counter() - start
                if result["status"] != "ok":
                    raise SystemExit(f"the job with loggers {loggers} failed: {result['error']}")
                if r:
                    times[",".join(loggers) or "none"].append(seconds)
    base = statistics.median(times["none"])
    print(f"a whole job (median of {ns.rounds} rounds), and its ratio to no tracker:")
    for name, values in times.items():
        label = f"trainer.loggers=[{'' if name == 'none' else name}]"
        print(f"  {label:28s} {statistics.median(values):6.2f} s  {statistics.median(values) / base:5.2f}×")
    if ns.record:
        figures = {f"trainer.loggers=[{name}]": (ns.doc, f"**{statistics.median(values) / base:.2f}×** "
                                                         f"({statistics.median(values):.2f} s vs {base:.2f} s)")
                   for name, values in times.items() if name != "none"}
        figures["rounds"] = (ns.doc, f"medians of {ns.rounds} round{'s' if ns.rounds != 1 else ''} of the default job "
                                       f"({ns.epochs} epoch{'s' if ns.epochs != 1 else ''})")
        record(__file__, figures, machine(torch.get_num_threads()))


if __name__ == "__main__":
    main()
