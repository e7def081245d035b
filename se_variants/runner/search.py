"""``se-variants train -m hydra/sweeper=optuna ...``: an Optuna search over the config space, every trial a normal
job -- a job folder with ``metrics.json``, claims, exact resume, the report.

1. :func:`plan_search`: the space (:mod:`.search_space`) and ``hydra.sweeper`` (:mod:`.search_settings`) checked,
   and one point of the space planned and checked like any job -- a bad key, option, sampler, pruner, storage or
   objective stops the command (exit 2) before anything runs, in the dry run too.
2. :func:`run_search` opens the study (:mod:`.study`: refused when it optimizes something else) and writes
   ``sweep.json``.
3. Trials are asked lazily, one whenever a launcher slot frees, under the study's lock: first the trials dead
   commands left running -- taken over (their job resumes from its checkpoint, or its finished metrics.json is read
   back) or, killed inside ``ask``, closed and replaced -- then new ones until ``n_trials`` are counted. Each is
   planned and checked like any job; a combination the planner refuses is a trial that failed with the reason
   (``refused``), never a crash.
4. Each job's summary carries its objectives (:func:`objective_values`), told to the study: complete, pruned, or
   failed. A job whose process died (a killed worker) is not told: the next run resumes it.
5. Trials other live commands hold, and jobs of ours that another process trains, are waited for: two commands on
   one study both end when it is complete. A command that dies meanwhile leaves trials this one takes over.
6. The report (:mod:`.search_report`) and the exit code: 0 every trial finished (complete, pruned, or refused by
   the planner), 1 a trial failed or did not finish (the same command again resumes what can be), 130
   interrupted. An error anywhere in the loop stops the workers and exits 1 with its reason, never a hang.
7. ``--confirm k`` then trains the chosen trial's configuration with fresh seeds next to the baseline
   (:mod:`.confirm`).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import optuna
from omegaconf import DictConfig, OmegaConf
from optuna.trial import FrozenTrial, TrialState

from .claims import owner_of
from .configs import parse_overrides
from .confirm import check_confirm_trial, run_confirm
from .files import write_json
from .identity import job_name
from .launchers import open_launcher
from .plan import Planner
from .plans import Job, SearchPlan, report_settings_of
from .redact import redact, redact_values
from .report import check_alpha, check_paired
from .results import PLAN_FILE, RESULT_FILE, load_record
from .search_report import write_search_report
from .search_settings import check_objectives_data, settings_of
from .search_space import describe, first_point, override_value, parse_space, point, with_all_options
from .study import (adopt, close, closed_numbers, counted, held_here, mark_asker, open_study, orphans, shown_storage,
                    study_lock)
from .tables import one_line
from .task import COSTS
from .task import summary as job_summary
from .trackers import after_command
from .validate import ConfigError

__all__ = ["plan_search", "run_search", "dry_run_search", "objective_values", "RESUMABLE"]

#: errors of a job whose process died or was stopped: its trial is left running, and the next run resumes it
RESUMABLE = ("Killed", "Interrupted", "NotFinished")
#: how often a command looks at trials other commands hold, and at jobs other processes train, while it waits
POLL_S = 1.0


def plan_search(planner: Planner) -> SearchPlan:
    """The plan of a search: the space and settings checked, and one point of the space planned and checked like a
    job (so that a bad key or option stops the command before any trial runs). The planner stays open in the plan
    (each trial is planned with it); the caller closes it."""
    base = planner.base
    out_dir = planner.sweep_dir()
    params = base.hydra.sweeper.get("params")
    params = OmegaConf.to_container(params, resolve=False) if isinstance(params, DictConfig) else {}
    space, task = parse_space(planner.parsed, params)
    space = with_all_options(space, planner.composer.options)
    for key, dist in space.items():
        values = getattr(dist, "choices", None) or [dist.low, dist.high]
        sample = parse_overrides([f"{key}={override_value(v)}" for v in values])
        planner.check_choices(sample)
        planner.check_keys(sample)
    settings = settings_of(base.hydra.sweeper, out_dir, space)
    first = point(task, first_point(space))
    (job,) = planner.jobs([first], [out_dir / job_name(first)])
    settings.n_jobs = settings.n_jobs or planner.parallelism(job.config) or 1
    check_objectives_data(job.config, settings.metrics)
    alpha, paired = report_settings_of(job.config)
    try:
        report = (check_alpha(alpha), check_paired(paired))
    except ValueError as err:
        raise ConfigError(f"report: {err}") from None
    planner.check_output(out_dir)
    return SearchPlan(planner, task, space, settings, out_dir, planner.launcher, settings.n_jobs, report,
                      job.config_hash, int(job.config.get("seed") or 0), job.config.get("threads"))


def objective_values(summary: dict[str, Any], metrics: list[str]) -> list[float] | None:
    """The objectives of a finished job from its summary (``val/acc``: its last epoch's validation accuracy;
    ``params``: its parameter count, ...), or None when one is missing."""
    values = []
    for metric in metrics:
        if metric in COSTS:
            value = summary.get(metric)
        else:
            stage, _, key = metric.partition("/")
            value = (summary.get("metrics") or {}).get(stage, {}).get(key)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return None
        values.append(float(value))
    return values


def _sampled(params: dict[str, Any]) -> str:
    """A trial's sampled values as overrides (what a progress line names it by)."""
    return " ".join(f"{key}={override_value(value)}" for key, value in params.items())


