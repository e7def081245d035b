"""A job's fit against the plain PyTorch loop it wraps, side by side in one process.

The job is ``se-variants train`` run in-process through :func:`se_variants.runner.job.run_job`; its
``time_s.fit_s`` is the Lightning fit (training, validation every epoch when there is a validation split,
checkpoints, metrics). The reference is the same training written as a plain loop: the same network and
initialisation, the same data order (``EpochSampler``), the same per-sample augmentation (``SeededItems``), the
same optimizer and schedule (a plateau schedule stepped with the epoch's mean training loss), the same per-epoch
reseeding, a validation pass every epoch when there is a validation split, and with ``trainer.select=
min_train_loss`` a copy of the weights at every new lowest training loss. The two alternate for ``--rounds``
rounds after one warm-up of each; the script prints each fit, the median ratio job / loop, and checks that the two
end with the same accuracy (validation; without a validation split, test accuracy of the tested weights): they
compute the same thing.

Cases (``--case``):
* ``digits`` (default): the default config, the digits ResNet with an SE block, SGD + cosine, 15 epochs;
* ``ucr``: ``experiment=ucr_fcn`` on ItalyPowerDemand (the smallest steps of the three datasets: the largest share
  of per-step overhead) without a block -- Fawaz et al.'s recipe: FCN, Adam, plateau on the training loss, batch
  auto, no validation, min_train_loss selection -- 100 epochs; ``data.name=ArrowHead`` etc. to change it.

``--clock cpu`` compares CPU time (``time.process_time``: the job's ``Trainer.fit`` against the loop) instead of
wall time: on a machine that other work keeps busy, waiting for a core inflates both wall times unevenly, while
CPU time counts only the work each does.

Usage: python scripts/bench_job.py [--case digits|ucr] [--clock wall|cpu] [--rounds 5] [--epochs N] [overrides ...]
                                  [--record [--doc DOC]]

``--record`` keeps the median ratio as docs/speed.md quotes it ("**1.06×** (median of 5 rounds; the same final
validation accuracy)"; with ``--case ucr`` the dataset and epochs too, with ``--clock cpu`` "CPU time") in
docs/figures/bench_job-<case>[-<data.name>][-cpu].json, one recording per case, dataset (when ``data.name=`` is
given) and clock, and updates the document: see scripts/figures.py.
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

sys.path.insert(0, str(Path(__file__).resolve().parent))

from figures import add_record_flag, machine, record  # noqa: E402

from se_variants.runner.configs import compose  # noqa: E402
from se_variants.runner.data import DATA  # noqa: E402
from se_variants.runner.data.base import EpochSampler, SeededItems, ShardSampler, derive_seed  # noqa: E402
from se_variants.runner.job import run_job  # noqa: E402
from se_variants.runner.models import MODEL  # noqa: E402
from se_variants.runner.optim import OPTIM, SCHEDULE  # noqa: E402
from se_variants.runner.validate import block_spec, check_config, model_node  # noqa: E402


#: what both sides are timed with (--clock): time.perf_counter (wall) or time.process_time (CPU)
CLOCK = {"clock": time.perf_counter}
#: the configs of --case (before --epochs and the command line's overrides)
CASES = {"digits": ([], 15),
         "ucr": (["experiment=ucr_fcn", "data.name=ItalyPowerDemand", "block=none"], 100)}


def _accuracy(model: torch.nn.Module, loader: DataLoader) -> float:
    model.eval()
    correct = n = 0
    with torch.no_grad():
        for x, y in loader:
            correct += int((model(x).argmax(1) == y).sum())
            n += len(y)
    return correct / n


def plain_loop(cfg: dict) -> tuple[float, float]:
    """(seconds, final accuracy) of the job's training written as a plain loop: the validation accuracy after the
    last epoch, or without a validation split the test accuracy of the weights the job would test (not timed)."""
    seed, epochs = cfg["seed"], cfg["trainer"]["max_epochs"]
    torch.manual_seed(seed)
    random.seed(seed)
    np.random.seed(seed)
    splits = DATA.build(cfg["data"])
    model = MODEL.build(model_node(cfg), splits.in_channels, splits.num_classes, block_spec(cfg))
    optimizer = OPTIM.build(cfg["optim"], model.parameters())
    schedule = SCHEDULE.build(cfg["schedule"], optimizer, epochs)
    plateau = isinstance(schedule, torch.optim.lr_scheduler.ReduceLROnPlateau)
    select = cfg["trainer"].get("select") == "min_train_loss"
    sampler = EpochSampler(len(splits.train), seed)
    train = DataLoader(SeededItems(splits.train, seed), batch_size=splits.batch_size, sampler=sampler,
                       generator=torch.Generator().manual_seed(seed))
    val = DataLoader(splits.val, batch_size=splits.batch_size, sampler=ShardSampler(len(splits.val)))
    clock = CLOCK["clock"]
    start = clock()
    acc, best, chosen = 0.0, float("inf"), None
    for epoch in range(epochs):
        s = derive_seed(seed, epoch, 0, 0xE90C)
        random.seed(s)
        np.random.seed(s % 2**32)
        torch.manual_seed(s)
        sampler.set_epoch(epoch)
        model.train()
        sums = torch.zeros(2, dtype=torch.float64)  # loss × samples, samples: the epoch's mean training loss
        for x, y in train:
            loss = F.cross_entropy(model(x), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            sums += torch.stack([loss.detach().double() * len(y), torch.tensor(float(len(y)), dtype=torch.float64)])
        if len(splits.val):
            acc = _accuracy(model, val)
        train_loss = float(sums[0] / sums[1])
        schedule.step(train_loss) if plateau else schedule.step()
        if select and train_loss < best:
            best, chosen = train_loss, {k: v.detach().clone() for k, v in model.state_dict().items()}
    seconds = clock() - start
    if not len(splits.val):
        if chosen is not None:
            model.load_state_dict(chosen)
        acc = _accuracy(model, DataLoader(splits.test, batch_size=splits.batch_size))
    return seconds, acc


def job_fit(cfg: dict, folder: Path) -> tuple[float, float]:
    """(fit seconds, final accuracy as plain_loop gives it) of the job, trained from scratch into ``folder``: its
    ``time_s.fit_s`` (wall), or with ``--clock cpu`` the CPU time of its ``Trainer.fit``."""
    import lightning

    fit, spent = lightning.Trainer.fit, {}

    def timed_fit(self, *args, **kwargs):
        start = time.process_time()
        try:
            return fit(self, *args, **kwargs)
        finally:
            spent["cpu"] = time.process_time() - start

    lightning.Trainer.fit = timed_fit
    try:
        record = run_job({**cfg, "rerun": True}, folder)
    finally:
        lightning.Trainer.fit = fit
    if record["status"] != "ok":
        sys.exit(f"the job failed: {record['error']}")
    stage = "val" if "val" in record["metrics"] else "test"
    seconds = spent["cpu"] if CLOCK["clock"] is time.process_time else record["time_s"]["fit_s"]
    return seconds, record["metrics"][stage]["acc"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--case", choices=sorted(CASES), default="digits")
    parser.add_argument("--clock", choices=("wall", "cpu"), default="wall")
    parser.add_argument("--rounds", type=int, default=5, help="counted rounds of (job, loop), after one warm-up")
    parser.add_argument("--epochs", type=int, default=None, help="default: 15 (digits), 100 (ucr)")
    parser.add_argument("overrides", nargs="*", help="config overrides (default: the case's config)")
    add_record_flag(parser, doc="docs/speed.md")
    ns = parser.parse_args()
    CLOCK["clock"] = time.process_time if ns.clock == "cpu" else time.perf_counter
    base, epochs = CASES[ns.case]
    cfg = check_config(compose([*base, f"trainer.max_epochs={ns.epochs or epochs}",
                                "trainer.enable_progress_bar=false", *ns.overrides]))
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
    print(f"\n({ns.clock} time) job fit / plain loop, median of {len(ratios)}: {statistics.median(ratios):.3f} "
          f"(min {min(ratios):.3f}, max {max(ratios):.3f}); fit {statistics.median(j for j, _ in jobs):.2f} s vs "
          f"{statistics.median(lo for lo, _ in loops):.2f} s")
    what = "validation" if cfg["data"].get("val_fraction", 1) != 0 else "test (of the tested weights)"
    print(f"same final {what} accuracy: {same} (job {jobs[0][1]:.4f}, loop {loops[0][1]:.4f})")
    if ns.record:
        named = [o.split("=", 1)[1] for o in ns.overrides if o.startswith("data.name=")]
        stem = "-".join(["bench_job", ns.case, *named, *(["cpu"] if ns.clock == "cpu" else [])])
        record(stem, {"job fit vs plain loop": (ns.doc, figure(cfg, ns, ratios, same, jobs[0][1], loops[0][1]))},
               machine(torch.get_num_threads()))


def figure(cfg: dict, ns: argparse.Namespace, ratios: list[float], same: bool, job_acc: float, loop_acc: float) -> str:
    """The ratio as docs/speed.md quotes it: ``**1.06×** (median of 5 rounds; the same final validation accuracy)``
    for the digits job; a dataset other than digits, epochs other than the case's default and CPU time are named."""
    epochs, digits = cfg["trainer"]["max_epochs"], ns.case == "digits"
    what = [str(cfg["data"].get("name"))] if not digits or any(o.startswith("data.name=") for o in ns.overrides) else []
    what += [f"{epochs} epoch{'s' if epochs != 1 else ''}"] if not digits or epochs != CASES["digits"][1] else []
    what += ["CPU time"] if ns.clock == "cpu" else []
    what += [f"median of {len(ratios)} round{'s' if len(ratios) != 1 else ''}"]
    accuracy = "validation accuracy" if cfg["data"].get("val_fraction", 1) != 0 else "test accuracy"
    check = f"the same final {accuracy}" if same else f"final {accuracy} {job_acc:.4f} (job) vs {loop_acc:.4f} (loop)"
    return f"**{statistics.median(ratios):.2f}×** ({', '.join(what)}; {check})"


if __name__ == "__main__":
    main()
