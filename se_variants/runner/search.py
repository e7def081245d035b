"""``se-variants train -m hydra/sweeper=optuna ...``: an Optuna search over the config space, every trial a
normal job -- a job folder with ``metrics.json``, claims, exact resume, the report.

The space is written in Hydra's sweep syntax, on the command line or in ``hydra.sweeper.params``:
``'squeeze=choice(avg,max,dct)'`` (any group of the registries: squeeze, excite, gate, block presets;
``'excite=choice(all)'`` takes every registered option of the group),
``'excite.reduction=int(interval(2,32))'``, ``'optim.lr=tag(log,interval(1e-4,1e-1))'``, ``seed=range(0,3)``,
``a=x,y``. The command asks Optuna for a trial, plans and checks it like any job (a refused combination becomes
a failed trial with the reason, never a crash), runs it through the configured launcher (``n_jobs`` at a time)
and tells Optuna the objective: a validation metric (default ``val/acc``, maximised), never a test metric.

The study lives in a real database: by default a SQLite file in the sweep folder (``optuna.db``); any
SQLAlchemy URL (``hydra.sweeper.storage=postgresql://...``) lets commands on many machines share one study.
Running the command again resumes the search: trials left running by a command that died are resumed from their
checkpoints (unless a live process trains them), and the search stops when ``n_trials`` trials have finished --
none lost, none run twice. Two commands started at once on one study cooperate the same way.

Pruning (``hydra.sweeper.pruner.name=median`` or ``hyperband``) reports the objective after every epoch to the
trial from inside the job; a pruned trial's job records ``status: pruned``. After the search, ``--confirm k``
trains the best configuration with k fresh seeds next to the ``block=none`` baseline and writes the comparison
(a best-of-n validation score is biased upward: the confirmation is the evidence).
"""

from __future__ import annotations

import contextlib
import fcntl
import sys
import time
from pathlib import Path
from typing import Any, Iterator

from omegaconf import DictConfig, OmegaConf

from ..registry import suggest
from ..spec import PART_KEYS
from .claims import owner_of
from .configs import override_parser, parse_overrides
from .identity import job_name
from .launchers import open_launcher
from .plan import Planner
from .plans import Job, Plan, SearchPlan, report_settings_of
from .pruning import make_pruner, sqlite_file, storage_of
from .redact import redact, redact_values
from .results import RESULT_FILE, load_record
from .search_report import override_value, write_search_report
from .sweep import run_plan
from .tables import one_line
from .task import summary as job_summary
from .validate import ConfigError

__all__ = ["plan_search", "run_search", "dry_run_search", "SEARCH_DB", "SAMPLERS", "PRUNERS", "METRICS"]

#: the study's SQLite file in the sweep folder (the default storage)
SEARCH_DB = "optuna.db"
SAMPLERS = ("tpe", "random", "cmaes", "grid")
PRUNERS = ("none", "median", "hyperband")
#: objectives a search may optimize: validation and training metrics, never the test split's
METRICS = ("val/acc", "val/loss", "train/acc", "train/loss")


def _distribution(key: str, sweep: Any) -> Any:
    from hydra.core.override_parser.types import ChoiceSweep, IntervalSweep, RangeSweep
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    if isinstance(sweep, ChoiceSweep):
        return CategoricalDistribution(list(sweep.list))
    if isinstance(sweep, RangeSweep):
        values = list(sweep.range())
        if all(isinstance(v, int) for v in values) and values:
            return IntDistribution(values[0], values[-1], step=int(sweep.step))
        return CategoricalDistribution(values)
    if isinstance(sweep, IntervalSweep):
        log = "log" in sweep.tags
        if isinstance(sweep.start, int) and isinstance(sweep.end, int):
            return IntDistribution(sweep.start, sweep.end, log=log)
        return FloatDistribution(float(sweep.start), float(sweep.end), log=log)
    raise ConfigError(f"{key}: {sweep!r} is not a search space; write choice(a,b), a,b, range(0,4), "
                      f"interval(0.1,1.0), int(interval(2,32)) or tag(log,interval(1e-4,1e-1)).")