def _shown(metrics: list[str], values: list[float] | None) -> str:
    if values is None:
        return "–"
    return ", ".join(f"{m} {v:.4f}" if m not in COSTS else f"{m} {v:g}" for m, v in zip(metrics, values))


# ------------------------------------------------------------------------------------------------- the loop


class _Search:
    """One command's part of a search: the trials it asks or takes over, their jobs, what it tells the study."""

    def __init__(self, search: SearchPlan, study: optuna.Study):
        self.search, self.study, self.s = search, study, search.settings
        self.held: dict[int, tuple[Job, optuna.Trial]] = {}  # id(job) → (its job, its trial), while it runs
        self.busy: list[tuple[Job, optuna.Trial]] = []  # our trials whose job another process trains
        self.retry: list[tuple[Job, optuna.Trial]] = []  # ... and that process stopped before the job finished
        self.unfinished: dict[int, str] = {}  # trial number → why its job did not finish (resumed next run)

    # -- asking --------------------------------------------------------------------------------------------

    def jobs(self) -> Iterator[Job]:
        """The jobs to run, one per call when a launcher slot frees (see the module doc, step 3)."""
        while self.retry:
            job, trial = self.retry.pop()
            self.held[id(job)] = (job, trial)
            yield job
        while True:
            trial = self._next_trial()
            if trial is None:
                return
            job = self._job(trial)
            if job is not None:
                yield job

    def _next_trial(self) -> optuna.Trial | None:
        with study_lock(self.s.storage) as locked:
            take, shut = orphans(self.study, self.search.space, locked)
            for t in shut:
                close(self.study, t, "asked by a command that died before its parameters were drawn; replaced")
                print(f"[closed] trial {t.number}: its command died inside ask; a new trial replaces it", flush=True)
            self.study.sampler.closed = closed_numbers(self.study)  # (the sampler's index of the next trial)
            if take:
                print(f"[resume] trial {take[0].number}: left running by a command that died; its job goes on",
                      flush=True)
                return adopt(self.study, take[0])
            if len(counted(self.study)) >= self.s.n_trials:
                return None
            trial = self.study.ask(self.search.space)
            mark_asker(trial)
            return trial

    def _job(self, trial: optuna.Trial) -> Job | None:
        """The trial's job, planned and checked; None (the trial told failed, refused) when the planner refuses it."""
        overrides = point(self.search.task, trial.params)
        trial.set_user_attr("overrides", redact_values(overrides))
        try:
            (job,) = self.search.planner.jobs([overrides], [self.search.out_dir / job_name(overrides)])
            check_objectives_data(job.config, self.s.metrics)
        except ConfigError as err:
            trial.set_user_attr("refused", redact(str(err)))
            self.study.tell(trial, state=TrialState.FAIL, skip_if_finished=True)
            print(f"[{self._done()}/{self.s.n_trials}] trial {trial.number} refused: {_sampled(trial.params)}: "
                  f"{one_line(err, 300)}", flush=True)
            return None
        prune = self.s.pruner["name"] != "none"
        job.config = {**job.config, "search": {  # (the storage URL only where the job needs it: for its pruner)
            "study": self.s.study_name, "metric": self.s.metrics[0], "prune": prune, "pruner": self.s.pruner,
            "trial": trial._trial_id,  # (the id the trial's pruner reports to; Optuna has no public name for it)
            **({"storage": self.s.storage} if prune else {})}}
        trial.set_user_attr("job_dir", str(job.folder))
        self.held[id(job)] = (job, trial)
        return job

    # -- telling -------------------------------------------------------------------------------------------

    def _done(self) -> int:
        return sum(t.state != TrialState.RUNNING for t in counted(self.study))

    def finished(self, job: Job, summary: dict[str, Any]) -> None:
        """A job came back from the launcher: tell its trial (or wait, when another process trains its job)."""
        job, trial = self.held.pop(id(job))
        if summary.get("status") == "busy":
            self.busy.append((job, trial))
            print(f"[busy] trial {trial.number}: its job is being trained by {summary.get('owner')}; waiting for it",
                  flush=True)
            return
        self._tell(job, trial, summary)

    def _tell(self, job: Job, trial: optuna.Trial, summary: dict[str, Any]) -> None:
        status, error = summary.get("status"), summary.get("error") or {}
        values = objective_values(summary, self.s.metrics) if status == "ok" else None
        if status not in ("ok", "pruned", "failed") or error.get("type") in RESUMABLE:
            why = f"{error.get('type')}: {one_line(error.get('message'), 300)}" if error else \
                f"its record says {status}"
            self.unfinished[trial.number] = why
            print(f"[--/{self.s.n_trials}] trial {trial.number} did not finish: {_sampled(trial.params)}: {why}; "
                  f"the next run resumes it", flush=True)
            return
        if values is not None:
            state = TrialState.COMPLETE
        elif status == "pruned":
            state = TrialState.PRUNED
        else:
            state = TrialState.FAIL
            trial.set_user_attr("error", one_line(f"{error.get('type')}: {error.get('message')}" if error else
                                                  f"status {status}, objective {self.s.metrics} missing", 500))
        self.study.tell(trial, values, state=state, skip_if_finished=True)
        reused = " (its job had finished before: reused)" if summary.get("skipped") else ""
        again = f" (attempt {summary['attempts']})" if (summary.get("attempts") or 0) > 1 and not reused else ""
        print(f"[{self._done()}/{self.s.n_trials}] trial {trial.number} {state.name.lower()}: "
              f"{_sampled(trial.params)}: {_shown(self.s.metrics, values)}{reused}{again}", flush=True)

    # -- waiting -------------------------------------------------------------------------------------------

    def settle(self) -> bool:
        """Wait until the study has no trial another live command holds and no job of ours another process trains
        (telling ours as they finish); True as soon as a trial must be taken over (its command died)."""
        while True:
            for job, trial in list(self.busy):
                if owner_of(job.folder) is None:
                    self.busy.remove((job, trial))
                    record, _ = load_record(job.folder / RESULT_FILE)
                    if record is not None and record["status"] in ("ok", "pruned") or \
                            record is not None and record["status"] == "failed" and \
                            (record.get("error") or {}).get("type") not in RESUMABLE:
                        self._tell(job, trial, job_summary(record, job))
                    else:  # the process that trained it stopped before the end: it resumes here
                        self.retry.append((job, trial))
            if self.retry:
                return True
            with study_lock(self.s.storage) as locked:
                take, shut = orphans(self.study, self.search.space, locked)
            if take or shut:
                return True
            others = [t for t in counted(self.study) if t.state == TrialState.RUNNING and not held_here(t)]
            if not others and not self.busy:
                return False
            time.sleep(POLL_S)


