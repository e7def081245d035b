"""A job's fit against the plain PyTorch loop it wraps, side by side in one process.

The job is ``se-variants train`` with the default config (the digits ResNet with an SE block, 15 epochs) run
in-process through :func:`se_variants.runner.job.run_job`; its ``time_s.fit_s`` is the Lightning fit (training and
validation every epoch, checkpoints, metrics). The reference is the same training written as a plain loop: the
same network and initialisation, the same data order (``EpochSampler``), the same per-sample augmentation
(``SeededItems``), SGD with the same cosine schedule, the same per-epoch reseeding and a validation pass every
epoch. The two alternate for ``--rounds`` rounds after one warm-up of each; the script prints each fit, the
median ratio job / loop, and checks that the two reach the same validation accuracy at the end (they compute the
same thing).

Usage: python scripts/bench_job.py [--rounds 5] [--epochs 15] [overrides ...]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from se_variants.runner.configs import compose
from se_variants.runner.data import DATA
from se_variants.runner.data.base import EpochSampler, SeededItems, ShardSampler, derive_seed
from se_variants.runner.job import run_job
from se_variants.runner.models import MODEL
from se_variants.runner.optim import OPTIM, SCHEDULE
from se_variants.runner.validate import block_spec, check_config


def plain_loop(cfg: dict) -> tuple[float, float]:
    """(seconds, final validation accuracy) of the job's training written as a plain loop."""
    seed, epochs = cfg["seed"], cfg["trainer"]["max_epochs"]
    torch.manual_seed(seed)
    random.seed(seed)
    np.random.seed(seed)
    splits = DATA.build(cfg["data"])
    model = MODEL.build(cfg["model"], splits.in_channels, splits.num_classes, block_spec(cfg))
    optimizer = OPTIM.build(cfg["optim"], model.parameters())
    schedule = SCHEDULE.build(cfg["schedule"], optimizer, epochs)
    sampler = EpochSampler(len(splits.train), seed)
    train = DataLoader(SeededItems(splits.train, seed), batch_size=splits.batch_size, sampler=sampler,
                       generator=torch.Generator().manual_seed(seed))
    val = DataLoader(splits.val, batch_size=splits.batch_size, sampler=ShardSampler(len(splits.val)))
    start = time.perf_counter()
    acc = 0.0
    for epoch in range(epochs):
        s = derive_seed(seed, epoch, 0, 0xE90C)
        random.seed(s)
        np.random.seed(s % 2**32)
        torch.manual_seed(s)
        sampler.set_epoch(epoch)
        model.train()
        for x, y in train:
            loss = F.cross_entropy(model(x), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        model.eval()
        correct = n = 0
        with torch.no_grad():
            for x, y in val:
                correct += int((model(x).argmax(1) == y).sum())
                n += len(y)
        acc = correct / n
        schedule.step()
    return time.perf_counter() - start, acc


def job_fit(cfg: dict, folder: Path) -> tuple[float, float]:
    """(fit seconds, final validation accuracy) of the job, trained from scratch into ``folder``."""
    record = run_job({**cfg, "rerun": True}, folder)
    if record["status"] != "ok":
        sys.exit(f"the job failed: {record['error']}")
    return record["time_s"]["fit_s"], record["metrics"]["val"]["acc"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5, help="counted rounds of (job, loop), after one warm-up")
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("overrides", nargs="*", help="config overrides (default: the default config)")
    ns = parser.parse_args()
    cfg = check_config(compose([f"trainer.max_epochs={ns.epochs}", "trainer.enable_progress_bar=false",
                                *ns.overrides]))
    torch.set_num_threads(cfg.get("threads") or torch.get_num_threads())
    jobs, loops = [], []
    with tempfile.TemporaryDirectory(prefix="bench_job_") as tmp:
        for r in range(ns.rounds + 1):
            order = ("job", "loop") if r % 2 == 0 else ("loop", "job")
            for which in order:
                seconds, acc = job_fit(cfg, Path(tmp) / "job") if which == "job" else plain_loop(cfg)
                if r:  # round 0 warms up both
                    (jobs if which == "job" else loops).append((seconds, acc))
            if r:
                print(f"round {r}: job fit {jobs[-1][0]:.2f} s, plain loop {loops[-1][0]:.2f} s, "
                      f"ratio {jobs[-1][0] / loops[-1][0]:.3f}", flush=True)
    ratios = [j[0] / lo[0] for j, lo in zip(jobs, loops)]
    same = {round(a, 6) for _, a in jobs} == {round(a, 6) for _, a in loops}
    print(f"\njob fit / plain loop, median of {len(ratios)}: {statistics.median(ratios):.3f} "
          f"(min {min(ratios):.3f}, max {max(ratios):.3f}); fit {statistics.median(j for j, _ in jobs):.2f} s vs "
          f"{statistics.median(lo for lo, _ in loops):.2f} s")
    print(f"same final validation accuracy: {same} (job {jobs[0][1]:.4f}, loop {loops[0][1]:.4f})")


if __name__ == "__main__":
    main()
