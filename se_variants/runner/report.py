"""The results report of a sweep folder: jobs grouped by variant, test accuracy over seeds with its 95 %
t-interval, the difference to the matched baseline with a Welch (or paired) t-test and Holm's adjustment, cost
columns, failed jobs with their errors, and the reproduction check against published runs (:mod:`.reproduction`).
Written as ``report.csv`` (one row per variant), ``jobs.csv`` (one row per job), ``report.md``, ``report.png``
and ``reproduction.csv``; the statistics are in :mod:`se_variants.runner.stats`."""

from __future__ import annotations

import contextlib
import statistics
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..spec import PART_KEYS
from . import stats
from .claims import owner_of
from .files import locked, write_atomic
from .identity import is_baseline, is_run_knob
from .reproduction import (REPRODUCTION_COLUMNS, REPRODUCTION_FILE, check_published, format_reproduction,
                           markdown_reproduction, recorded_published, reproduce)
from .results import RESULT_FILE, scan
from .tables import csv_text, one_line, p_text, text_table

__all__ = ["collect", "summarize", "write_report", "report_lock", "format_table", "report_settings", "verdict",
           "settings_note", "detectable", "baseline_hint", "REPORT_FILES", "LOCK_FILE", "ROW_COLUMNS", "DEFAULT_ALPHA"]

REPORT_FILES = ("report.md", "report.csv", "jobs.csv", "report.png", REPRODUCTION_FILE)
#: the lock a report writer holds (hidden: it holds nothing)
LOCK_FILE = ".report.lock"
#: significance level when neither the call nor the records' ``config.report.alpha`` say otherwise
DEFAULT_ALPHA = 0.05
#: the confidence of every interval in the report (fixed: the column names say 95)
CONFIDENCE = 0.95
#: power the seed planner aims for
PLAN_POWER = 0.8
VARIANT_COLUMNS = ("variant", "block", "squeeze", "excite", "gate")
#: report.csv, one row per variant; accuracies in %, differences in percentage points (pp); empty where a value
#: cannot be computed. ``n``: seeds that finished; ``training``: jobs a live process is training now (another
#: command on the folder); ``failed``: jobs that failed or did not finish otherwise; ``pruned``: jobs a search's
#: pruner stopped (on purpose: not failures); ``pairs`` (paired test only): seeds shared with the baseline,
#: the n of the test; ``mean``, ``std`` (ddof = 1), ``ci95_*``: test accuracy over
#: them (t-interval of the mean, cut to [0, 100]); ``delta_*``: variant − matched baseline and its interval;
#: ``p_value``: two-sided t-test (``stat_test``: welch or paired); ``p_holm``: Holm over the variants compared with
#: the same baseline; ``significant``: p_holm < alpha; ``prob_improvement``: P(a seed of the variant beats a seed
#: of the baseline); ``cohens_d``: Δ / pooled std; ``seeds_needed``: seeds per arm for 80 % power if the true Δ had
#: the observed size (planning only); ``alpha``: the level ``significant`` used; ``note``: why a statistic is
#: missing; ``context_hash``: the settings (a variant is compared with the baseline of the same ones).
ROW_COLUMNS = (*VARIANT_COLUMNS, "n", "training", "failed", "pruned", "pairs", "mean", "std", "ci95_low", "ci95_high",
               "delta_pp", "delta_ci95_low_pp", "delta_ci95_high_pp", "p_value", "p_holm", "significant", "stat_test",
               "prob_improvement", "cohens_d", "seeds_needed", "alpha", "note", "val_mean", "params", "flops",
               "latency_ms", "wall_time_s", "baseline", "seeds", "variant_hash", "context_hash")
JOB_COLUMNS = ("job", "status", *VARIANT_COLUMNS[1:], "seed", "overrides", "test_acc", "test_loss", "val_acc",
               "train_acc", "params", "flops", "latency_ms", "wall_time_s", "epochs", "error", "config_hash",
               "variant_hash")
_STAT_KEYS = ("delta_pp", "delta_ci95_low_pp", "delta_ci95_high_pp", "p_value", "p_holm", "significant",
              "stat_test", "prob_improvement", "cohens_d", "seeds_needed", "alpha", "note")


def _settings(overrides: Sequence[str]) -> list[str]:
    """The overrides that say what a variant computes: without the seed (the seeds are its rows) and without run
    knobs (``ablation.seeds``, ``trainer.loggers``, ``rerun``, ...: they never change a result, so they never name
    one -- a seed added later must not relabel a variant)."""
    return [o for o in overrides if o.split("=", 1)[0].lstrip("+~") != "seed" and not is_run_knob(o)]


