"""The report of a search, in its sweep folder: ``search.md`` (its trials; the best one, or with several objectives
the Pareto front; how many distinct configurations it tried), ``search.csv``, Optuna's optimization history,
parameter importances and -- several objectives -- Pareto front as PNGs, and the sweep's own report of the trial
jobs (:mod:`.report`), with the command's report settings (``report.alpha``, ``report.paired``).

A trial's state: ``complete``, ``pruned``, ``failed``, ``refused`` (a combination the planner refuses),
``running`` (its job did not finish: the next run resumes it) or ``closed`` (its command died inside ``ask``;
replaced, and not one of the search's trials). A repeated configuration -- the sampler proposed a point an
earlier trial had -- reuses that trial's job and is marked ``repeat of trial N``: a search of T trials may have
tried fewer distinct configurations, and its best is the best of those.
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from .files import replace_into, write_atomic
from .plans import SearchPlan
from .report import write_report
from .search_space import override_value
from .study import best_trial, closed_numbers, shown_storage
from .tables import csv_text, one_line, text_table

__all__ = ["trial_rows", "search_markdown", "write_search_report", "PLOTS"]

#: the figures a search draws (when it has the trials for them)
PLOTS = ("search_history.png", "search_importances.png", "search_pareto.png")


def _state(t: FrozenTrial, closed: set[int]) -> str:
    if t.number in closed:
        return "closed"
    if t.state == TrialState.FAIL and t.user_attrs.get("refused"):
        return "refused"
    return {"COMPLETE": "complete", "PRUNED": "pruned", "FAIL": "failed", "RUNNING": "running"}.get(
        t.state.name, t.state.name.lower())


def trial_rows(study: optuna.Study, metrics: list[str]) -> list[dict[str, Any]]:
    """One row per trial of the study: its number, state, objectives (one key per metric), ``pareto`` (on the
    front of several objectives, or the best of one), ``repeat_of`` (the earlier trial whose configuration, and
    job, it repeats), ``sampled`` (its parameters as overrides), job folder and a note (why it was refused,
    failed, closed, or repeats)."""
    closed = closed_numbers(study)
    trials = sorted(study.get_trials(deepcopy=False), key=lambda t: t.number)
    counted = [t for t in trials if t.number not in closed]
    if len(metrics) > 1:
        front = {t.number for t in study.best_trials if t.number not in closed}
    else:
        best = best_trial(study, counted)
        front = {best.number} if best is not None else set()
    first_of: dict[str, int] = {}
    rows = []
    for t in trials:
        job = t.user_attrs.get("job_dir") or ""
        repeat_of = None
        if t.number not in closed and job:
            repeat_of = first_of.setdefault(job, t.number)
            repeat_of = None if repeat_of == t.number else repeat_of
        note = (study.user_attrs.get(f"se_variants.closed.{t.number}") if t.number in closed else
                t.user_attrs.get("refused") or t.user_attrs.get("error") or
                (f"repeat of trial {repeat_of} (the same configuration: its job reused)" if repeat_of is not None
                 else ""))
        values = t.values if t.state == TrialState.COMPLETE and t.values else [None] * len(metrics)
        rows.append({"trial": t.number, "state": _state(t, closed), **dict(zip(metrics, values)),
                     "pareto": t.number in front, "repeat_of": repeat_of,
                     "sampled": " ".join(f"{k}={override_value(v)}" for k, v in t.params.items()),
                     "job": Path(job).name, "note": note or ""})
    return rows


def _cell(metric: str, value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value:g}" if metric in ("params", "flops") else f"{value:.4f}"


def _summary(rows: list[dict[str, Any]]) -> tuple[str, int]:
    """("12 trials: 9 complete, ...", distinct configurations among the trials that ran a job)."""
    counts: dict[str, int] = {}
    for r in rows:
        counts[r["state"]] = counts.get(r["state"], 0) + 1
    n = sum(c for state, c in counts.items() if state != "closed")
    distinct = len({r["job"] for r in rows if r["state"] not in ("closed", "refused") and r["job"]})
    states = ", ".join(f"{counts[s]} {s}" for s in ("complete", "pruned", "failed", "refused", "running")
                       if counts.get(s))
    closed = f"; {counts['closed']} closed (not counted)" if counts.get("closed") else ""
    return f"{n} trials ({states or 'none finished'}{closed}), {distinct} distinct configurations", distinct


def search_markdown(search: SearchPlan, study: optuna.Study, rows: list[dict[str, Any]]) -> str:
    """The text of ``search.md`` from :func:`trial_rows`."""
    s = search.settings
    sampler = ", ".join(f"{k}={override_value(v)}" for k, v in s.sampler.items() if k != "name")
    pruner = ", ".join(f"{k}={override_value(v)}" for k, v in s.pruner.items() if k != "name")
    objectives = ", ".join(f"{m} ({d})" for m, d in zip(s.metrics, s.directions))
    summary, distinct = _summary(rows)
    lines = [f"# Search: {s.study_name}", "",
             f"Objective{'s' if len(s.metrics) > 1 else ''}: {objectives}. A validation or training metric is the "
             f"job's last epoch's; the test accuracy of each trial is in its metrics.json and report.md, never "
             f"optimized. Sampler {s.sampler['name']}{f' ({sampler})' if sampler else ''}, pruner "
             f"{s.pruner['name']}{f' ({pruner})' if pruner else ''}; study `{s.study_name}` in "
             f"`{shown_storage(s.storage)}`.", "", f"{summary}.", ""]
    front = [r for r in rows if r["pareto"]]
    if len(s.metrics) == 1 and front:
        best = front[0]
        lines += [f"**Best trial {best['trial']}**: {s.metrics[0]} = {_cell(s.metrics[0], best[s.metrics[0]])} with "
                  + " ".join(f"`{p}`" for p in best["sampled"].split()) + f" (job `{best['job']}`): the best of "
                  f"{distinct} distinct configurations. A best-of-{distinct} validation score is biased upward: "
                  f"confirm it with fresh seeds (`--confirm 3`).", ""]
    elif front:
        header = ["trial", *s.metrics, "sampled"]
        body = [[str(r["trial"]), *(_cell(m, r[m]) for m in s.metrics), r["sampled"]] for r in front]
        lines += [f"**Pareto front**: {len(front)} trial(s) no other complete trial beats on every objective (of "
                  f"{distinct} distinct configurations). Their scores are biased upward as any best-of-n: confirm "
                  f"one with fresh seeds (`--confirm 3 --confirm-trial N`; by default the best on {s.metrics[0]}).",
                  "", "```text", text_table(header, body, left={0, len(header) - 1}), "```", ""]
    header = ["trial", "state", *s.metrics, *(["front"] if len(s.metrics) > 1 else []), "sampled", "note"]
    body = [[str(r["trial"]), r["state"], *(_cell(m, r[m]) for m in s.metrics),
             *(["*" if r["pareto"] else ""] if len(s.metrics) > 1 else []), r["sampled"], one_line(r["note"], 120)]
            for r in rows]
    lines += ["```text", text_table(header, body, left={0, 1, len(header) - 2, len(header) - 1}), "```", ""]
    return "\n".join(lines) + "\n"


def write_search_report(search: SearchPlan, study: optuna.Study) -> list[Path]:
    """``search.md``, ``search.csv`` and the figures (:data:`PLOTS`), then the sweep's own report of the trial
    jobs with the command's report settings; returns the files written."""
    s = search.settings
    out = search.out_dir
    rows = trial_rows(study, s.metrics)
    write_atomic(out / "search.md", search_markdown(search, study, rows))
    write_atomic(out / "search.csv", csv_text(rows, ["trial", "state", *s.metrics, "pareto", "repeat_of", "sampled",
                                                     "job", "note"]))
    files = [out / "search.md", out / "search.csv", *_plots(study, s.metrics, out)]
    try:
        write_report(out, plot=None, alpha=search.report[0], paired=search.report[1])
        files.append(out / "report.md")
    except (OSError, ValueError) as err:
        print(f"se-variants: the report was not written: {err}", file=sys.stderr)
    return files


