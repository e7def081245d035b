"""The main job (``se-variants ablate``) against its compute floor, measured in one run.

1. ``se-variants ablate`` into a fresh folder (the default launcher: as many jobs at once as cores ÷ threads);
   its wall time;
2. the same command again, which trains nothing and prints the table: its wall time, beside
   ``python -c "import torch"``;
   and the peak resident memory of its process tree (the command and its worker processes, sampled twice a
   second from /proc);
3. the floor: every job of the ablation as the plain PyTorch loop it wraps (``scripts/bench_job.py``: same model,
   data order, augmentation, optimizer, schedule, validation every epoch), run as many at once as the ablation
   runs its jobs; floor = Σ loop times ÷ jobs at once + one ``python -c "import lightning"`` (each worker
   process imports Lightning once, in parallel);
4. the ratio wall time ÷ floor, and a check that every job ended with the validation accuracy of its plain loop
   (the two compute the same thing).

Usage: python scripts/bench_sweep.py [overrides ...] [--record [--doc DOC]]   (trainer.max_epochs=3: a quick look)

``--record`` keeps the figures the documentation quotes (the table the ablation printed, its time against its
floor, its memory) in docs/figures/ and updates the document that quotes them (README.md for the main job;
``experiment=ablate_mnist1d --doc docs/runner.md`` for the 1-D ablation): see scripts/figures.py.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_job import plain_loop  # noqa: E402
from figures import add_record_flag, machine, record  # noqa: E402

from se_variants.runner.args import parse_args  # noqa: E402
from se_variants.runner.plan import make_plan  # noqa: E402


def _tree_rss(root: int) -> tuple[int, int]:
    """(sum, largest) resident memory in bytes of process ``root`` and its descendants, from /proc."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            status = (entry / "status").read_text()
        except OSError:
            continue
        children.setdefault(int(stat[1]), []).append(int(entry.name))
        kb = next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")), 0)
        rss[int(entry.name)] = kb * 1024
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo += children.get(pid, [])
    values = [rss.get(p, 0) for p in tree]
    return sum(values), max(values, default=0)


def wall(command: list[str], cwd: Path, memory: bool = False) -> tuple[float, str, tuple[int, int]]:
    """(seconds, stdout, (peak total, peak of one process) resident memory of its process tree, if asked)."""
    start = time.perf_counter()
    proc = subprocess.Popen(command, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak = (0, 0)
    if memory and Path("/proc").is_dir():
        while proc.poll() is None:
            total, largest = _tree_rss(proc.pid)
            peak = (max(peak[0], total), max(peak[1], largest))
            time.sleep(0.5)
    out, err = proc.communicate()
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"{' '.join(command)} failed ({proc.returncode}):\n{err[-3000:]}")
    return seconds, out, peak


def _loops(configs: list[dict]) -> list[tuple[float, float]]:
    import torch

    torch.set_num_threads(configs[0].get("threads") or 1)
    return [plain_loop(cfg) for cfg in configs]