def collect(sweep_dir: Path | str, pool: bool = False) -> tuple[list[dict[str, Any]], list[dict[str, Any]],
                                                                 list[dict[str, Any]]]:
    """(records, broken, superseded) of the metrics.json files of the sweep ``sweep_dir`` (:func:`.results.scan`:
    a folder below it holding its own sweep.json is another sweep, left out unless ``pool``).

    ``records``: one valid record per config hash -- the newest (latest start) when a config ran more than once
    (a re-run, or the same job run into two folders) -- each with ``job_dir``, in the order the jobs started.
    ``broken``: ``{"path", "problem"}`` of every file that cannot be trusted (unreadable, not JSON, wrong fields).
    ``superseded``: ``{"path", "kept"}`` of the older records of a config hash, kept on disk but not counted.
    """
    newest: dict[str, dict[str, Any]] = {}
    broken, superseded = [], []
    for result in scan(sweep_dir, nested=pool):
        if result.record is None:
            broken.append({"path": str(result.path), "problem": result.problem})
            continue
        record = {**result.record, "job_dir": str(result.folder)}
        key = record["config_hash"]
        old = newest.get(key)
        if old is not None:
            older, record = sorted((old, record), key=lambda r: (r["started"], r["job_dir"]))
            superseded.append({"path": str(Path(older["job_dir"]) / RESULT_FILE), "kept": record["job_dir"]})
        newest[key] = record
    records = sorted(newest.values(), key=lambda r: (r["started"], r["job_dir"]))
    return records, broken, superseded


def check_alpha(alpha: Any) -> float:
    """``alpha`` as a float in (0, 1), or a ValueError naming the fix."""
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0.0 < float(alpha) < 1.0:
        raise ValueError(f"alpha must be a number in (0, 1), e.g. 0.05; got {alpha!r}.")
    return float(alpha)


def check_paired(paired: Any) -> bool:
    """``paired`` itself when it is a bool, else a ValueError (a string such as "false" is not one)."""
    if not isinstance(paired, bool):
        raise ValueError(f"paired must be true or false (a boolean); got {paired!r}.")
    return paired


def report_settings(records: Sequence[dict[str, Any]], alpha: float | None = None,
                    paired: bool | None = None) -> tuple[float, bool]:
    """(alpha, paired): the arguments when given, else ``config.report`` of the newest record that has one, else
    (0.05, False). Records of jobs skipped on a re-run keep the values they ran with, so a command that changes
    ``report.*`` should pass them here. Every value is checked: a bad argument, or a bad value in the record,
    raises a ValueError that names it (and for a record, the job and ``pass --alpha / --paired to override``)."""
    newest = next((r for r in sorted(records, key=lambda r: r.get("started") or "", reverse=True)
                   if isinstance((r.get("config") or {}).get("report"), dict)), None)
    alpha = check_alpha(alpha) if alpha is not None else _recorded(newest, "alpha", DEFAULT_ALPHA, check_alpha)
    paired = check_paired(paired) if paired is not None else _recorded(newest, "paired", False, check_paired)
    return alpha, paired


def _recorded(record: dict[str, Any] | None, key: str, default: Any, check: Any) -> Any:
    """``config.report.<key>`` of ``record`` through ``check`` (``default`` when it has none)."""
    report = record["config"]["report"] if record is not None else {}
    if key not in report:
        return default
    try:
        return check(report[key])
    except ValueError as err:
        job = record.get("job_dir") or record.get("job") or "?"
        raise ValueError(f"config.report.{key} = {report[key]!r} in the record of job {job}: {err} The report "
                         f"does not guess; pass --alpha / --paired to override the recorded value.") from None


def _acc_pct(record: dict[str, Any], stage: str = "test") -> float | None:
    value = (record.get("metrics") or {}).get(stage, {}).get("acc")
    return float(value) * 100 if value is not None else None


