"""``report.png``: a forest plot of a sweep's variants -- each variant's test accuracy with its 95 % t-interval,
and its difference to the matched baseline with the 95 % interval of that difference."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .files import replace_into

__all__ = ["plot_report"]


def plot_report(rows: list[dict[str, Any]], path: Path, title: str, alpha: float = 0.05, paired: bool = False) -> None:
    """Write ``report.png`` to ``path`` (atomically): two panels sharing the variant axis, test accuracy with its
    95 % t-interval and Δ to the baseline with its 95 % interval; variants that differ after Holm are filled red,
    untested ones grey. ``rows``: :func:`.report.summarize` rows."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = [r for r in rows if r["mean"] is not None]
    fig, (ax, axd) = plt.subplots(1, 2, figsize=(11, 1.7 + 0.36 * max(len(shown), 1)), sharey=True)
    y = list(range(len(shown)))[::-1]

    def style(r: dict[str, Any]) -> dict[str, Any]:
        if r["baseline"]:
            return {"color": "0.35", "mfc": "0.35"}
        if r["significant"]:
            return {"color": "tab:red", "mfc": "tab:red"}
        if r["significant"] is None:
            return {"color": "0.6", "mfc": "white"}
        return {"color": "tab:blue", "mfc": "white"}

    def errors(values: list[tuple[float | None, float | None, float | None]]) -> tuple[list[float], list[list[float]]]:
        xs, err = [], [[], []]
        for mid, lo, hi in values:
            xs.append(mid)
            err[0].append(mid - lo if lo is not None else 0.0)
            err[1].append(hi - mid if hi is not None else 0.0)
        return xs, err

    for yi, r in zip(y, shown):
        xs, err = errors([(r["mean"], r["ci95_low"], r["ci95_high"])])
        ax.errorbar(xs, [yi], xerr=err, fmt="o", capsize=3, **style(r))
        if r["baseline"]:
            ax.axvline(r["mean"], color="0.35", linestyle="--", linewidth=1)
        if not r["baseline"] and r["delta_pp"] is not None:
            xs, err = errors([(r["delta_pp"], r["delta_ci95_low_pp"], r["delta_ci95_high_pp"])])
            axd.errorbar(xs, [yi], xerr=err, fmt="o", capsize=3, **style(r))
            if r["significant"]:
                axd.annotate("*", (xs[0], yi), textcoords="offset points", xytext=(0, 4), ha="center",
                             color="tab:red", fontsize=12)
    axd.axvline(0.0, color="0.35", linestyle="--", linewidth=1)
    ax.set_yticks(y, [f"{r['variant']}  (n={r['n']})" for r in shown], fontsize=8)
    for a in (ax, axd):
        a.grid(axis="x", alpha=0.3)
    ax.set_xlabel("test accuracy %: mean and 95 % t-interval", fontsize=8)
    test = "paired" if paired else "Welch"
    axd.set_xlabel(f"Δ vs baseline, pp: 95 % {test} interval", fontsize=8)
    fig.text(0.5, 0.01, f"grey, dashed: the baseline (block=none). Red, filled, *: differs from it after Holm at "
             f"α = {alpha:g}; blue, open: does not; grey, open: not tested (too few seeds, or no variation: see "
             f"report.md). Intervals are not adjusted for multiple comparisons.", ha="center", fontsize=7, color="0.3")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    try:
        replace_into(path, lambda tmp: fig.savefig(tmp, dpi=120, format="png"))
    finally:
        plt.close(fig)
