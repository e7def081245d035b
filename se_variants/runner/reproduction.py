"""The report's reproduction check: does a variant reproduce published runs of it?

An experiment gives published per-run test accuracies of any of its variants in ``report.published``::

    report:
      published:
        - variant: data.name=ItalyPowerDemand block=none   # an override string, as in ablation.variants
          source: Ismail Fawaz et al. 2019, FCN, 10 runs (hfawaz/dl-4-tsc results/results-uea.csv)
          values: [96.02, 95.63, 96.21, ...]                # test accuracy of each published run, in %

A reference matches every variant of the report whose jobs have all of its overrides (its seeds aside). For each
match the report gives their mean ± sd (n), ours with its 95 % t-interval, whether their mean lies inside our
interval, Welch's p of ours against theirs and the ratio of the standard deviations (ours / theirs)
(:func:`.stats.reproduction`), in report.md, ``reproduction.csv`` and the printed table. ``report.*`` is not
part of a job's identity: references can be added or corrected without training anything again
(``se-variants report <folder>`` reads them from the newest record).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from . import stats
from .tables import p_text, text_table

__all__ = ["check_published", "recorded_published", "reproduce", "format_reproduction", "markdown_reproduction",
           "REPRODUCTION_FILE", "REPRODUCTION_COLUMNS"]

REPRODUCTION_FILE = "reproduction.csv"
CONFIDENCE = 0.95
#: reproduction.csv, one row per (reference, matching variant); accuracies in %, differences in pp
REPRODUCTION_COLUMNS = ("variant", "reference", "source", "published_n", "published_mean", "published_std", "n",
                        "mean", "std", "ci95_low", "ci95_high", "published_mean_inside_ci95", "delta_pp", "p_value",
                        "sd_ratio", "note")


def check_published(entries: Any) -> list[dict[str, Any]]:
    """``report.published`` as a list of ``{variant, source, values}``, each checked: a variant of ``key=value``
    overrides, a source, at least 2 values (a standard deviation), each a finite accuracy in [0, 100] %. Raises
    ValueError naming the entry and the fix."""
    out = []
    for i, entry in enumerate(entries or []):
        where = f"report.published[{i}]"
        if not isinstance(entry, dict):
            raise ValueError(f"{where}: expected {{variant, source, values}}, got {entry!r}.")
        variant, source, values = entry.get("variant"), entry.get("source"), entry.get("values")
        if not isinstance(variant, str) or not variant.split() or any("=" not in o for o in variant.split()):
            raise ValueError(f"{where}.variant: {variant!r} is not an override string such as "
                             f"'data.name=ItalyPowerDemand block=none' (as in ablation.variants).")
        if not isinstance(source, str) or not source.strip():
            raise ValueError(f"{where}.source: say where the values come from (paper, table or file).")
        if not isinstance(values, (list, tuple)) or len(values) < 2 or not all(
                isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and 0 <= v <= 100
                for v in values):
            raise ValueError(f"{where}.values: give the test accuracy of each published run in % (at least 2, each in "
                             f"[0, 100]), got {values!r}.")
        out.append({"variant": " ".join(variant.split()), "source": source.strip(),
                    "values": [float(v) for v in values]})
    return out


def recorded_published(records: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """``config.report.published`` of the newest record that has a report node (checked), or []."""
    newest = next((r for r in sorted(records, key=lambda r: r.get("started") or "", reverse=True)
                   if isinstance((r.get("config") or {}).get("report"), dict)), None)
    if newest is None:
        return []
    try:
        return check_published(newest["config"]["report"].get("published"))
    except ValueError as err:
        raise ValueError(f"in the record of job {newest.get('job_dir') or newest.get('job')}: {err}") from None


def _seedless(overrides: Sequence[str]) -> set[str]:
    return {o for o in overrides if o.split("=", 1)[0].lstrip("+~") != "seed"}


def reproduce(records: Sequence[dict[str, Any]], rows: Sequence[dict[str, Any]],
              published: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """One comparison per (reference, matching row of ``rows``), with the keys of :data:`REPRODUCTION_COLUMNS`;
    a reference that matches no row gives one entry with only its own numbers and a note. Each matched row of
    ``rows`` gets the list of its comparisons under ``reproduction`` (the printed table shows them)."""
    by_variant: dict[str, list[dict[str, Any]]] = {}
    for r in records:
        by_variant.setdefault(r.get("variant_hash") or r.get("job_dir", ""), []).append(r)
    out = []
    for ref in published:
        wanted = set(ref["variant"].split())
        theirs = stats.summarize(ref["values"], CONFIDENCE)
        own = {"reference": ref["variant"], "source": ref["source"], "published_n": theirs.n,
               "published_mean": theirs.mean, "published_std": theirs.std}
        matched = False
        for row in rows:
            jobs = by_variant.get(row["variant_hash"], [])
            if not jobs or not wanted <= _seedless(jobs[0].get("overrides") or []):
                continue
            matched = True
            ours = [float(j["metrics"]["test"]["acc"]) * 100 for j in jobs
                    if j.get("status") == "ok" and (j.get("metrics") or {}).get("test", {}).get("acc") is not None]
            c = stats.reproduction(ours, ref["values"], CONFIDENCE)
            entry = {"variant": row["variant"], **own, "n": c.ours.n, "mean": c.ours.mean, "std": c.ours.std,
                     "ci95_low": c.ours.ci_low, "ci95_high": c.ours.ci_high, "published_mean_inside_ci95": c.inside,
                     "delta_pp": c.delta, "p_value": c.p_value, "sd_ratio": c.sd_ratio, "note": c.note}
            row.setdefault("reproduction", []).append(entry)
            out.append(entry)
        if not matched:
            out.append({"variant": None, **own, "note": f"no variant of this report has the overrides "
                                                        f"{ref['variant']}"})
    return out


def _f(value: float | None, fmt: str = ".2f") -> str:
    return "–" if value is None else format(value, fmt)


def _cells(e: dict[str, Any]) -> list[str]:
    theirs = f"{_f(e['published_mean'])} ± {_f(e['published_std'])} ({e['published_n']})"
    if e["variant"] is None:
        return [e["reference"], theirs, "–", "–", "–", "–", "–", "–", e["note"]]
    ours = f"{_f(e['mean'])}" + (f" ± {_f(e['std'])}" if e["std"] is not None else "") + f" ({e['n']})"
    interval = "–" if e["ci95_low"] is None else f"[{_f(e['ci95_low'])}, {_f(e['ci95_high'])}]"
    inside = {None: "–", True: "yes", False: "no"}[e["published_mean_inside_ci95"]]
    delta = "–" if e["delta_pp"] is None else f"{e['delta_pp']:+.2f}"
    return [e["variant"], theirs, ours, interval, inside, delta, p_text(e["p_value"]), _f(e["sd_ratio"]),
            e["note"] or ""]


_HEADER = ["variant", "published (n)", "ours (n)", "our 95 % CI", "their mean inside", "Δ pp", "p (Welch)",
           "sd ratio", "note"]


def format_reproduction(entries: Sequence[dict[str, Any]]) -> str:
    """The comparisons as aligned text, each source listed under the table."""
    body = [_cells(e) for e in entries]
    sources = list(dict.fromkeys(f"{e['reference']}: {e['source']}" for e in entries))
    return "\n".join(["Reproduction (test acc %, mean ± sd; ours against published runs):",
                      text_table(_HEADER, body, left={0, 8}), *(f"  {s}" for s in sources)])


def markdown_reproduction(entries: Sequence[dict[str, Any]]) -> list[str]:
    """The comparisons as a markdown section (lines)."""
    lines = ["## Reproduction", "",
             "Our test accuracy (%) against published runs of the same variant (`report.published`): their mean ± "
             "sample sd (n), ours with the 95 % t-interval of our mean, whether their mean lies inside it, Δ = ours − "
             "theirs, Welch's two-sided p of the two means, and sd ratio = our sd / theirs. Their mean inside our "
             "interval ignores their own uncertainty; Welch's p accounts for both. A large p from few seeds is weak "
             "evidence of equality.", "",
             "| " + " | ".join(_HEADER) + " |", "|" + "|".join(["---"] + ["---:"] * 7 + ["---"]) + "|"]
    lines += ["| " + " | ".join(c.replace("|", "\\|") for c in _cells(e)) + " |" for e in entries]
    lines += [""] + [f"- `{ref}`: {src}" for ref, src in
                     dict.fromkeys((e["reference"], e["source"]) for e in entries)]
    return lines
