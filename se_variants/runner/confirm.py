"""``--confirm k`` after a search: the chosen trial's configuration trained again with k fresh seeds next to the
``block=none`` baseline, into ``<sweep>/confirm/`` (a sweep of its own), and reported with the usual statistics.
A best-of-n validation score is biased upward -- the trial was chosen on it --; the confirmation is the evidence.

* The trial: ``--confirm-trial N``, else the complete trial best on the first objective.
* Fresh seeds: the k smallest seeds no trial of the search trained with (every searched seed, when ``seed`` is
  in the space): the chosen configuration was never selected on them.
* The baseline: ``block=none`` with the trial's other settings. When the chosen trial *is* the baseline, it is
  confirmed against nothing -- its k fresh seeds are trained alone, once -- and the command says so.
"""

from __future__ import annotations

import sys
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from ..spec import PART_KEYS
from .identity import is_baseline, job_name
from .plans import Plan, SearchPlan
from .search_space import override_value
from .study import best_trial, closed_numbers, counted
from .sweep import run_plan
from .validate import ConfigError

__all__ = ["run_confirm", "check_confirm_trial", "confirm_seeds", "confirm_overrides", "CONFIRM_DIR"]

#: the confirmation's folder inside the search's sweep folder
CONFIRM_DIR = "confirm"


def check_confirm_trial(study: optuna.Study, number: int | None) -> None:
    """Refuse ``--confirm-trial N`` when trial N of the study is closed or finished other than complete (a trial
    that does not exist yet may still come)."""
    if number is None:
        return
    if number in closed_numbers(study):
        raise ConfigError(f"--confirm-trial {number}: that trial was closed (its command died inside ask); name a "
                          f"complete trial (search.md lists them).")
    trial = next((t for t in counted(study) if t.number == number), None)
    if trial is not None and trial.state.is_finished() and trial.state != TrialState.COMPLETE:
        raise ConfigError(f"--confirm-trial {number}: that trial is {trial.state.name.lower()}, with no objective to "
                          f"confirm; name a complete trial (search.md lists them).")


def confirm_seeds(search: SearchPlan, trials: list[FrozenTrial], k: int) -> list[int]:
    """The ``k`` smallest seeds >= 0 the search did not train with: not the trials' seed, nor -- when ``seed`` is in
    the space -- any value it lists (or, for a wide interval, any a trial drew)."""
    if "seed" not in search.space:
        used = {search.base_seed}
    else:
        dist = search.space["seed"]
        choices = getattr(dist, "choices", None)
        if choices is not None:
            used = {c for c in choices if isinstance(c, int) and not isinstance(c, bool)}
        elif type(dist).__name__ == "IntDistribution" and dist.high - dist.low <= 10_000:
            used = set(range(dist.low, dist.high + 1, dist.step))
        else:
            used = {int(t.params["seed"]) for t in trials if "seed" in t.params}
    seeds, seed = [], 0
    while len(seeds) < k:
        if seed not in used:
            seeds.append(seed)
        seed += 1
    return seeds


def confirm_overrides(search: SearchPlan, params: dict[str, Any], seeds: list[int]) -> tuple[list[list[str]],
                                                                                            list[list[str]]]:
    """(the chosen configuration's jobs, the baseline's jobs), one per seed: the trial's overrides without its seed,
    and for the baseline without its block and parts either (``block=none`` in their place)."""
    chosen = [o for o in [*search.task, *(f"{k}={override_value(v)}" for k, v in params.items())]
              if o.lstrip("+~").split("=", 1)[0] != "seed"]
    block_keys = ("block", *PART_KEYS)
    other = [o for o in chosen if o.lstrip("+~").split("=", 1)[0].split(".", 1)[0] not in block_keys]
    return ([[*chosen, f"seed={s}"] for s in seeds], [[*other, "block=none", f"seed={s}"] for s in seeds])


def run_confirm(search: SearchPlan, study: optuna.Study, k: int, prog: str, number: int | None = None,
                argv: list[str] | None = None) -> int:
    """Train the chosen trial's configuration and the baseline with ``k`` fresh seeds into ``<sweep>/confirm`` and
    report the comparison; returns the exit code."""
    trials = counted(study)
    if number is None:
        trial = best_trial(study, trials)
        if trial is None:
            print(f"{prog}: no trial finished, so there is nothing to confirm.", file=sys.stderr)
            return 1
    else:
        trial = next((t for t in trials if t.number == number and t.state == TrialState.COMPLETE), None)
        if trial is None:
            print(f"{prog}: --confirm-trial {number}: the search has no complete trial {number} (search.md lists "
                  f"its trials); nothing was confirmed.", file=sys.stderr)
            return 1
    seeds = confirm_seeds(search, trials, k)
    chosen, baseline = confirm_overrides(search, trial.params, seeds)
    folder = search.out_dir / CONFIRM_DIR
    jobs = search.planner.jobs(chosen, [folder / job_name(o) for o in chosen])
    shown = " ".join(f"{key}={override_value(v)}" for key, v in trial.params.items())
    which = f"trial {trial.number} ({shown})"
    if is_baseline(jobs[0].config):
        print(f"\nConfirm: {which} is the baseline itself (block=none), so it is confirmed against nothing: its "
              f"seeds {', '.join(map(str, seeds))} are trained alone, with no comparison → {folder}", flush=True)
    else:
        jobs += search.planner.jobs(baseline, [folder / job_name(o) for o in baseline])
        print(f"\nConfirm: {which} and the block=none baseline, fresh seeds {', '.join(map(str, seeds))} (no trial "
              f"of the search trained with them) → {folder}", flush=True)
    plan = Plan(jobs, folder, True, search.launcher, search.planner.parallelism(jobs[0].config), [], search.report)
    return run_plan(plan, prog, list(argv or []))