def summarize(records: list[dict[str, Any]], *, alpha: float = DEFAULT_ALPHA,
              paired: bool = False) -> tuple[list[dict[str, Any]], list[str]]:
    """(one row per variant, overrides common to every job).

    Rows: the keys of :data:`ROW_COLUMNS` (accuracies in %, differences in pp, None where not computable), grouped
    by settings: each baseline followed by the variants compared with it, in the order their first job started
    (variants without a baseline last). Each variant is compared with the ``block=none`` variant of the same
    ``context_hash`` (same model, data and schedule) -- the earliest started when two have it, the other one
    noted --; Holm's adjustment runs over all variants compared with the same baseline. ``paired`` pairs jobs by
    seed (see :func:`stats.paired` for when that is valid). Labels and ``common`` leave out seeds and run knobs.
    """
    alpha = check_alpha(alpha)
    groups: dict[str, list[dict[str, Any]]] = {}
    for r in records:
        groups.setdefault(r.get("variant_hash") or r["job_dir"], []).append(r)
    override_sets = [set(_settings(r.get("overrides") or [])) for r in records]
    common = sorted(set.intersection(*override_sets)) if override_sets else []
    rows = []
    for key, jobs in groups.items():
        ok = [j for j in jobs if j.get("status") == "ok"]
        pruned = sum(j.get("status") == "pruned" for j in jobs)
        training = sum(j.get("status") == "running" and _held(Path(j["job_dir"])) for j in jobs)
        first = ok[0] if ok else jobs[0]
        label_parts = [o for o in _settings(first.get("overrides") or []) if o not in common]
        by_seed = {j.get("seed"): a for j in ok if (a := _acc_pct(j)) is not None}
        accs = [a for a in (_acc_pct(j) for j in ok) if a is not None]
        vals = [a for a in (_acc_pct(j, "val") for j in ok) if a is not None]
        lat = [j["latency_ms"] for j in ok if j.get("latency_ms") is not None]
        wall = [j["wall_time_s"] for j in ok if j.get("wall_time_s") is not None]
        summary = stats.summarize(accs, CONFIDENCE)
        rows.append({
            "variant": " ".join(label_parts) or _columns_label(first),
            **{c: first.get(c) for c in VARIANT_COLUMNS[1:]},
            "n": summary.n,
            "training": training,
            "failed": len(jobs) - len(ok) - pruned - training,
            "pruned": pruned,
            "pairs": None,
            "mean": summary.mean, "std": summary.std,
            # an accuracy lies in [0, 100] %, so the interval is cut to it (its coverage is unchanged)
            "ci95_low": None if summary.ci_low is None else max(summary.ci_low, 0.0),
            "ci95_high": None if summary.ci_high is None else min(summary.ci_high, 100.0),
            **dict.fromkeys(_STAT_KEYS),
            "val_mean": statistics.fmean(vals) if vals else None,
            "params": first.get("params"),
            "flops": first.get("flops"),
            "latency_ms": statistics.median(lat) if lat else None,
            "wall_time_s": statistics.fmean(wall) if wall else None,
            "baseline": is_baseline(first),
            "seeds": " ".join(str(j.get("seed")) for j in sorted(ok, key=lambda j: j.get("seed") or 0)),
            "variant_hash": key,
            "context_hash": first.get("context_hash"),
            "_values": accs, "_by_seed": by_seed,
            "_started": min(j.get("started") or "" for j in jobs),
        })
    _compare(rows, alpha, paired)
    rows = _by_settings(rows)
    for row in rows:
        for k in ("_values", "_by_seed", "_started"):
            del row[k]
    return rows, common


#: how the note of a baseline row that is not compared with (another one has the same settings) starts
_DUPLICATE = "another baseline with the same settings as"


def _compare(rows: list[dict[str, Any]], alpha: float, paired: bool) -> None:
    """Fill the statistics columns of the non-baseline rows in place, Holm within each baseline's family."""
    baselines = _baselines(rows)
    families: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        if row["baseline"]:
            continue
        row["alpha"] = alpha
        base = baselines.get(row["context_hash"])
        row["note"] = _no_comparison(row, base)
        if row["note"]:
            continue
        if paired:
            c = stats.paired(row["_by_seed"], base["_by_seed"], CONFIDENCE)
        else:
            c = stats.welch(row["_values"], base["_values"], CONFIDENCE)
        d = c.cohens_d
        row.update({"delta_pp": c.delta, "delta_ci95_low_pp": c.ci_low, "delta_ci95_high_pp": c.ci_high,
                    "p_value": c.p_value, "stat_test": c.test, "prob_improvement": c.prob_improvement,
                    "cohens_d": d, "note": c.note, "pairs": c.n_a if paired else None,
                    "seeds_needed": stats.seeds_needed(d, alpha, PLAN_POWER) if d is not None else None})
        families.setdefault(row["context_hash"], []).append(row)
    for family in families.values():
        for row, p in zip(family, stats.holm([r["p_value"] for r in family])):
            row["p_holm"] = p
            row["significant"] = None if p is None else bool(p < alpha)