def _space(parsed: list[Any], params: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """(key → distribution, the task overrides that are not searched) from the command line and
    ``hydra.sweeper.params`` (the command line wins for a key in both)."""
    parser = override_parser()
    space: dict[str, Any] = {}
    for key, value in params.items():
        o = parser.parse_override(f"{key}={value}")
        space[o.get_key_element()] = _distribution(o.get_key_element(), o.value())
    task = []
    for o in parsed:
        key = o.get_key_element()
        if key.lstrip("+~").startswith("hydra"):
            continue
        if o.is_sweep_override():
            space[key] = _distribution(key, o.value())
        else:
            task.append(o.input_line)
    return space, task


def _settings(node: DictConfig, out_dir: Path, parallel: int | None) -> dict[str, Any]:
    s = OmegaConf.to_container(node, resolve=True)
    if s.get("direction") not in ("maximize", "minimize"):
        raise ConfigError(f"hydra.sweeper.direction: {s.get('direction')!r}; give maximize or minimize.")
    if s.get("metric") not in METRICS:
        why = " (a search never optimizes the test split: the test accuracy is recorded, not chosen on)" \
            if str(s.get("metric", "")).startswith("test") else ""
        raise ConfigError(f"hydra.sweeper.metric: {s.get('metric')!r}{why}; give one of {', '.join(METRICS)}.")
    n = s.get("n_trials")
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ConfigError(f"hydra.sweeper.n_trials: {n!r}; give the number of trials, >= 1.")
    sampler = s.get("sampler") or {}
    if sampler.get("name") not in SAMPLERS:
        name = str(sampler.get("name"))
        raise ConfigError(f"hydra.sweeper.sampler.name: unknown sampler {name!r}.{suggest(name, list(SAMPLERS))} "
                          f"Available: {', '.join(SAMPLERS)}.")
    pruner = s.get("pruner") or {}
    if pruner.get("name") not in PRUNERS:
        name = str(pruner.get("name"))
        raise ConfigError(f"hydra.sweeper.pruner.name: unknown pruner {name!r}.{suggest(name, list(PRUNERS))} "
                          f"Available: {', '.join(PRUNERS)}.")
    try:
        make_pruner(pruner)
    except (TypeError, ValueError) as err:
        raise ConfigError(f"hydra.sweeper.pruner: Optuna's {pruner.get('name')} pruner refuses its options: {err}. "
                          f"Its options are those of optuna.pruners.{str(pruner.get('name')).title()}Pruner.") from None
    n_jobs = s.get("n_jobs")
    if n_jobs is not None and (isinstance(n_jobs, bool) or not isinstance(n_jobs, int) or n_jobs < 1):
        raise ConfigError(f"hydra.sweeper.n_jobs: {n_jobs!r}; give the trials to run at once (>= 1), or null.")
    s["n_jobs"] = n_jobs or parallel or 1
    s["study_name"] = s.get("study_name") or out_dir.name
    s["storage"] = s.get("storage") or "sqlite:///" + str((out_dir / SEARCH_DB).resolve())
    return s


def plan_search(planner: Planner) -> SearchPlan:
    """The plan of a search: the space and settings checked, and one sample config of the space planned and
    checked like a job (so that a bad key or option stops the command before any trial runs). The planner stays
    open in the plan (each trial is planned with it); the caller closes it."""
    base = planner.base
    out_dir = planner.sweep_dir()
    params = base.hydra.sweeper.get("params")
    params = OmegaConf.to_container(params, resolve=False) if isinstance(params, DictConfig) else {}
    space, task = _space(planner.parsed, params)
    for key, dist in list(space.items()):  # choice(all): every option of a config group (the registry's ops)
        if tuple(getattr(dist, "choices", ())) == ("all",):
            from optuna.distributions import CategoricalDistribution

            options = planner.composer.options(key)
            if options is None:
                raise ConfigError(f"{key}=choice(all): 'all' lists the options of a config group (squeeze, excite, "
                                  f"gate, block, ...), and {key} is not one; list the values: choice(a,b).")
            space[key] = CategoricalDistribution(options)
    if not space:
        raise ConfigError("hydra/sweeper=optuna: nothing to search; give a space, e.g. 'squeeze=choice(avg,max,dct)' "
                          "'optim.lr=tag(log,interval(1e-4,1e-1))' (or hydra.sweeper.params).")
    for key, dist in space.items():
        sample = [f"{key}={override_value(v)}" for v in getattr(dist, "choices", [])] or \
            [f"{key}={override_value(dist.low)}"]
        planner.check_choices(parse_overrides(sample))
        planner.check_keys(parse_overrides(sample))
    first = [*task, *(f"{k}={override_value(_first(d))}" for k, d in space.items())]
    (job,) = planner.jobs([first], [out_dir / job_name(first)])
    settings = _settings(base.hydra.sweeper, out_dir, planner.parallelism(job.config))
    if settings["sampler"]["name"] == "grid":  # a grid has as many trials as points, each tried once
        size = 1
        for values in _grid(space).values():
            size *= len(values)
        settings["n_trials"] = min(settings["n_trials"], size)
    planner.check_output(out_dir)
    return SearchPlan(planner, task, space, settings, out_dir, planner.launcher, settings["n_jobs"],
                      report_settings_of(job.config), int(job.config.get("seed") or 0), job.config.get("threads"))


def _first(dist: Any) -> Any:
    return dist.choices[0] if hasattr(dist, "choices") else dist.low


def _grid(space: dict[str, Any]) -> dict[str, list[Any]]:
    out = {}
    for key, dist in space.items():
        if hasattr(dist, "choices"):
            out[key] = list(dist.choices)
        elif type(dist).__name__ == "IntDistribution" and not dist.log:
            out[key] = list(range(dist.low, dist.high + 1, dist.step))
        else:
            raise ConfigError(f"{key}: the grid sampler needs listed values (choice(...), a,b or range(...)); an "
                              f"interval has none. Use hydra.sweeper.sampler.name=tpe (or random) for intervals.")
    return out


# ------------------------------------------------------------------------------------------------- the search


def _sampler(settings: dict[str, Any], space: dict[str, Any]) -> Any:
    import optuna

    options = settings.get("sampler") or {}
    seed = options.get("seed")
    name = options.get("name")
    if name == "grid":
        return optuna.samplers.GridSampler(_grid(space), seed=seed)
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if name == "cmaes":
        return optuna.samplers.CmaEsSampler(seed=seed)
    return optuna.samplers.TPESampler(seed=seed)


def _objective(summary: dict[str, Any], metric: str) -> float | None:
    """The objective ``metric`` (``val/acc``, ...) of a finished job, from its summary."""
    stage, _, key = metric.partition("/")
    value = (summary.get("metrics") or {}).get(stage, {}).get(key)
    return float(value) if isinstance(value, (int, float)) else None


def _when_done(job: Job) -> dict[str, Any]:
    """The summary of a job another command trains, once that command is done with it (read from its record)."""
    while owner_of(job.folder) is not None:
        time.sleep(1.0)
    record, problem = load_record(job.folder / RESULT_FILE)
    return job_summary(record or {"status": "failed", "error": {"type": "NotFinished", "message": str(problem)}}, job)


def _storage_error(storage: str, err: Exception) -> str:
    return (f"error: cannot open the study's storage {redact(storage)}: {redact(one_line(err, 300))}. Move that "
            f"file away or give another storage with hydra.sweeper.storage=...")


def open_study(search: SearchPlan) -> Any:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    s = search.settings
    storage = storage_of(s["storage"])
    for attempt in range(10):  # two commands that start at once both create the study: the second loads it
        try:
            return optuna.create_study(study_name=s["study_name"], storage=storage, load_if_exists=True,
                                       direction=s["direction"], sampler=_sampler(s, search.space),
                                       pruner=make_pruner(s.get("pruner")))
        except optuna.exceptions.DuplicatedStudyError:
            time.sleep(0.2 * (attempt + 1))
    raise RuntimeError(f"could not open the study {s['study_name']!r} in {redact(s['storage'])}")


def _job(search: SearchPlan, trial: Any, overrides: list[str]) -> Job:
    (job,) = search.planner.jobs([overrides], [search.out_dir / job_name(overrides)])
    s = search.settings
    pruner = dict(s.get("pruner") or {"name": "none"})
    job.config = {**job.config, "search": {"storage": s["storage"], "study": s["study_name"], "trial": trial._trial_id,
                                           "metric": s["metric"], "prune": pruner["name"] != "none",
                                           "pruner": pruner}}
    return job


@contextlib.contextmanager
def _ask_lock(search: SearchPlan) -> Iterator[None]:
    """Held while a command counts the study's trials and asks for a new one (flock on a file beside a SQLite
    study; a server database across machines has no such lock: there two commands may each start the last
    trial, as with Optuna's own stopping rules)."""
    database = sqlite_file(search.settings["storage"])
    if database is None:
        yield
        return
    with open(Path(database).with_suffix(".lock"), "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _trials(search: SearchPlan, study: Any, told: dict[int, Any]) -> Iterator[tuple[Job, Any]]:
    """Jobs of the trials to run, asked lazily (when a launcher slot is free): first the trials left running by
    a command that died, then new ones until ``n_trials`` trials have finished or are running."""
    import optuna
    from optuna.trial import TrialState

    for frozen in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        folder = frozen.user_attrs.get("job_dir")
        # left running by a command that died: its job resumes from its checkpoint (or, finished before the tell,
        # is read back); a trial whose job a live process trains belongs to that process's command
        if folder and owner_of(folder) is None and frozen.number not in told:
            trial = optuna.trial.Trial(study, frozen._trial_id)
            params = [f"{k}={override_value(v)}" for k, v in frozen.params.items()]  # (stored overrides: redacted)
            yield _job(search, trial, [*search.task, *params]), trial
    while True:
        states = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL, TrialState.RUNNING)
        with _ask_lock(search):  # count and ask at once: two commands on one study end with exactly n_trials
            if len(study.get_trials(deepcopy=False, states=states)) >= search.settings["n_trials"]:
                return
            trial = study.ask(search.space)
        overrides = [*search.task, *(f"{k}={override_value(v)}" for k, v in trial.params.items())]
        trial.set_user_attr("overrides", redact_values(overrides))
        try:
            job = _job(search, trial, overrides)
        except ConfigError as err:  # a combination the planner refuses: a failed trial with the reason
            trial.set_user_attr("refused", str(err))
            study.tell(trial, state=TrialState.FAIL)
            told[trial.number] = None
            print(f"[FAIL] trial {trial.number}: {redact(' '.join(overrides))}: refused: {one_line(err, 300)}",
                  flush=True)
            continue
        trial.set_user_attr("job_dir", str(job.folder))
        yield job, trial


def dry_run_search(search: SearchPlan) -> int:
    """What a search would do: its space and settings, the trials already in the study. Trains nothing."""
    s = search.settings
    finished: list[Any] = []
    database = sqlite_file(s["storage"])
    try:
        if database is None or Path(database).is_file():  # a dry run makes no database
            import optuna

            optuna.logging.set_verbosity(optuna.logging.WARNING)
            finished = [t for t in optuna.load_study(study_name=s["study_name"], storage=storage_of(s["storage"]))
                        .get_trials(deepcopy=False) if t.state.is_finished()]
    except KeyError:  # the database holds no study of this name yet: nothing finished
        pass
    except Exception as err:  # noqa: BLE001 -- any database error: say which storage, change nothing
        print(f"se-variants: {_storage_error(s['storage'], err)}", file=sys.stderr)
        return 2
    finally:
        search.planner.close()
    for key, dist in search.space.items():
        print(f"[space] {key}: {dist}")
    print(f"\nDry run: a search of {s['n_trials']} trials ({len(finished)} finished before) optimizing {s['metric']} "
          f"({s['direction']}), sampler {s['sampler']['name']}, {search.parallel} at a time "
          f"({search.launcher['name']}); study '{s['study_name']}' in {redact(s['storage'])} → {search.out_dir}. "
          f"Nothing was trained.")
    return 0


def run_search(search: SearchPlan, prog: str, confirm: int | None = None) -> int:
    """Run ``search`` (see the module doc); returns the exit code."""
    from optuna.trial import TrialState

    s = search.settings
    search.out_dir.mkdir(parents=True, exist_ok=True)
    try:
        study = open_study(search)
    except Exception as err:  # noqa: BLE001 -- a database that is not one, a server that refuses: say so
        search.planner.close()
        print(f"{prog}: {_storage_error(s['storage'], err)}", file=sys.stderr)
        return 2
    done = [t for t in study.get_trials(deepcopy=False) if t.state.is_finished()]
    print(f"Search '{s['study_name']}': {s['n_trials']} trials ({len(done)} finished before) of "
          f"{', '.join(search.space)}; objective {s['metric']} ({s['direction']}), sampler {s['sampler']['name']}, "
          f"{search.parallel} at a time ({search.launcher['name']}); study in {redact(s['storage'])} → "
          f"{search.out_dir}",
          flush=True)
    told: dict[int, Any] = {}
    trials: dict[int, Any] = {}

    def jobs() -> Iterator[Job]:
        for job, trial in _trials(search, study, told):
            trials[id(job)] = trial
            yield job

    launcher = open_launcher(search.launcher["name"], search.launcher, search.out_dir, search.parallel,
                             search.threads)
    start, interrupted = time.perf_counter(), False
    try:
        for job, summary in launcher.run(jobs()):
            trial = trials.pop(id(job))
            if summary.get("status") == "busy":  # a cooperating command trains this very job: its result is ours
                summary = _when_done(job)
            value = _objective(summary, s["metric"]) if summary.get("status") == "ok" else None
            state = (TrialState.COMPLETE if value is not None else
                     TrialState.PRUNED if summary.get("status") == "pruned" else TrialState.FAIL)
            if state == TrialState.FAIL and summary.get("error"):
                trial.set_user_attr("error", one_line(f"{summary['error'].get('type')}: "
                                                      f"{summary['error'].get('message')}", 500))
            try:
                study.tell(trial, value if state == TrialState.COMPLETE else None, state=state)
            except (RuntimeError, ValueError):  # told by a cooperating command already
                pass
            told[trial.number] = value
            finished = len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED,
                                                                      TrialState.FAIL)))
            shown = "–" if value is None else f"{value:.4f}"
            print(f"[{finished}/{s['n_trials']}] trial {trial.number} {state.name.lower()}: {job.label}: "
                  f"{s['metric']} {shown}", flush=True)
    except KeyboardInterrupt:
        interrupted = True
        launcher.close(interrupted=True)
    else:
        launcher.close()
    try:
        files = write_search_report(search, study)
        print(f"\nSearch report: {', '.join(str(f) for f in files)} ({time.perf_counter() - start:.0f} s)")
        if interrupted:
            print(f"\nInterrupted. Run the same command again to go on: the study in {redact(s['storage'])} keeps "
                  f"every "
                  f"finished trial, and trials left running resume from their checkpoints.", file=sys.stderr)
            return 130
        return run_confirm(search, study, confirm, prog) if confirm else 0
    finally:
        search.planner.close()


