"""The results report of a sweep folder: jobs grouped by variant, test accuracy mean ± std over seeds, the
difference to the baseline, cost columns, failed jobs with their errors. Written as ``report.csv`` (one row per
variant), ``jobs.csv`` (one row per job), ``report.md`` and ``report.png``."""

from __future__ import annotations

import csv
import io
import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .results import RESULT_FILE, iter_results, write_atomic

__all__ = ["collect", "summarize", "write_report", "format_table", "REPORT_FILES"]

REPORT_FILES = ("report.md", "report.csv", "jobs.csv", "report.png")
VARIANT_COLUMNS = ("variant", "block", "squeeze", "excite", "gate")
ROW_COLUMNS = (*VARIANT_COLUMNS, "n", "failed", "test_acc_mean", "test_acc_std", "delta_vs_baseline",
               "val_acc_mean", "params", "flops", "latency_ms", "wall_time_s", "baseline", "seeds", "variant_hash")
JOB_COLUMNS = ("job", "status", *VARIANT_COLUMNS[1:], "seed", "overrides", "test_acc", "test_loss", "val_acc",
               "train_acc", "params", "flops", "latency_ms", "wall_time_s", "epochs", "error", "config_hash",
               "variant_hash")


def _seedless(overrides: Sequence[str]) -> list[str]:
    return [o for o in overrides if o.split("=", 1)[0].lstrip("+~") != "seed"]


def collect(sweep_dir: Path | str) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    """(records, broken, superseded) of the metrics.json files under ``sweep_dir``.

    ``records``: one valid record per config hash -- the newest (latest start) when a config ran more than once
    (a re-run, or the same job run into two folders) -- each with ``job_dir``, in the order the jobs started.
    ``broken``: ``{"path", "problem"}`` of every file that cannot be trusted (unreadable, not JSON, wrong fields).
    ``superseded``: ``{"path", "kept"}`` of the older records of a config hash, kept on disk but not counted.
    """
    newest: dict[str, dict[str, Any]] = {}
    broken, superseded = [], []
    for result in iter_results(sweep_dir):
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


def _acc(record: dict[str, Any], stage: str = "test") -> float | None:
    value = (record.get("metrics") or {}).get(stage, {}).get("acc")
    return float(value) if value is not None else None