def _by_settings(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``rows`` grouped by settings (context): each context's baselines (the one compared with first), then its
    variants; contexts in the order their first baseline started, variants without a baseline last."""
    order: dict[Any, int] = {}
    for row in sorted(rows, key=lambda r: r["_started"]):  # (stable: ties keep the order of the rows)
        if row["baseline"]:
            order.setdefault(row["context_hash"], len(order))

    def key(r: dict[str, Any]) -> tuple[Any, ...]:
        return (order.get(r["context_hash"], len(order)), not r["baseline"], _is_duplicate(r), r["_started"])

    return sorted(rows, key=key)


def _name(row: dict[str, Any]) -> str:
    """A variant's label with its hash: two baselines can have the same label."""
    return f"{row['variant']} (variant_hash {row['variant_hash']})"


def _baselines(rows: Sequence[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """context → the baseline row its variants are compared with: the earliest started; a later baseline of the
    same context gets a note naming that one."""
    first: dict[str, dict[str, Any]] = {}
    for row in sorted((r for r in rows if r["baseline"]), key=lambda r: r["_started"]):
        chosen = first.setdefault(row["context_hash"], row)
        if chosen is not row:
            row["note"] = f"{_DUPLICATE} {_name(chosen)}, the earliest started, which the variants are compared with"
    return first


def _no_comparison(row: dict[str, Any], base: dict[str, Any] | None) -> str | None:
    """Why ``row`` cannot be compared with its baseline ``base`` at all, or None."""
    if base is None:
        return "no baseline (block=none) with the same settings in this folder"
    if not base["n"]:
        return (f"the baseline with the same settings, {base['variant']}, has no finished seed "
                f"({base['failed']} failed or unfinished" + (f", {base['training']} training" if base.get("training")
                                                              else "") + ")")
    if not row["n"]:
        return "no finished seed"
    return None


def verdict(rows: Sequence[dict[str, Any]], alpha: float, paired: bool = False, markdown: bool = True) -> str:
    """The one-line answer at the top of report.md (``markdown``) and under the printed table: how many
    variants differ from their baseline after Holm, how many could not be tested and why, and a note when two
    baselines have the same settings."""
    bold, code = ("**", "`") if markdown else ("", "")
    variants = [r for r in rows if not r["baseline"]]
    tested = [r for r in variants if r["p_holm"] is not None]
    untested = [r for r in variants if r["p_holm"] is None]
    test = "paired t-test over shared seeds" if paired else "Welch t-test"
    if not any(r["baseline"] for r in rows):
        return f"No baseline ({code}block=none{code}) in this folder, so no variant is compared."
    if not variants:
        return "Only baselines here: no variant to compare."
    duplicates = "".join(f" Note: {_name(r)} is {r['note']}." for r in rows if _is_duplicate(r))
    if not tested:
        return _none_tested(untested, code) + duplicates
    k, m = sum(bool(r["significant"]) for r in tested), len(tested)
    what = (f"{k} of {m} variants differ" if k else f"none of the {m} variants differs") + " from the baseline"
    families = sum(r["baseline"] and not _is_duplicate(r) for r in rows)
    holm = "after Holm" + (f" (within each of the {families} baselines)" if families > 1 else "")
    rest = f"; {len(untested)} more not tested ({_reasons(untested)})" if untested else ""
    return f"{bold}{what[0].upper() + what[1:]} at α = {alpha:g} {holm}{bold} ({test}, two-sided){rest}.{duplicates}"


def _is_duplicate(row: dict[str, Any]) -> bool:
    return bool(row["baseline"] and (row["note"] or "").startswith(_DUPLICATE))


def _reason(row: dict[str, Any]) -> str:
    """Why a variant has no p-value, in the words of the verdict."""
    note = row["note"] or "no p-value"
    if note.startswith("insufficient paired"):
        return f"fewer than {stats.MIN_SEEDS} seeds shared with the baseline"
    if note.startswith("insufficient"):
        return f"fewer than {stats.MIN_SEEDS} seeds on a side"
    return note


def _reasons(untested: Sequence[dict[str, Any]]) -> str:
    """The reasons of ``untested``: one, or each with how many variants it applies to."""
    counts: dict[str, int] = {}
    for r in untested:
        counts[_reason(r)] = counts.get(_reason(r), 0) + 1
    if len(counts) == 1:
        return next(iter(counts))
    return "; ".join(f"{n}: {why}" for why, n in counts.items())


def _none_tested(untested: Sequence[dict[str, Any]], code: str) -> str:
    """The verdict when no variant has a p-value."""
    more = (f"Run at least {stats.MIN_SEEDS} seeds per variant and baseline, e.g. {code}ablation.seeds=[0,1,2]{code} "
            f"or {code}seed=0,1,2{code}; the planning note says how many.")
    notes = [r["note"] or "" for r in untested]
    if all(n.startswith("insufficient seeds") for n in notes):
        return (f"No variant can be tested: every comparison has fewer than {stats.MIN_SEEDS} seeds on one side, so "
                f"there is no p-value. {more}")
    if all(n.startswith("no baseline") for n in notes):
        return "No variant has a baseline with the same settings, so none is compared."
    return f"No variant can be tested ({_reasons(untested)})." + (
        f" {more}" if any(n.startswith("insufficient") for n in notes) else "")


def _columns_label(record: dict[str, Any]) -> str:
    if record.get("block") == "parts":
        return " + ".join(str(record.get(k)) for k in ("squeeze", "excite", "gate"))
    return str(record.get("block"))


def _num(value: float | int | None) -> str:
    if value is None:
        return "–"
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(value) >= scale:
            return f"{value / scale:.2f}{unit}"
    return str(value)


def _f(value: float | None, signed: bool = False) -> str:
    if value is None:
        return "–"
    return f"{value:+.2f}" if signed else f"{value:.2f}"


def _interval(low: float | None, high: float | None, signed: bool = False) -> str:
    return "–" if low is None or high is None else f"[{_f(low, signed)}, {_f(high, signed)}]"


def _p_cell(r: dict[str, Any]) -> str:
    """The p-value, or instead of it "insufficient seeds (n < 3)" (or "... paired seeds ...")."""
    if r["baseline"]:
        return ""
    if r["p_value"] is None and (r["note"] or "").startswith("insufficient"):
        return r["note"]
    return p_text(r["p_value"], r.get("alpha"))


def _paired(rows: Sequence[dict[str, Any]]) -> bool:
    return any(r.get("stat_test") == "paired" for r in rows)


def _display(rows: list[dict[str, Any]], wide: bool = True) -> tuple[list[str], list[list[str]]]:
    """Header and cells of the variant table; ``wide`` adds the part columns and P(> baseline) (report.md)."""
    paired = _paired(rows)
    parts_header = ["squeeze", "excite", "gate", "block"] if wide else []
    header = ["variant", *parts_header, "n", "test acc %", "95 % CI", "Δ pp", "Δ 95 % CI",
              "p (paired)" if paired else "p (Welch)", "p Holm", "differs", *(["P(> base)"] if wide else []),
              "params", "FLOPs", "latency ms"]
    body = []
    for r in rows:
        acc = _f(r["mean"]) + (f" ± {r['std']:.2f}" if r["std"] is not None else "")
        n = _n_cell(r)
        parts = r["block"] == "parts"
        cells = [r["variant"]]
        if wide:
            cells += [*(str(r[c]) if parts and r[c] else "–" for c in ("squeeze", "excite", "gate")),
                      "parts" if parts else str(r["block"])]
        base = r["baseline"]
        differs = "" if base else ("–" if r["significant"] is None else "yes" if r["significant"] else "no")
        cells += [n, acc, _interval(r["ci95_low"], r["ci95_high"]),
                  "baseline" if base else _f(r["delta_pp"], signed=True),
                  "" if base else _interval(r["delta_ci95_low_pp"], r["delta_ci95_high_pp"], signed=True),
                  _p_cell(r), "" if base else p_text(r["p_holm"], r.get("alpha")), differs]
        if wide:
            cells.append("" if base or r["prob_improvement"] is None else f"{r['prob_improvement']:.2f}")
        cells += [_num(r["params"]), _num(r["flops"]),
                  f"{r['latency_ms']:.2f}" if r["latency_ms"] is not None else "–"]
        body.append(cells)
    return header, body


def _n_cell(r: dict[str, Any]) -> str:
    """Seeds that finished, and in brackets the pairs a paired test used and the jobs that failed: "3 (2 pairs)"."""
    pairs = r.get("pairs")
    extra = ([] if pairs is None else [f"{pairs} pair" + ("" if pairs == 1 else "s")]) + (
        [f"{r['failed']} failed"] if r["failed"] else []) + ([f"{r['pruned']} pruned"] if r.get("pruned") else []) + (
        [f"{r['training']} training"] if r.get("training") else [])
    return str(r["n"]) + (f" ({', '.join(extra)})" if extra else "")


def format_table(rows: list[dict[str, Any]]) -> str:
    """The variant table as aligned plain text (what ``ablate`` and ``report`` print)."""
    header, body = _display(rows, wide=False)
    lines = [text_table(header, body, left={0, header.index("p (paired)" if _paired(rows) else "p (Welch)")})]
    alpha = next((r["alpha"] for r in rows if r.get("alpha") is not None), None)
    if alpha is not None:
        lines += ["", "Verdict (exploratory): " + verdict(rows, alpha, _paired(rows), markdown=False)]
        lines += [text for text in (settings_note(rows, markdown=False), *detectable(rows, alpha)) if text]
        if any(_advice(r) for r in rows):  # how many seeds: one line here, per variant in report.md and report.csv
            lines.append(_planning(rows, alpha, markdown=False))
    checks = [e for r in rows for e in r.get("reproduction") or ()]
    if checks:  # references matched to rows by reproduction.reproduce (report.published)
        lines += ["", format_reproduction(checks)]
    return "\n".join(lines)


def settings_note(rows: Sequence[dict[str, Any]], markdown: bool = True) -> str | None:
    """When the rows hold more than one setting (baselines of different contexts): that each variant is compared
    with the baseline of its own settings, and how to keep settings apart; None otherwise."""
    bases = [r for r in rows if r["baseline"] and not _is_duplicate(r)]
    if len(bases) < 2:
        return None
    code = "`" if markdown else ""
    names = ", ".join(f"{code}{r['variant']}{code}" for r in bases)
    return (f"Settings: this folder holds jobs of {len(bases)} different settings, each with its own baseline "
            f"({names}); each variant is compared with the baseline of its own settings, and the rows are grouped by "
            f"setting. To keep settings apart, give each its own folder ({code}hydra.sweep.dir=...{code}; "
            f"{code}se-variants ablate{code} names a folder after its command line's settings).")


def detectable(rows: Sequence[dict[str, Any]], alpha: float) -> list[str]:
    """What the run can show: for each baseline with a seed std, the minimum detectable effect of the comparisons
    with it (:func:`stats.detectable_effect` at the fewest seeds of an arm, times the baseline's seed std, 80 %
    power at ``alpha``) for one comparison, and for a variant to differ after Holm over the family (its first step
    tests at alpha / m). One line per baseline; a planning figure, not evidence about this run."""
    bases = [r for r in rows if r["baseline"] and not _is_duplicate(r) and r["std"]]
    out = []
    for base in bases:
        family = [r for r in rows if not r["baseline"] and r["n"] and r["context_hash"] == base["context_hash"]]
        n = min([base["n"], *(r["n"] for r in family)])
        d = stats.detectable_effect(n, alpha, PLAN_POWER) if family else None
        if d is None:
            continue
        s, m = base["std"], len(family)
        whose = f" ({base['variant']})" if len(bases) > 1 else ""
        holm = (f", and {stats.detectable_effect(n, alpha / m, PLAN_POWER) * s:.2f} pp for a variant to differ after "
                f"Holm over {m}" if m > 1 else "")
        out.append(f"Minimum detectable effect{whose}: with {n} seeds per arm and the baseline's seed std of "
                   f"{s:.2f} pp, a true Δ of {d * s:.2f} pp is found with {PLAN_POWER * 100:g} % power at "
                   f"α = {alpha:g} in one comparison{holm}; smaller true differences can hide in this run.")
    return out


def _advice(r: dict[str, Any]) -> str | None:
    """For a variant with too few seeds to test: what to run, and a seed count for 80 % power (planning)."""
    if r["baseline"] or not (r["note"] or "").startswith("insufficient"):
        return None
    need = (f"; about {r['seeds_needed']} per arm would give 80 % power if the true Δ were the observed "
            f"{r['delta_pp']:+.2f} pp" if r["seeds_needed"] is not None else "")
    whose = "shared by the variant and the baseline" if r["stat_test"] == "paired" else \
        "of the variant and of the baseline"
    return f"{r['note']}: a p-value needs >= {stats.MIN_SEEDS} seeds {whose}{need}."


def _planning(rows: Sequence[dict[str, Any]], alpha: float, markdown: bool = True) -> str:
    """Seeds per arm for 80 % power at differences of 1 and 2 baseline seed-stds, in pp where there is a std."""
    n1, n2 = stats.seeds_needed(1.0, alpha, PLAN_POWER), stats.seeds_needed(2.0, alpha, PLAN_POWER)
    base = next((r for r in rows if r["baseline"] and r["std"]), None)
    if base is not None:
        s = base["std"]
        size = (f"a true difference of {s:.2f} pp (one seed std of the baseline, {base['variant']}) needs {n1} "
                f"seeds per arm, {2 * s:.2f} pp needs {n2}")
    else:
        size = (f"a true difference of one seed standard deviation needs {n1} seeds per arm, two need {n2}")
    text = f"For 80 % power at α = {alpha:g} (one comparison; Holm over m variants asks for more), {size}."
    if not markdown:
        return f"Planning: {text} Per variant: seeds_needed in report.csv."
    return (f"**Planning.** {text} Per variant, `seeds_needed` in report.csv is the same number for a true Δ of the "
            f"size observed (Cohen's d) — a planning figure for the next run, not evidence about this one.")


def baseline_hint(records: Sequence[dict[str, Any]], rows: Sequence[dict[str, Any]], common: Sequence[str],
                  sweep_dir: Path, markdown: bool = False) -> str | None:
    """For a folder without ``block=none`` jobs: why Δ and p are empty, and the command that adds the baseline
    (the jobs' seeds and shared settings, without the block choice, the seed and run knobs); None otherwise."""
    if not rows or any(r["baseline"] for r in rows):
        return None
    seeds = sorted({r["seed"] for r in records if r["status"] == "ok" and isinstance(r.get("seed"), int)})
    seed = "seed=" + (",".join(str(s) for s in seeds) or "0,1,2")
    shared = [o for o in common if o.lstrip("+~").split("=", 1)[0].split(".", 1)[0] not in
              ("block", *PART_KEYS, "seed") and not is_run_knob(o)]
    command = " ".join(["se-variants train -m block=none", seed, *shared, f"hydra.sweep.dir={sweep_dir}"])
    code = "`" if markdown else ""
    return (f"No {code}block=none{code} jobs here, so Δ and p are empty (–): add the baseline to this folder with "
            f"{code}{command}{code}")


def _markdown(sweep_dir: Path, records: list[dict[str, Any]], rows: list[dict[str, Any]], common: list[str],
              broken: Sequence[dict[str, Any]] = (), superseded: Sequence[dict[str, Any]] = (),
              alpha: float = DEFAULT_ALPHA, paired: bool = False,
              reproduction: Sequence[dict[str, Any]] = ()) -> str:
    ok = sum(r.get("status") == "ok" for r in records)
    bad = [r for r in records if r.get("status") != "ok"]
    pruned = sum(r.get("status") == "pruned" for r in bad)
    header, body = _display(rows, wide=True)
    first = next((r for r in records if r.get("status") == "ok"), records[0] if records else {})
    data = (first.get("data") or {})
    size = "×".join(str(s) for s in data.get("image_size") or []) or "?"
    test = ("paired t-test over the seeds both have (`report.paired=true`; valid only when a seed fixes randomness "
            "the variant and baseline jobs share)" if paired else "Welch's t-test (unequal variances)")
    lines = [
        f"# Results: {sweep_dir.name}",
        "",
        f"Verdict (exploratory): {verdict(rows, alpha, paired)}",
        "",
        *(line for text in (settings_note(rows), *detectable(rows, alpha)) if text for line in (text, "")),
        f"{len(records)} jobs in `{sweep_dir}`: {ok} ok, {f'{pruned} pruned, ' if pruned else ''}"
        f"{len(bad) - pruned} failed or unfinished"
        + (f"; **{len(broken)} broken record(s)** not counted (listed below)" if broken else "") + ".",
        "",
        "Test accuracy: mean ± sample standard deviation over the seeds that finished (n), and the 95 % t-interval "
        "of the mean. Δ: mean − the mean of the baseline (`block=none`) trained with the same settings, in "
        f"percentage points, with its 95 % interval; p: {test}, two-sided; p Holm: adjusted over all variants "
        f"compared with that baseline; differs: p Holm < α = {alpha:g}. P(> base): the chance that a seed of the "
        "variant beats a seed of the baseline. The intervals are not adjusted for multiple comparisons. "
        "Exploratory: the variants were not chosen in advance as confirmatory hypotheses, and seeds vary the "
        "training only (the test split is fixed), so a difference is one of this recipe on this test set. "
        f"FLOPs: one {size} image, counted with torch's flop formulas (a multiply-add is 2 FLOPs; elementwise ops "
        f"and pooling not counted). Latency: median of {_repeats(first)} "
        f"timed forward passes of batch {first.get('latency_batch', '?')} on the training machine "
        f"({(first.get('host') or {}).get('platform', '?')}).",
        "",
    ]
    if common:
        lines += ["Common overrides: " + " ".join(f"`{o}`" for o in common), ""]
    hint = baseline_hint(records, rows, common, sweep_dir, markdown=True)
    if hint:
        lines += [hint, ""]
    lines += ["| " + " | ".join(header) + " |",
              "|" + "|".join("---" if i < 5 else "---:" for i in range(len(header))) + "|"]
    lines += ["| " + " | ".join(_md_cell(cell) for cell in b) + " |" for b in body]
    notes = [f"- {r['variant']}: {_advice(r) or r['note']}" for r in rows if r["note"]]
    if notes:
        lines += [""] + notes
    if any(not r["baseline"] for r in rows):
        lines += ["", _planning(rows, alpha)]
    if reproduction:
        lines += ["", *markdown_reproduction(reproduction)]
    if bad:
        lines += ["", f"## {'Pruned, failed' if pruned else 'Failed'} or unfinished jobs", "",
                  "| job | status | overrides | error |", "|---|---|---|---|"]
        for r in bad:
            err = r.get("error") or {}
            msg = f"{err.get('type', '')}: {err.get('message', '')}" if err else \
                _pruned(r) if r.get("status") == "pruned" else _unfinished(Path(r["job_dir"]))
            cells = [f"`{Path(r['job_dir']).name}`", str(r.get("status")), " ".join(r.get("overrides") or []),
                     one_line(msg, 300)]
            lines.append("| " + " | ".join(_md_cell(c) for c in cells) + " |")
    if broken:
        lines += ["", "## Broken records", "",
                  "These metrics.json files cannot be trusted and are not counted above. Move them away, or re-run "
                  "their jobs with `rerun=true`.", "", "| file | problem |", "|---|---|"]
        lines += [f"| `{b['path']}` | {_md_cell(str(b['problem']))} |" for b in broken]
    if superseded:
        lines += ["", f"{len(superseded)} older record(s) of configs that ran again are not counted (the newest "
                  "record of each config is): " + ", ".join(f"`{s['path']}`" for s in superseded)]
    versions = first.get("versions") or {}
    if versions:
        lines += ["", "Versions: " + ", ".join(f"{k} {v}" for k, v in versions.items() if v)]
    return "\n".join(lines) + "\n"


def _repeats(record: dict[str, Any]) -> Any:
    return ((record.get("config") or {}).get("measure") or {}).get("latency_repeats", "?")


def _pruned(record: dict[str, Any]) -> str:
    """What a pruned job's record says: stopped on purpose by its search's pruner, not to be resumed."""
    notes = [n for a in record.get("attempts") or [] for n in a.get("notes") or [] if "pruner" in str(n)]
    why = notes[-1] if notes else "stopped by its search's pruner"
    return f"{why} (on purpose: not a failure, nothing to resume)"


def _held(job_dir: Path) -> bool:
    """Whether a live process holds the job's claim (it is being trained now)."""
    try:
        return owner_of(job_dir) is not None
    except OSError:  # an unreadable claim: not known to be training
        return False


def _unfinished(job_dir: Path) -> str:
    """Why a job has no final record: it is being trained (by whom), or its process died (resume by re-running)."""
    try:
        owner = owner_of(job_dir)
    except OSError as err:  # a claim that is a folder, an unreadable one
        return f"its claim cannot be read ({err}); move claim.json away and re-run the command"
    if owner is not None:
        return f"being trained by {owner.describe()}"
    return "interrupted: no live process holds it (killed?); re-run the command to resume it from its last epoch"


def _md_cell(text: str) -> str:
    """``text`` on one line, safe inside a markdown table cell."""
    return one_line(text).replace("|", "\\|")


def _job_rows(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for r in records:
        m = r.get("metrics") or {}
        err = r.get("error") or {}
        out.append({**{k: r.get(k) for k in JOB_COLUMNS}, "job": Path(r["job_dir"]).name,
                    "overrides": " ".join(r.get("overrides") or []),
                    "test_acc": m.get("test", {}).get("acc"), "test_loss": m.get("test", {}).get("loss"),
                    "val_acc": m.get("val", {}).get("acc"), "train_acc": m.get("train", {}).get("acc"),
                    "error": f"{err.get('type')}: {err.get('message')}" if err else None})
    return out


def report_lock(sweep_dir: Path) -> contextlib.AbstractContextManager[None]:
    """Hold ``<sweep_dir>/.report.lock`` (:func:`.files.locked`): one report writer at a time."""
    return locked(sweep_dir / LOCK_FILE)


def write_report(sweep_dir: Path | str, plot: bool | None = True, *, alpha: float | None = None,
                 paired: bool | None = None, pool: bool = False,
                 published: Sequence[dict[str, Any]] | None = None) -> dict[str, Any]:
    """Write report.md, report.csv, jobs.csv, report.png and (when there are published runs to compare with)
    reproduction.csv into ``sweep_dir``, each atomically, one writer at a time (:func:`report_lock`).

    Args:
        sweep_dir: a folder with job folders (metrics.json) at any depth; a folder below it that holds its own
            sweep.json is another sweep (a search's ``confirm/``), reported apart unless ``pool``.
        plot: draw report.png (the slowest part: matplotlib); None draws it only when it is missing or older than
            a record.
        alpha: significance level of the Holm-adjusted tests; default: ``config.report.alpha`` of the newest
            record (0.05).
        paired: pair jobs by seed (paired t-test) instead of Welch's test; default: ``config.report.paired``.
        published: published runs to compare variants with (``report.published``: see :mod:`.reproduction`);
            default: ``config.report.published`` of the newest record.

    Returns ``{"rows", "records", "common", "broken", "superseded", "files", "alpha", "paired",
    "reproduction"}`` (see :func:`collect`, :func:`summarize`, :func:`.reproduction.reproduce`); rows matched by
    a reference carry its comparisons under ``reproduction``. With no metrics.json under ``sweep_dir`` nothing is
    written and
    ``files`` is empty. Raises ValueError for report settings that are not valid, :class:`.files.FileProblem`
    when a report file's place is taken by a folder.
    """
    sweep_dir = Path(sweep_dir)
    with report_lock(sweep_dir):
        records, broken, superseded = collect(sweep_dir, pool)
        alpha, paired = report_settings(records, alpha, paired)
        published = recorded_published(records) if published is None else check_published(published)
        rows, common = summarize(records, alpha=alpha, paired=paired)
        checks = reproduce(records, rows, published)
        out: dict[str, Any] = {"rows": rows, "records": records, "common": common, "broken": broken,
                               "superseded": superseded, "files": [], "alpha": alpha, "paired": paired,
                               "reproduction": checks}
        if not records and not broken:
            return out
        write_atomic(sweep_dir / "report.md", _markdown(sweep_dir, records, rows, common, broken, superseded,
                                                        alpha, paired, checks))
        write_atomic(sweep_dir / "report.csv", csv_text(rows, ROW_COLUMNS))
        job_rows = _job_rows(records) + [{"job": Path(b["path"]).parent.name, "status": "broken",
                                          "error": b["problem"]} for b in broken]
        write_atomic(sweep_dir / "jobs.csv", csv_text(job_rows, JOB_COLUMNS))
        out["files"] = [sweep_dir / f for f in ("report.md", "report.csv", "jobs.csv")]
        if checks:
            write_atomic(sweep_dir / REPRODUCTION_FILE, csv_text(checks, REPRODUCTION_COLUMNS))
            out["files"].append(sweep_dir / REPRODUCTION_FILE)
        elif (sweep_dir / REPRODUCTION_FILE).is_file():  # the references were removed since: no stale file
            (sweep_dir / REPRODUCTION_FILE).unlink()
        png = sweep_dir / "report.png"
        if plot is None:
            newest = max((Path(r["job_dir"]) / RESULT_FILE).stat().st_mtime for r in records) if records else 0.0
            plot = not png.is_file() or png.stat().st_mtime < newest
        try:
            if plot:
                from .report_plot import plot_report  # (matplotlib: imported when a plot is drawn)

                plot_report(rows, png, f"{sweep_dir.name}: test accuracy by variant", alpha, paired)
        except Exception as err:  # a plot must never cost the tables
            print(f"se-variants: report.png not written ({type(err).__name__}: {err})", file=sys.stderr)
        if png.is_file():
            out["files"].append(png)
        return out