def _plots(study: optuna.Study, metrics: list[str], out: Path) -> list[Path]:
    """Optuna's optimization history and parameter importances (of the first objective) and, with 2 or 3
    objectives, the Pareto front, drawn by its matplotlib backend."""
    import matplotlib  # (imported when a report is drawn: matplotlib costs a second at startup)

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from optuna.visualization import matplotlib as ovm

    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    several = len(metrics) > 1
    first = {"target": (lambda t: t.values[0]), "target_name": metrics[0]} if several else \
        {"target_name": metrics[0]}
    plots = [("search_history.png", lambda: ovm.plot_optimization_history(study, **first), len(complete) >= 1),
             ("search_importances.png", lambda: ovm.plot_param_importances(study, **first),
              len(complete) >= 2 and bool(complete[0].params)),
             ("search_pareto.png", lambda: ovm.plot_pareto_front(study, target_names=metrics),
              several and len(metrics) <= 3 and len(complete) >= 1)]
    files = []
    for name, plot, possible in plots:
        if not possible:
            continue
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # Optuna marks its matplotlib backend experimental
                ax = plot()
            fig = ax.figure if hasattr(ax, "figure") else plt.gcf()
            fig.set_size_inches(7, 4.5)
            fig.tight_layout()
            replace_into(out / name, lambda tmp: fig.savefig(tmp, dpi=110, format="png"))
            plt.close(fig)
            files.append(out / name)
        except Exception as err:  # a plot never costs the tables
            print(f"se-variants: {name} not written ({type(err).__name__}: {err})", file=sys.stderr)
    return files