def summarize(records: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[str]]:
    """(one row per variant, overrides common to every job). Rows: baseline variants first, then in the order
    their first job started. Accuracies in [0, 1]; ``delta_vs_baseline`` is mean − baseline mean."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for r in records:
        groups.setdefault(r.get("variant_hash") or r["job_dir"], []).append(r)
    override_sets = [set(_seedless(r.get("overrides") or [])) for r in records]
    common = sorted(set.intersection(*override_sets)) if override_sets else []
    rows = []
    for key, jobs in groups.items():
        ok = [j for j in jobs if j.get("status") == "ok"]
        first = ok[0] if ok else jobs[0]
        label_parts = [o for o in _seedless(first.get("overrides") or []) if o not in common]
        accs = [a for a in (_acc(j) for j in ok) if a is not None]
        vals = [a for a in (_acc(j, "val") for j in ok) if a is not None]
        lat = [j["latency_ms"] for j in ok if j.get("latency_ms") is not None]
        wall = [j["wall_time_s"] for j in ok if j.get("wall_time_s") is not None]
        row = {
            "variant": " ".join(label_parts) or _columns_label(first),
            **{c: first.get(c) for c in VARIANT_COLUMNS[1:]},
            "n": len(accs),
            "failed": len(jobs) - len(ok),
            "test_acc_mean": statistics.fmean(accs) if accs else None,
            "test_acc_std": statistics.stdev(accs) if len(accs) > 1 else None,
            "delta_vs_baseline": None,
            "val_acc_mean": statistics.fmean(vals) if vals else None,
            "params": first.get("params"),
            "flops": first.get("flops"),
            "latency_ms": statistics.median(lat) if lat else None,
            "wall_time_s": statistics.fmean(wall) if wall else None,
            "baseline": first.get("block") == "none",
            "seeds": " ".join(str(j.get("seed")) for j in sorted(ok, key=lambda j: j.get("seed") or 0)),
            "variant_hash": key,
            "_context": first.get("context_hash"),
            "_started": min(j.get("started") or "" for j in jobs),
        }
        rows.append(row)
    baselines = {r["_context"]: r for r in rows if r["baseline"] and r["test_acc_mean"] is not None}
    for row in rows:
        base = baselines.get(row["_context"])
        if base is not None and row["test_acc_mean"] is not None:
            row["delta_vs_baseline"] = row["test_acc_mean"] - base["test_acc_mean"]
    rows.sort(key=lambda r: (not r["baseline"], r["_started"]))
    for row in rows:
        del row["_context"], row["_started"]
    return rows, common


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


def _pct(value: float | None, signed: bool = False) -> str:
    if value is None:
        return "–"
    return f"{value * 100:+.2f}" if signed else f"{value * 100:.2f}"


def _display(rows: list[dict[str, Any]]) -> tuple[list[str], list[list[str]]]:
    header = ["variant", "squeeze", "excite", "gate", "block", "n", "test acc %", "Δ vs baseline (pp)", "params",
              "FLOPs", "latency ms"]
    body = []
    for r in rows:
        acc = _pct(r["test_acc_mean"])
        if r["test_acc_std"] is not None:
            acc += f" ± {r['test_acc_std'] * 100:.2f}"
        n = str(r["n"]) + (f" ({r['failed']} failed)" if r["failed"] else "")
        delta = "baseline" if r["baseline"] else _pct(r["delta_vs_baseline"], signed=True)
        latency = f"{r['latency_ms']:.2f}" if r["latency_ms"] is not None else "–"
        parts = r["block"] == "parts"
        body.append([r["variant"], *(str(r[c]) if parts and r[c] else "–" for c in ("squeeze", "excite", "gate")),
                     "parts" if parts else str(r["block"]), n, acc, delta, _num(r["params"]), _num(r["flops"]),
                     latency])
    return header, body


def format_table(rows: list[dict[str, Any]]) -> str:
    """The variant table as aligned plain text (what ``ablate`` and ``report`` print)."""
    header, body = _display(rows)
    widths = [max(len(x) for x in col) for col in zip(header, *body)]
    right = {5, 6, 7, 8, 9, 10}
    fmt = lambda cells: "  ".join(c.rjust(w) if i in right else c.ljust(w)  # noqa: E731
                                  for i, (c, w) in enumerate(zip(cells, widths))).rstrip()
    lines = [fmt(header), fmt(["-" * w for w in widths])] + [fmt(b) for b in body]
    return "\n".join(lines)


def _markdown(sweep_dir: Path, records: list[dict[str, Any]], rows: list[dict[str, Any]], common: list[str],
              broken: Sequence[dict[str, Any]] = (), superseded: Sequence[dict[str, Any]] = ()) -> str:
    ok = sum(r.get("status") == "ok" for r in records)
    bad = [r for r in records if r.get("status") != "ok"]
    header, body = _display(rows)
    first = next((r for r in records if r.get("status") == "ok"), records[0] if records else {})
    data = (first.get("data") or {})
    size = "×".join(str(s) for s in data.get("image_size") or []) or "?"
    lines = [
        f"# Results: {sweep_dir.name}",
        "",
        f"{len(records)} jobs in `{sweep_dir}`: {ok} ok, {len(bad)} failed or unfinished"
        + (f"; **{len(broken)} broken record(s)** not counted (listed below)" if broken else "") + ".",
        "",
        "Test accuracy: mean ± sample standard deviation over the seeds that finished (n); Δ: difference of the "
        "mean to the baseline (`block=none`) trained with the same settings, in percentage points. "
        f"FLOPs: one {size} image, counted by torch.utils.flop_counter (a multiply-add is 2 FLOPs; elementwise ops "
        f"and pooling not counted). Latency: median of {first.get('config', {}).get('measure', {}).get('latency_repeats', '?')} "
        f"timed forward passes of batch {first.get('latency_batch', '?')} on the training machine "
        f"({(first.get('host') or {}).get('platform', '?')}).",
        "",
    ]
    if common:
        lines += ["Common overrides: " + " ".join(f"`{o}`" for o in common), ""]
    if rows and not any(r["baseline"] for r in rows):
        lines += [f"No `block=none` jobs here, so no Δ column: add the baseline to this folder with "
                  f"`{' '.join(['se-variants train -m block=none seed=...', *common, f'hydra.sweep.dir={sweep_dir}'])}`.",
                  ""]
    lines += ["| " + " | ".join(header) + " |", "|" + "|".join("---" if i < 5 else "---:" for i in range(len(header))) + "|"]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in b) + " |" for b in body]
    if bad:
        lines += ["", "## Failed or unfinished jobs", "", "| job | status | overrides | error |", "|---|---|---|---|"]
        for r in bad:
            err = r.get("error") or {}
            msg = f"{err.get('type', '')}: {err.get('message', '')}" if err else "did not finish (killed?)"
            msg = " ".join(msg.split())[:300].replace("|", "\\|")
            lines.append(f"| `{Path(r['job_dir']).name}` | {r.get('status')} | {' '.join(r.get('overrides') or [])} "
                         f"| {msg} |")
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


def _md_cell(text: str) -> str:
    """``text`` on one line, safe inside a markdown table cell."""
    return " ".join(text.split()).replace("|", "\\|")


def _csv(rows: list[dict[str, Any]], columns: Sequence[str]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(columns), extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: ("" if row.get(k) is None else row.get(k)) for k in columns})
    return buf.getvalue()


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


def _plot(rows: list[dict[str, Any]], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = [r for r in rows if r["test_acc_mean"] is not None]
    fig, ax = plt.subplots(figsize=(8, 1.2 + 0.35 * max(len(shown), 1)))
    if shown:
        y = list(range(len(shown)))[::-1]
        means = [r["test_acc_mean"] * 100 for r in shown]
        errs = [(r["test_acc_std"] or 0.0) * 100 for r in shown]
        for yi, m, e, r in zip(y, means, errs, shown):  # points with error bars: no bar baseline to mislead
            ax.errorbar(m, yi, xerr=e, fmt="o", color="0.4" if r["baseline"] else "tab:blue", capsize=3)
        ax.set_yticks(y, [f"{r['variant']}  (n={r['n']})" for r in shown], fontsize=8)
        for r in shown:
            if r["baseline"]:
                ax.axvline(r["test_acc_mean"] * 100, color="0.3", linestyle="--", linewidth=1)
        lo = min(m - e for m, e in zip(means, errs))
        hi = max(m + e for m, e in zip(means, errs))
        pad = max((hi - lo) * 0.15, 0.5)
        ax.set_xlim(max(lo - pad, 0), min(hi + pad, 100))
    ax.grid(axis="x", alpha=0.3)
    ax.set_xlabel("test accuracy % (mean ± std over seeds; grey and dashed: baseline)")
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, dpi=120)
    plt.close(fig)
    tmp.replace(path)


def write_report(sweep_dir: Path | str, plot: bool = True) -> dict[str, Any]:
    """Write report.md, report.csv, jobs.csv and (with ``plot``) report.png into ``sweep_dir``, each atomically.

    Returns ``{"rows", "records", "common", "broken", "superseded", "files"}`` (see :func:`collect`); with no
    metrics.json under ``sweep_dir`` nothing is written and ``files`` is empty.
    """
    sweep_dir = Path(sweep_dir)
    records, broken, superseded = collect(sweep_dir)
    rows, common = summarize(records)
    out: dict[str, Any] = {"rows": rows, "records": records, "common": common, "broken": broken,
                           "superseded": superseded, "files": []}
    if not records and not broken:
        return out
    write_atomic(sweep_dir / "report.md", _markdown(sweep_dir, records, rows, common, broken, superseded))
    write_atomic(sweep_dir / "report.csv", _csv(rows, ROW_COLUMNS))
    job_rows = _job_rows(records) + [{"job": Path(b["path"]).parent.name, "status": "broken", "error": b["problem"]}
                                     for b in broken]
    write_atomic(sweep_dir / "jobs.csv", _csv(job_rows, JOB_COLUMNS))
    try:
        if plot:
            _plot(rows, sweep_dir / "report.png", f"{sweep_dir.name}: test accuracy by variant")
            out["files"].append(sweep_dir / "report.png")
    except Exception as err:  # a plot must never cost the tables
        print(f"se-variants: report.png not written ({type(err).__name__}: {err})")
    out["files"] = [sweep_dir / f for f in ("report.md", "report.csv", "jobs.csv")] + out["files"]
    return out

