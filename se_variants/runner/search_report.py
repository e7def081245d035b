"""The report of a search: ``search.md`` (the trials, the best one), ``search.csv``, Optuna's optimization history
and parameter importances as PNGs, and the sweep's own report of the trial jobs (:mod:`.report`), next to each
other in the sweep folder."""

from __future__ import annotations

import sys
import warnings
from pathlib import Path
from typing import Any

from .files import replace_into, write_atomic
from .plans import SearchPlan
from .redact import redact
from .report import write_report
from .tables import csv_text, one_line, text_table

__all__ = ["trial_rows", "write_search_report", "override_value"]


def override_value(value: Any) -> str:
    """A sampled value as a Hydra override value."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return repr(value)
    if value is None:
        return "null"
    return str(value)


def trial_rows(study: Any) -> list[dict[str, Any]]:
    rows = []
    for t in study.get_trials(deepcopy=False):
        rows.append({"trial": t.number, "state": t.state.name.lower(),
                     "objective": t.value if t.value is not None else None,
                     "params": " ".join(f"{k}={override_value(v)}" for k, v in t.params.items()),
                     "job": Path(t.user_attrs.get("job_dir", "")).name,
                     "note": t.user_attrs.get("refused") or t.user_attrs.get("error") or ""})
    return rows


def write_search_report(search: SearchPlan, study: Any) -> list[Path]:
    """``search.md`` (the trials, the best one), ``search.csv``, and Optuna's optimization history and parameter
    importances as PNGs, next to the sweep's report; the sweep's own report of the trial jobs too, with the
    command's ``report`` settings (alpha, paired)."""
    from optuna.trial import TrialState

    s = search.settings
    out = search.out_dir
    rows = trial_rows(study)
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    lines = [f"# Search: {s['study_name']}", "",
             f"Objective: {s['metric']} ({s['direction']}), on the validation split: the test accuracy of each trial "
             f"is in its metrics.json and report.md, never optimized. Sampler {s['sampler']['name']}"
             f"{' (seed ' + str(s['sampler'].get('seed')) + ')' if s['sampler'].get('seed') is not None else ''}, "
             f"pruner {(s.get('pruner') or {}).get('name', 'none')}; study in `{redact(s['storage'])}`.", ""]
    if complete:
        best = study.best_trial
        lines += [f"**Best trial {best.number}**: {s['metric']} = {best.value:.4f} with "
                  + " ".join(f"`{k}={override_value(v)}`" for k, v in best.params.items())
                  + f" (job `{Path(best.user_attrs.get('job_dir', '')).name}`). A best-of-{len(complete)} "
                  f"validation score is biased upward: confirm it with fresh seeds (`--confirm 3`).", ""]
    header = ["trial", "state", s["metric"], "params", "note"]
    body = [[str(r["trial"]), r["state"], "–" if r["objective"] is None else f"{r['objective']:.4f}", r["params"],
             one_line(r["note"], 120)] for r in rows]
    lines += ["```text", text_table(header, body, left={0, 1, 3, 4}), "```", ""]
    write_atomic(out / "search.md", "\n".join(lines) + "\n")
    write_atomic(out / "search.csv", csv_text(rows, ["trial", "state", "objective", "params", "job", "note"]))
    files = [out / "search.md", out / "search.csv"]
    files += _plots(study, out)
    try:
        write_report(out, plot=None, alpha=search.report[0], paired=search.report[1])
        files.append(out / "report.md")
    except (OSError, ValueError) as err:
        print(f"se-variants: the report was not written: {err}", file=sys.stderr)
    return files


def _plots(study: Any, out: Path) -> list[Path]:
    """Optuna's optimization history and parameter importances (its matplotlib backend) as PNGs."""
    import matplotlib  # (imported when a report is drawn: matplotlib costs a second at startup)

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from optuna.trial import TrialState
    from optuna.visualization import matplotlib as ovm

    files = []
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    plots = [("search_history.png", ovm.plot_optimization_history, 1),
             ("search_importances.png", ovm.plot_param_importances, 2)]
    for name, plot, needed in plots:
        if len(complete) < needed or (plot is ovm.plot_param_importances and len(study.best_trial.params) < 1):
            continue
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # Optuna marks its matplotlib backend experimental
                ax = plot(study)
            fig = ax.figure if hasattr(ax, "figure") else plt.gcf()
            fig.set_size_inches(7, 4.5)
            fig.tight_layout()
            replace_into(out / name, lambda tmp: fig.savefig(tmp, dpi=110, format="png"))
            plt.close(fig)
            files.append(out / name)
        except Exception as err:  # a plot never costs the tables
            print(f"se-variants: {name} not written ({type(err).__name__}: {err})", file=sys.stderr)
    return files