def _trial_line(t: FrozenTrial) -> str:
    return f"trial {t.number} ({_sampled(t.params)})"


def _outcome(search: SearchPlan, study: optuna.Study, unfinished: dict[int, str]) -> list[str]:
    """What keeps the exit code from 0: trials that failed, did not finish, or were never asked."""
    trials = counted(study)
    bad = [f"{_trial_line(t)}: {t.user_attrs.get('error', 'failed')}" for t in trials
           if t.state == TrialState.FAIL and not t.user_attrs.get("refused")]
    bad += [f"{_trial_line(t)}: did not finish"
            + (f" ({unfinished[t.number]}); the next run resumes it" if t.number in unfinished else
               " (held by a command that stopped); the next run resumes it") for t in trials
            if t.state == TrialState.RUNNING]
    if len(trials) < search.settings.n_trials:
        bad.append(f"{search.settings.n_trials - len(trials)} trial(s) never asked (the command stopped first)")
    return bad


def run_search(search: SearchPlan, prog: str, argv: list[str], confirm: int | None = None,
               confirm_trial: int | None = None) -> int:
    """Run ``search`` (see the module doc); returns the exit code."""
    s = search.settings
    try:
        search.out_dir.mkdir(parents=True, exist_ok=True)
        study = open_study(search)
        check_confirm_trial(study, confirm_trial)
    except ConfigError as err:
        search.planner.close()
        print(f"{prog}: error: {err}", file=sys.stderr)
        return 2
    except Exception as err:  # noqa: BLE001 -- a database that is not one, a server that refuses: say so
        search.planner.close()
        print(f"{prog}: error: cannot open the study's storage {shown_storage(s.storage)}: {redact(one_line(err, 300))}. Move that file away or give another storage with hydra.sweeper.storage=...", file=sys.stderr)  # noqa: E501
        return 2
    write_json(search.out_dir / PLAN_FILE, {
        "version": 1, "planned": time.strftime("%Y-%m-%dT%H:%M:%S"), "command": redact_values(argv),
        "launcher": search.launcher["name"], "jobs": [],
        "search": {"study": s.study_name, "metrics": s.metrics, "directions": s.directions, "n_trials": s.n_trials}})
    before = sum(t.state != TrialState.RUNNING for t in counted(study))
    print(f"Search '{s.study_name}': {s.n_trials} trials ({before} finished before) of {', '.join(search.space)}; "
          f"objective {', '.join(f'{m} ({d})' for m, d in zip(s.metrics, s.directions))}, sampler "
          f"{s.sampler['name']}, {search.parallel} at a time ({search.launcher['name']}) → {search.out_dir}",
          flush=True)
    print(f"Study in {shown_storage(s.storage)}", flush=True)
    loop = _Search(search, study)
    launcher = open_launcher(search.launcher["name"], search.launcher, search.out_dir, search.parallel,
                             search.threads)
    start, interrupted, failure, clean, note = time.perf_counter(), False, None, False, None
    try:
        while True:
            for job, summary in launcher.run(loop.jobs()):
                loop.finished(job, summary)
            if not loop.settle():
                break
        clean = True
    except KeyboardInterrupt:
        interrupted = True
    except Exception as err:  # a sampler, the database, a plan: stop the workers, say why
        failure = err
    finally:
        note = launcher.close(interrupted=not clean)  # (submitit: how to stop the jobs it still runs)
    after_command([(t.user_attrs.get("job_dir", "").rsplit("/", 1)[-1], Path(t.user_attrs["job_dir"]))
                   for t in study.get_trials(deepcopy=False) if t.user_attrs.get("job_dir")], search.out_dir)
    try:
        files = write_search_report(search, study)
        print(f"\nSearch report: {', '.join(str(f) for f in files)} ({time.perf_counter() - start:.0f} s)")
    except Exception as err:  # noqa: BLE001 -- the study's database gone with the error: the reason comes first
        print(f"{prog}: the search report was not written ({type(err).__name__}: {one_line(err, 300)})",
              file=sys.stderr)
    try:
        if failure is not None:
            print(f"{prog}: error: the search stopped: {type(failure).__name__}: {one_line(failure, 1000)}\nFinished "
                  f"trials are kept in the study; trials left running resume when the same command runs again."
                  + (f"\n{note}" if note else ""), file=sys.stderr)
            return 1
        if interrupted:
            print("\nInterrupted. Run the same command again to go on: the study keeps every finished trial, and "
                  "trials left running resume from their checkpoints.", file=sys.stderr)
            if note:
                print(note, file=sys.stderr)
            return 130
        bad = _outcome(search, study, loop.unfinished)
        if bad:
            print(f"{len(bad)} trial(s) failed or did not finish:\n  " + "\n  ".join(bad), file=sys.stderr)
            print("Run the same command again to resume the unfinished ones (a failed trial counts as one of "
                  "n_trials: raise hydra.sweeper.n_trials to sample more).", file=sys.stderr)
        code = run_confirm(search, study, confirm, prog, confirm_trial, redact_values(argv)) if confirm else 0
        return code or (1 if bad else 0)
    finally:
        search.planner.close()