def _gb(n: int) -> str:
    return f"{n / 1e9:.1f} GB"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("overrides", nargs="*", help="overrides of se-variants ablate (default: the main job)")
    add_record_flag(parser, doc="README.md")
    ns = parser.parse_args()
    overrides = ns.overrides
    cli = [sys.executable, "-m", "se_variants.cli"]
    with tempfile.TemporaryDirectory(prefix="bench_sweep_") as tmp:
        root = Path(tmp)
        folder = root / "ablate"
        plan = make_plan(parse_args([*overrides, f"hydra.sweep.dir={folder}"]), ablation=True)
        at_once = plan.parallel or 1
        print(f"{len(plan.jobs)} jobs, {at_once} at a time ({plan.launcher['name']})", flush=True)

        ablate_s, out, (total, largest) = wall([*cli, "ablate", *overrides, f"hydra.sweep.dir={folder}"], root,
                                               memory=True)
        print(f"se-variants ablate: {ablate_s:.1f} s; peak memory {total / 2**30:.2f} GiB in all (the command and "
              f"its workers), {largest / 2**30:.2f} GiB in its largest process", flush=True)
        again_s, _, _ = wall([*cli, "ablate", *overrides, f"hydra.sweep.dir={folder}"], root)
        torch_s = statistics.median(wall([sys.executable, "-c", "import torch"], root)[0] for _ in range(3))
        print(f"again (nothing to train, prints the table): {again_s:.1f} s = {again_s / torch_s:.2f}× "
              f"import torch ({torch_s:.2f} s)", flush=True)

        shares = [[j.config for j in plan.jobs[i::at_once]] for i in range(at_once)]
        with multiprocessing.get_context("spawn").Pool(at_once) as pool:
            results = pool.map(_loops, shares)
        loops = {j.config_hash: r for i, share in enumerate(results) for j, r in zip(plan.jobs[i::at_once], share)}
        lightning_s = statistics.median(wall([sys.executable, "-c", "import lightning"], root)[0] for _ in range(3))
        floor = sum(s for s, _ in loops.values()) / at_once + lightning_s
        records = {r["config_hash"]: r for r in (json.loads(p.read_text()) for p in folder.glob("*/metrics.json"))}
        # (the job logs its accuracy as a float32 tensor: the same fraction, rounded to float32)
        same = all(abs(records[h]["metrics"]["val"]["acc"] - acc) < 1e-6 for h, (_, acc) in loops.items())
        fits = [r["time_s"]["fit_s"] for r in records.values()]
        print(f"\nfloor: Σ plain loops {sum(s for s, _ in loops.values()):.1f} s ÷ {at_once} + import lightning "
              f"{lightning_s:.1f} s = {floor:.1f} s")
        print(f"se-variants ablate: {ablate_s:.1f} s = {ablate_s / floor:.2f}× its floor "
              f"(jobs' fits Σ {sum(fits):.1f} s = {sum(fits) / sum(s for s, _ in loops.values()):.2f}× the loops)")
        print(f"every job's final validation accuracy equals its plain loop's (to float32): {same}")
        print("\nwhat se-variants ablate printed, from its table on:")
        lines = out.strip().splitlines()
        table = lines[next(i for i, line in enumerate(lines) if line.startswith("variant")):]
        table = table[:next(i for i, line in enumerate(table) if line.startswith("Verdict")) + 1]
        print("\n".join(table))
        mde = re.search(r"a true Δ of ([0-9.]+) pp is found .*?(?:, and ([0-9.]+) pp for a variant to differ after "
                        r"Holm over (\d+))?;", out)
    if ns.record:
        what = "main job" if not overrides else " ".join(overrides)
        stem = "bench_sweep" + "".join(f"-{o.split('=', 1)[1]}" for o in overrides if o.startswith("experiment="))
        record(stem, {
            f"{what}: table": (ns.doc, "\n".join(table)),
            f"{what}: time": (ns.doc, f"{ablate_s:.0f} s for the {len(plan.jobs)} jobs, {ablate_s / floor:.2f}× its "
                                      f"compute floor"),
            f"{what}: memory": (ns.doc, f"{_gb(total)} of memory at its peak ({_gb(largest)} a process)"),
            f"{what}: again": (ns.doc, f"re-running it when every job is done takes {again_s:.1f} s "
                                       f"({again_s / torch_s:.2f}× `python -c \"import torch\"`)"),
            **({f"{what}: detectable": (ns.doc, _detectable(mde))} if mde else {}),
        }, machine(plan.jobs[0].config.get("threads")))


def _detectable(mde: re.Match) -> str:
    """The minimum detectable effect the report printed, as the README's first lines quote it."""
    one, holm, m = mde.groups()
    return f"effects of about {float(one):.1f} pp" + (
        f" ({float(holm):.1f} pp for a variant to pass Holm's correction over {m})" if holm else "")


if __name__ == "__main__":
    main()
