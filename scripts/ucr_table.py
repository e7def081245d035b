"""The page docs/ucr.md: our FCN beside Ismail Fawaz et al. 2019's on the UCR/UEA datasets of ``experiment=ucr_fcn``,
the SE and ECA effects with Holm within each dataset, and the smallest effect the seeds can detect -- every number
from the experiment's records (metrics.json), none typed in.

1. ``--run``: ``se-variants ablate experiment=ucr_fcn [overrides]`` first (finished jobs are skipped, interrupted
   ones resumed), into ``--sweep``;
2. the records of ``--sweep`` summarised by the report's own code (se_variants.runner.report: means, t-intervals,
   Welch's test against each dataset's baseline, Holm within each dataset; .reproduction: the published runs of
   ``report.published``);
3. ``--figures`` (JSON: every number the page prints) and ``--page`` (markdown rendered from that JSON alone, so a
   test can check the page against it).

Usage: python scripts/ucr_table.py [--run] [--sweep outputs/ablate/ucr_fcn] [--page docs/ucr.md]
                                   [--figures docs/figures/ucr.json] [--record] [overrides for --run ...]

``--record`` also records the README's sentence (``headline``) in docs/figures/ucr_table.json (scripts/figures.py).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

from se_variants.runner import stats
from se_variants.runner.files import write_atomic
from se_variants.runner.report import collect, report_settings, summarize
from se_variants.runner.reproduction import recorded_published, reproduce
from se_variants.runner.tables import p_text

sys.path.insert(0, str(Path(__file__).resolve().parent))
from figures import add_record_flag, machine, record  # noqa: E402  (scripts/figures.py)

ROOT = Path(__file__).resolve().parents[1]
#: power of the detectable-effect figure (the report's planning uses the same)
POWER = 0.8


def _block(row: dict[str, Any]) -> str:
    """``none``, ``se``, ``eca``, ...: a row's block without its options."""
    return str(row["block"]).split("(", 1)[0]