def dry_run_search(search: SearchPlan, confirm_trial: int | None = None) -> int:
    """What a search would do: its space and settings, the trials already in the study. Trains nothing and makes
    no database; refuses what the run refuses (a study that optimizes something else, a storage that fails)."""
    s = search.settings
    try:
        study = open_study(search, create=False)
        if study is not None:
            check_confirm_trial(study, confirm_trial)
    except ConfigError as err:
        print(f"se-variants: error: {err}", file=sys.stderr)
        return 2
    except Exception as err:  # noqa: BLE001 -- any database error: say which storage, change nothing
        print(f"se-variants: error: cannot open the study's storage {shown_storage(s.storage)}: {redact(one_line(err, 300))}. Move that file away or give another storage with hydra.sweeper.storage=...", file=sys.stderr)  # noqa: E501
        return 2
    finally:
        search.planner.close()
    finished = [t for t in counted(study) if t.state != TrialState.RUNNING] if study is not None else []
    for key, dist in search.space.items():
        print(f"[space] {key}: {describe(dist)}")
    options = ", ".join(f"{k}={override_value(v)}" for k, v in s.sampler.items() if k != "name")
    print(f"\nDry run: a search of {s.n_trials} trials ({len(finished)} finished before) optimizing "
          f"{', '.join(f'{m} ({d})' for m, d in zip(s.metrics, s.directions))}, sampler {s.sampler['name']}"
          f"{f' ({options})' if options else ''}, pruner {s.pruner['name']}, {search.parallel} at a time "
          f"({search.launcher['name']}); study '{s.study_name}' → {search.out_dir}. Nothing was trained.")
    return 0