# ------------------------------------------------------------------------------------------------- confirm


def confirm_overrides(search: SearchPlan, best: dict[str, Any], k: int) -> tuple[list[list[str]], list[int]]:
    """The jobs of a confirmation: the best trial's config and the ``block=none`` baseline with the same other
    settings, each with k seeds the search did not use."""
    params = [f"{key}={override_value(v)}" for key, v in best.items()]
    seeds = list(range(search.base_seed + 1, search.base_seed + 1 + k))
    block_keys = ("block", *PART_KEYS)
    other = [o for o in search.task + params if o.lstrip("+~").split("=", 1)[0].split(".", 1)[0] not in block_keys
             and not o.startswith("seed=")]
    variant = [o for o in search.task + params if not o.startswith("seed=")]
    jobs = [[*variant, f"seed={s}"] for s in seeds] + [[*other, "block=none", f"seed={s}"] for s in seeds]
    return jobs, seeds


def run_confirm(search: SearchPlan, study: Any, k: int, prog: str) -> int:
    """Train the best trial's config and the baseline with k fresh seeds into ``<sweep>/confirm`` and report."""
    from optuna.trial import TrialState

    if not study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        print(f"{prog}: no trial finished, so there is nothing to confirm.", file=sys.stderr)
        return 1
    best = study.best_trial.params
    overrides, seeds = confirm_overrides(search, best, k)
    folder = search.out_dir / "confirm"
    jobs = search.planner.jobs(overrides, [folder / job_name(o) for o in overrides])
    print(f"\nConfirm: the best trial ({' '.join(f'{key}={override_value(v)}' for key, v in best.items())}) and the "
          f"block=none baseline, seeds {', '.join(map(str, seeds))} → {folder}", flush=True)
    plan = Plan(jobs, folder, True, search.launcher, search.planner.parallelism(jobs[0].config), [],
                search.report)
    return run_plan(plan, prog, [])