def _by_dataset(records: list[dict[str, Any]], rows: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    names = {r["variant_hash"]: (r.get("data") or {}).get("name") for r in records if r.get("data")}
    out: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        out.setdefault(str(names.get(row["variant_hash"])), []).append(row)
    return out


def _ours(row: dict[str, Any]) -> dict[str, Any]:
    return {"n": row["n"], "mean": row["mean"], "std": row["std"], "ci95": [row["ci95_low"], row["ci95_high"]]}


#: the epoch budgets the page asks "would a shorter run have reached the same minimum training loss?" about
BUDGETS = (250, 500, 1000)


def _shorter(jobs: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Over the jobs (every block) of a dataset: the median epoch the selection chose (the lowest training loss),
    and the median of each job's lowest training loss within the first 250, 500, 1000 epochs and over the run."""
    runs = [[h["train/loss"] for h in r.get("history") or () if isinstance(h.get("train/loss"), float)]
            for r in jobs]
    runs = [losses for losses in runs if losses]
    if not runs:
        return None
    chosen = [(r.get("selected") or {}).get("epoch") for r in jobs]
    return {"jobs": len(runs),
            "selected_epoch": statistics.median(e for e in chosen if e is not None) if any(
                e is not None for e in chosen) else None,
            "min_loss": {str(b): statistics.median(min(losses[:b]) for losses in runs) for b in BUDGETS
                         if all(len(losses) >= b for losses in runs)},
            "min_loss_run": statistics.median(min(losses) for losses in runs)}


def figures(sweep: Path) -> dict[str, Any]:
    """Every number of the page, from the records under ``sweep``."""
    records, broken, _ = collect(sweep)
    if not records:
        sys.exit(f"no job records (metrics.json) under {sweep}: run the experiment first (--run).")
    alpha, paired = report_settings(records)
    rows, _ = summarize(records, alpha=alpha, paired=paired)
    checks = reproduce(records, rows, recorded_published(records))
    ok = [r for r in records if r.get("status") == "ok"]
    first = ok[0] if ok else records[0]
    cfg = first.get("config") or {}
    datasets = {}
    for name, group in _by_dataset(records, rows).items():
        base = next((r for r in group if r["baseline"]), None)
        if base is None:
            continue
        check = next((c for c in base.get("reproduction") or ()), None)
        variants = {}
        for row in group:
            if row["baseline"]:
                continue
            variants[_block(row)] = {**_ours(row), "delta_pp": row["delta_pp"],
                                     "delta_ci95": [row["delta_ci95_low_pp"], row["delta_ci95_high_pp"]],
                                     "p": row["p_value"], "p_holm": row["p_holm"], "differs": row["significant"],
                                     "note": row["note"]}
        m = max(len(variants), 1)
        d = stats.detectable_effect(base["n"], alpha / m, POWER) if base["n"] >= 2 else None
        jobs = [r for r in ok if (r.get("data") or {}).get("name") == name]
        datasets[name] = {
            "variant": base["variant"], "ours": _ours(base),
            "published": None if check is None else {"n": check["published_n"], "mean": check["published_mean"],
                                                     "std": check["published_std"], "source": check["source"]},
            "inside": None if check is None else check["published_mean_inside_ci95"],
            "delta_pp": None if check is None else check["delta_pp"],
            "p_welch": None if check is None else check["p_value"],
            "sd_ratio": None if check is None else check["sd_ratio"],
            "variants": variants,
            "detectable": {"seeds": base["n"], "alpha": alpha / m, "power": POWER, "d": d,
                           "pp": None if d is None or base["std"] is None else d * base["std"]},
            "epochs": statistics.median(r["epochs"] for r in jobs) if jobs else None,
            "shorter": _shorter(jobs),
            "job_wall_time_s": statistics.fmean(r["wall_time_s"] for r in jobs if r.get("wall_time_s")) if jobs
            else None,
        }
    host = first.get("host") or {}
    return {
        "sweep": str(sweep), "jobs": len(records), "ok": len(ok), "broken": len(broken), "alpha": alpha,
        "machine": {"cpu_model": host.get("cpu_model"), "cpus": host.get("cpus"), "platform": host.get("platform"),
                    "torch": (first.get("versions") or {}).get("torch"), "threads": cfg.get("threads")},
        "total_job_time_s": sum(r.get("wall_time_s") or 0.0 for r in records),
        "datasets": datasets, "unmatched": [c for c in checks if c["variant"] is None],
        "not_run": _not_run(records),
    }


def _not_run(records: list[dict[str, Any]]) -> list[str]:
    """The variants of experiment=ucr_fcn (as shipped) that have no job record in the sweep."""
    from se_variants.runner.configs import compose

    shipped = [str(v) for v in compose(["experiment=ucr_fcn"]).ablation.variants]
    have = [set(r.get("overrides") or ()) for r in records]
    return [v for v in shipped if not any(set(v.split()) <= o for o in have)]


def _f(x: float | None, fmt: str = ".2f") -> str:
    return "–" if x is None else format(x, fmt)


def _pm(x: dict[str, Any]) -> str:
    """mean ± sd, without the count."""
    return f"{x['mean']:.2f} ± {_f(x['std'])}"


def _g(x: float | None) -> str:
    return "–" if x is None else f"{x:.2g}"


def _welch(x: float | None) -> str:
    """"Welch p = 0.123" or "Welch p < 0.001"."""
    return "Welch p " + ("< 0.001" if x is not None and x < 0.001 else f"= {p_text(x)}")


def _ci(pair: list[float | None], signed: bool = False) -> str:
    fmt = "+.2f" if signed else ".2f"
    return "–" if None in pair else f"[{_f(pair[0], fmt)}, {_f(pair[1], fmt)}]"


def _sd(x: dict[str, Any]) -> str:
    return f"{_f(x['mean'])} ± {_f(x['std'])} ({x['n']})"


def _verdict(name: str, d: dict[str, Any]) -> str:
    """Where their mean lies against our interval, by how much, and how wide the interval is (a wide one says
    little either way)."""
    if d["published"] is None:
        return f"- **{name}**: no published runs to compare with."
    if d["inside"] is None:
        return f"- **{name}**: no interval (fewer than 2 seeds)."
    low, high = d["ours"]["ci95"]
    theirs = d["published"]["mean"]
    where = "inside" if d["inside"] else f"{(theirs - high if theirs > high else low - theirs):.2f} pp outside"
    return (f"- **{name}**: their mean {theirs:.2f} % lies {where} our 95 % interval [{low:.2f}, {high:.2f}] "
            f"({high - low:.2f} pp wide; Δ {d['delta_pp']:+.2f} pp, {_welch(d['p_welch'])}, sd ratio "
            f"{_f(d['sd_ratio'])}).")


def render(fig: dict[str, Any]) -> str:
    """docs/ucr.md from the figures alone."""
    m = fig["machine"]
    lines = [
        "# Real data: FCN on the UCR/UEA archive, beside the published runs",
        "",
        "Generated by `python scripts/ucr_table.py` from the records of `se-variants ablate experiment=ucr_fcn` "
        f"({fig['ok']} of {fig['jobs']} jobs ok); every number below is in "
        "[figures/ucr.json](figures/ucr.json). The recipe, the data and what the published runs are: "
        "[`configs/experiment/ucr_fcn.yaml`](../configs/experiment/ucr_fcn.yaml); how the statistics are made: "
        "[statistics.md](statistics.md). Back to the [README](../README.md).",
        "",
        f"Measured on {m['cpu_model'] or 'an unnamed CPU'} ({m['cpus']} cores; {m['platform']}), torch {m['torch']}, "
        f"{m['threads']} thread(s) per job; {fig['total_job_time_s'] / 3600:.2f} h of job time in all.",
        "",
        "## Our FCN beside Ismail Fawaz et al. 2019's",
        "",
        "Test accuracy in %, mean ± sample sd (runs). Published: their 10 FCN runs; ours: the seeds of the "
        "`block=none` variant, with the 95 % t-interval of our mean; Δ = ours − theirs; p: Welch's two-sided test of "
        "the two means; sd ratio: our sd / theirs; minutes a job: the mean wall time of the dataset's jobs (other "
        "jobs and work on the machine at the same time lengthen it).",
        "",
        "| dataset | published | ours | our 95 % CI | their mean inside | Δ pp | p (Welch) | sd ratio | epochs | "
        "minutes a job |",
        "|---|---:|---:|---:|---|---:|---:|---:|---:|---:|",
    ]
    for name, d in fig["datasets"].items():
        pub = "–" if d["published"] is None else _sd(d["published"])
        inside = {None: "–", True: "yes", False: "no"}[d["inside"]]
        delta = "–" if d["delta_pp"] is None else f"{d['delta_pp']:+.2f}"
        lines.append(f"| {name} | {pub} | {_sd(d['ours'])} | {_ci(d['ours']['ci95'])} | {inside} | {delta} | "
                     f"{p_text(d['p_welch'])} | {_f(d['sd_ratio'])} | {_f(d['epochs'], '.0f')} | "
                     f"{_f(None if d['job_wall_time_s'] is None else d['job_wall_time_s'] / 60, '.1f')} |")
    lines += ["", *(_verdict(name, d) for name, d in fig["datasets"].items())]
    lines += [
        "",
        "## SE and ECA against each dataset's own baseline",
        "",
        "Δ: variant − the dataset's `block=none` mean, in pp, with its 95 % Welch interval; p: Welch's two-sided "
        "test; p Holm: adjusted within the dataset (over its blocks); differs: p Holm < "
        f"α = {fig['alpha']:g}. Exploratory: the test split is fixed, the seeds vary the training only.",
        "",
        "| dataset | variant | test acc % | Δ pp | Δ 95 % CI | p (Welch) | p Holm | differs |",
        "|---|---|---:|---:|---:|---:|---:|---|",
    ]
    for name, d in fig["datasets"].items():
        for block, v in d["variants"].items():
            differs = {None: "–", True: "yes", False: "no"}[v["differs"]]
            delta = "–" if v["delta_pp"] is None else f"{v['delta_pp']:+.2f}"
            lines.append(f"| {name} | {block} | {_sd(v)} | {delta} | {_ci(v['delta_ci95'], signed=True)} | "
                         f"{p_text(v['p'], fig['alpha'])} | {p_text(v['p_holm'], fig['alpha'])} | {differs} |")
    lines += [
        "",
        "## The smallest effect these seeds can detect",
        "",
        "A true difference of d seed standard deviations is detected with 80 % power by a two-sided Welch/t-test "
        "with n seeds per arm at Holm's first step (α divided by the number of blocks compared on the dataset); in "
        "pp, d times our baseline's sd:",
        "",
        "| dataset | seeds | α | d (sd) | pp |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, d in fig["datasets"].items():
        e = d["detectable"]
        lines.append(f"| {name} | {e['seeds']} | {e['alpha']:g} | {_f(e['d'])} | {_f(e['pp'])} |")
    shorter = {name: d["shorter"] for name, d in fig["datasets"].items() if d.get("shorter")}
    if shorter:
        lines += [
            "",
            "## Would fewer epochs do?",
            "",
            "The recipe trains 2000 epochs and tests the weights of the epoch with the lowest training loss. Over "
            "every job of a dataset (all blocks): the median epoch so selected, and the median of each job's lowest "
            "training loss within the first epochs and over the whole run. The test split is not looked at during "
            "training, so the page cannot say what a shorter run would have scored; it can say whether one reaches "
            "the same minimum.",
            "",
            "| dataset | jobs | selected epoch (median) | " + " | ".join(f"lowest loss by epoch {b}" for b in BUDGETS)
            + " | over the run |",
            "|---|---:|---:|" + "---:|" * (len(BUDGETS) + 1),
        ]
        for name, e in shorter.items():
            lines.append(f"| {name} | {e['jobs']} | {_f(e['selected_epoch'], '.0f')} | "
                         + " | ".join(_g(e["min_loss"].get(str(b))) for b in BUDGETS) + f" | {_g(e['min_loss_run'])} |")
    if fig.get("not_run"):
        lines += ["", "Not run for this page (`se-variants ablate experiment=ucr_fcn` runs them; finished jobs are "
                  "skipped): " + ", ".join(f"`{v}`" for v in fig["not_run"]) + "."]
    if fig["unmatched"]:
        lines += ["", "Published references that matched no variant of the sweep: "
                  + ", ".join(f"`{u['reference']}`" for u in fig["unmatched"]) + "."]
    return "\n".join(lines) + "\n"


def headline(fig: dict[str, Any]) -> str:
    """The README's sentence: each dataset's baseline beside the published runs, and the blocks' effects."""
    parts = []
    for name, d in fig["datasets"].items():
        n = d["ours"]["n"]
        text = f"on {name} our FCN scores {_pm(d['ours'])} % over {n} seed{'s' if n != 1 else ''}"
        if d["published"] is not None:
            where = {True: "their mean inside our 95 % interval", False: "their mean outside our 95 % interval",
                     None: "too few seeds for an interval"}[d["inside"]]
            text += (f" beside Ismail Fawaz et al.'s {_pm(d['published'])} % ({d['published']['n']} published runs; "
                     f"{where})")
        effects = [f"{block.upper()} {v['delta_pp']:+.2f} pp (p Holm {p_text(v['p_holm'], fig['alpha'])})"
                   for block, v in d["variants"].items() if v["delta_pp"] is not None]
        if effects:
            text += "; " + ", ".join(effects)
        parts.append(text)
    return "Real data (`experiment=ucr_fcn`): " + "; ".join(parts) + " ([docs/ucr.md](docs/ucr.md))."


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", action="store_true", help="run (or go on with) the experiment first")
    parser.add_argument("--sweep", type=Path, default=Path("outputs/ablate/ucr_fcn"))
    parser.add_argument("--page", type=Path, default=ROOT / "docs" / "ucr.md")
    parser.add_argument("--figures", type=Path, default=ROOT / "docs" / "figures" / "ucr.json")
    parser.add_argument("overrides", nargs="*", help="overrides for --run (e.g. 'ablation.seeds=[0,1,2]')")
    add_record_flag(parser)
    ns = parser.parse_args(argv)
    if ns.overrides and not ns.run:
        parser.error("overrides are for --run")
    if ns.run:
        command = [sys.executable, "-m", "se_variants.cli", "ablate", "experiment=ucr_fcn",
                   f"hydra.sweep.dir={ns.sweep}", *ns.overrides]
        code = subprocess.run(command, check=False).returncode
        if code not in (0, 1):  # 1: some job failed; the others are still reported
            return code
    fig = json.loads(json.dumps(figures(ns.sweep), sort_keys=True))  # (as the page's figures file holds it)
    ns.figures.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(ns.figures, json.dumps(fig, indent=1, sort_keys=True) + "\n")
    write_atomic(ns.page, render(fig))
    print(render(fig))
    print(headline(fig))
    print(f"Wrote {ns.page} and {ns.figures}.")
    if ns.record:  # the README's sentence, recorded on the machine the jobs ran on (run it where they ran)
        record(__file__, {"headline": ("README.md", headline(fig))}, machine(fig["machine"]["threads"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
