"""The study of a search, in a real database: opened by each command with what it optimizes checked, a sampler that
continues across commands, and who asked for each trial -- so that the trials a dead command left running are
taken over, never lost and never run twice.

* **Storage**: any SQLAlchemy URL; SQLite by default (``optuna.db`` in the sweep folder), where commands and jobs
  wait for each other's writes and a whole-file lock (:func:`study_lock`) makes counting and asking one step.
* **What a study optimizes** is written into it when it is created (user attributes: the objectives, the space,
  the base config of its trials); a command whose objectives, directions, space or base config differ is refused
  with the fix (a new ``study_name`` or folder), never mixed in.
* **The sampler continues** (:class:`ContinuedSampler`): built again for every trial with a seed drawn from (the
  search's seed, the trial's index), a search resumed, extended or shared by several commands proposes what one
  uninterrupted command would, instead of replaying its first draws.
* **Who asked** for a trial is recorded in it (user attribute ``command``: host, pid, start time, as a job's claim
  holds them). A running trial whose command is dead is an orphan (:func:`orphans`): a command takes it over and
  runs its job (which resumes from its checkpoint, or reads back the metrics.json it finished) when its parameters
  were all drawn, or closes it (:func:`close`) when the command died inside ``ask``; a closed trial is not one of
  the search's trials, and the next one asked replaces it.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import optuna
from optuna.distributions import distribution_to_json
from optuna.samplers import BaseSampler
from optuna.trial import FrozenTrial, TrialState
from sqlalchemy.exc import IntegrityError, OperationalError

from .claims import STALE_AFTER_S, Owner, this_process
from .plans import SearchPlan
from .samplers import SAMPLER, build_pruner, can
from .search_space import space_fingerprint
from .files import locked, sqlite_file
from .redact import redact, redact_values
from .validate import ConfigError

__all__ = ["storage_of", "shown_storage", "study_lock", "open_study", "ContinuedSampler", "orphans",
           "adopt", "close", "closed_numbers", "best_trial", "held_here", "counted", "mark_asker", "asker_alive",
           "trial_seed", "COUNTED_STATES", "ASKER"]

#: a study's user attributes: what it optimizes, written when it is created
_OBJECTIVES, _SPACE, _BASE = "se_variants.objectives", "se_variants.space", "se_variants.base"
#: a study's user attribute per closed trial: ``se_variants.closed.<number>`` → why
_CLOSED = "se_variants.closed."
#: a trial's user attribute: the command that asked for it (or took it over)
ASKER = "command"
#: trials that count towards n_trials (with RUNNING ones: being trained, or left by a dead command)
COUNTED_STATES = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL, TrialState.RUNNING)


# ------------------------------------------------------------------------------------------------- storage


def storage_of(url: str, attempts: int = 10) -> optuna.storages.RDBStorage:
    """The Optuna storage of ``url``, for commands and jobs that share it: SQLite files with a long lock timeout
    (they wait for each other's writes), and a new database made by whichever process comes first (two that start
    at once both try to create its tables: the other one retries)."""
    options = {"connect_args": {"timeout": 120}} if url.startswith("sqlite") else {}
    for attempt in range(attempts):
        try:
            return optuna.storages.RDBStorage(url, engine_kwargs=options)
        except (OperationalError, IntegrityError):  # "table already exists", "UNIQUE constraint failed": another
            if attempt == attempts - 1:  # process is creating the schema; a server not up yet. Not: a file that
                raise  # is no database (DatabaseError), which no wait mends
            time.sleep(0.2 * (attempt + 1))
    raise AssertionError("unreachable")


def shown_storage(url: str) -> str:
    """The storage URL as printed and written into files: its credentials hidden (:func:`.redact.redact`)."""
    return redact(url)


@contextlib.contextmanager
def study_lock(url: str) -> Iterator[bool]:
    """Held while a command decides about the study's trials (counts, takes over, closes, asks): a flock on a file
    beside a SQLite study, so that two commands on one study end with exactly ``n_trials``. Yields whether a lock
    is held: a server database across machines has none (there two commands may each ask the last trial, as with
    Optuna's own stopping rules)."""
    database = sqlite_file(url)
    if database is None:
        yield False
        return
    with locked(database.with_suffix(".lock")):
        yield True


# ------------------------------------------------------------------------------------------------- the sampler


def trial_seed(seed: int, index: int) -> int:
    """The sampler's seed for the ``index``-th trial of a search seeded with ``seed``."""
    return int(np.random.SeedSequence([seed, index]).generate_state(1)[0])


class ContinuedSampler(BaseSampler):
    """The search's sampler (a ``SAMPLER`` entry with its options), built again before every trial with the seed
    :func:`trial_seed` (search seed, the trial's index among the study's trials that were not closed). Its
    proposals then depend on the seed and the study's history only -- not on how many commands came before or
    ran beside -- so a resumed, extended or shared search proposes what one uninterrupted command would, and never
    replays its first draws. A sampler whose seed fixes a sequence the study keeps its place in (``keeps_seed``:
    QMC's points, the grid's order) gets the search's seed itself; an unseeded search gets none.

    ``current`` is the sampler built for the latest trial; ``closed`` the numbers of the study's closed trials, set
    by the command before it asks (a sampler's hooks may get a pruner's view of the study, which has no user
    attributes)."""

    def __init__(self, spec: dict[str, Any], space: dict[str, Any]):
        options = dict(spec)
        self._factory = SAMPLER.get(options.pop("name"))
        self._seed = options.pop("seed", None)
        self._options, self._space = options, space
        self.closed: set[int] = set()
        self.current = self._build(None)

    def _build(self, index: int | None) -> BaseSampler:
        seed = self._seed
        if seed is not None and index is not None and not can(self._factory, "keeps_seed"):
            seed = trial_seed(seed, index)
        return self._factory(self._space, seed=seed, **self._options)

    def before_trial(self, study: optuna.Study, trial: FrozenTrial) -> None:
        self.current = self._build(trial.number - sum(n < trial.number for n in self.closed))
        self.current.before_trial(study, trial)

    def infer_relative_search_space(self, study: optuna.Study, trial: FrozenTrial) -> dict[str, Any]:
        return self.current.infer_relative_search_space(study, trial)

    def sample_relative(self, study: optuna.Study, trial: FrozenTrial, search_space: dict[str, Any]) -> dict:
        return self.current.sample_relative(study, trial, search_space)

    def sample_independent(self, study: optuna.Study, trial: FrozenTrial, param_name: str, dist: Any) -> Any:
        return self.current.sample_independent(study, trial, param_name, dist)

    def after_trial(self, study: optuna.Study, trial: FrozenTrial, state: TrialState, values: Any) -> None:
        if isinstance(self.current, optuna.samplers.GridSampler):
            return  # its only work there is Study.stop() for Study.optimize; a search stops at n_trials (<= points)
        self.current.after_trial(study, trial, state, values)

    def reseed_rng(self) -> None:
        self.current.reseed_rng()


# ------------------------------------------------------------------------------------------------- the study


def _fingerprint(search: SearchPlan) -> dict[str, Any]:
    s = search.settings
    return {_OBJECTIVES: {"metrics": s.metrics, "directions": s.directions},
            _SPACE: space_fingerprint(search.space),
            _BASE: {"config_hash": search.base_hash, "task": sorted(redact_values(search.task))}}


def _refuse(search: SearchPlan, what: str) -> ConfigError:
    s = search.settings
    return ConfigError(f"the study '{s.study_name}' in {shown_storage(s.storage)} {what}. Its trials would be mixed "
                       f"with this command's: give this search a study of its own, hydra.sweeper.study_name=<a new "
                       f"name>, or another folder (hydra.sweep.dir=...).")


def _check(study: optuna.Study, search: SearchPlan, record: bool) -> None:
    """Refuse ``study`` when it optimizes something else than ``search``; a study without the record (new, or made
    by an earlier version) gets it when ``record``, once its directions and its trials' parameters agree."""
    mine = _fingerprint(search)
    have = study.user_attrs
    directions = [d.name.lower() for d in study.directions]
    metrics = have.get(_OBJECTIVES, {}).get("metrics")
    if directions != search.settings.directions or metrics not in (None, search.settings.metrics):
        raise _refuse(search, f"optimizes {_objectives(metrics, directions)}, and this command asks for "
                              f"{_objectives(search.settings.metrics, search.settings.directions)}")
    space = have.get(_SPACE)
    if space is None:
        space = {}
        for t in study.get_trials(deepcopy=False):
            space.update({k: distribution_to_json(d) for k, d in t.distributions.items()})
        space = space or mine[_SPACE]
    if space != mine[_SPACE]:
        keys = sorted(k for k in set(space) | set(mine[_SPACE]) if space.get(k) != mine[_SPACE].get(k))
        raise _refuse(search, f"searches another space (it differs in {', '.join(keys)})")
    base = have.get(_BASE)
    if base is not None and base["config_hash"] != mine[_BASE]["config_hash"]:
        changed = sorted(set(base["task"]) ^ set(mine[_BASE]["task"]))
        why = (f"the overrides {' '.join(changed)} differ" if changed else
               "a config file changed since")
        raise _refuse(search, f"trained its trials with another base config ({why})")
    for key, value in mine.items():
        if record and key not in have:
            study.set_user_attr(key, value)


def _objectives(metrics: list[str] | None, directions: list[str]) -> str:
    if metrics is None:
        return ", ".join(directions)
    return ", ".join(f"{m} ({d})" for m, d in zip(metrics, directions))


def open_study(search: SearchPlan, create: bool = True) -> optuna.Study | None:
    """The search's study, with its sampler (:class:`ContinuedSampler`) and pruner; made when it does not exist
    (``create=False``, a dry run: None then, and no database file is made). Raises ConfigError when the study
    optimizes something else (:func:`_check`); database errors as they come (the caller names the storage)."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    s = search.settings
    database = sqlite_file(s.storage)
    if not create and database is not None and not Path(database).is_file():
        return None
    storage = storage_of(s.storage)
    kwargs = {"sampler": ContinuedSampler(s.sampler, search.space), "pruner": build_pruner(s.pruner)}
    with study_lock(s.storage):
        for attempt in range(10):
            try:
                study = optuna.load_study(study_name=s.study_name, storage=storage, **kwargs)
                break
            except KeyError:  # no study of this name yet
                if not create:
                    return None
            try:
                study = optuna.create_study(study_name=s.study_name, storage=storage, directions=s.directions,
                                            **kwargs)
                break
            except optuna.exceptions.DuplicatedStudyError:  # made meanwhile by another command: load it
                time.sleep(0.1 * (attempt + 1))
        else:
            raise RuntimeError(f"could not open the study {s.study_name!r} in {shown_storage(s.storage)}")
        _check(study, search, record=create)
    return study


# ------------------------------------------------------------------------------------------------- trials


def closed_numbers(study: optuna.Study) -> set[int]:
    """The numbers of the study's closed trials (left by a command that died inside ``ask``; replaced)."""
    return {int(key[len(_CLOSED):]) for key in study.user_attrs if key.startswith(_CLOSED)}


def counted(study: optuna.Study) -> list[FrozenTrial]:
    """The search's trials: every trial but the closed ones, in the states that count towards ``n_trials``."""
    closed = closed_numbers(study)
    return [t for t in study.get_trials(deepcopy=False, states=COUNTED_STATES) if t.number not in closed]


def mark_asker(trial: optuna.Trial) -> None:
    """Record this process as the command that holds ``trial`` (asked for it, or took it over)."""
    owner = this_process()
    trial.set_user_attr(ASKER, {"host": owner.host, "pid": owner.pid, "started": owner.started,
                                "process_start": owner.process_start, "job": owner.job})


def asker_alive(trial: FrozenTrial, locked: bool) -> bool:
    """Whether the command that holds a running trial lives (on this host: its pid, with the same start time; on
    another, for :data:`.claims.STALE_AFTER_S` after it took the trial). A trial that names no command was left by
    one that died inside ``ask`` -- certain under the study's lock (``locked``), else once it is as old."""
    who = trial.user_attrs.get(ASKER)
    if not isinstance(who, dict):
        started = trial.datetime_start.timestamp() if trial.datetime_start else 0.0
        return not locked and time.time() - started < STALE_AFTER_S
    try:
        owner = Owner(host=str(who["host"]), pid=int(who["pid"]), started=float(who["started"]), token="",
                      last_seen=float(who["started"]), process_start=who.get("process_start"), job=who.get("job"))
    except (KeyError, TypeError, ValueError):
        return False
    return owner.alive()


def held_here(trial: FrozenTrial) -> bool:
    """Whether this process holds ``trial`` (asked for it or took it over)."""
    who = trial.user_attrs.get(ASKER)
    me = this_process()
    return isinstance(who, dict) and who.get("host") == me.host and who.get("pid") == me.pid and \
        who.get("process_start") == me.process_start


def orphans(study: optuna.Study, space: dict[str, Any], locked: bool) -> tuple[list[FrozenTrial], list[FrozenTrial]]:
    """(trials to take over, trials to close): the running trials whose command is dead, split by whether all their
    parameters were drawn."""
    take, shut = [], []
    for t in counted(study):
        if t.state == TrialState.RUNNING and not asker_alive(t, locked):
            (take if set(space) <= set(t.params) else shut).append(t)
    return take, shut


def adopt(study: optuna.Study, frozen: FrozenTrial) -> optuna.Trial:
    """Take over a trial a dead command left running: this command now holds it."""
    trial = optuna.trial.Trial(study, frozen._trial_id)  # (Optuna's only handle on an existing trial by its id)
    mark_asker(trial)
    return trial


def best_trial(study: optuna.Study, trials: list[FrozenTrial] | None = None) -> FrozenTrial | None:
    """The complete trial best on the study's first objective (the earliest of equals), or None."""
    complete = [t for t in (trials if trials is not None else counted(study)) if t.state == TrialState.COMPLETE]
    if not complete:
        return None
    sign = -1.0 if study.directions[0] == optuna.study.StudyDirection.MAXIMIZE else 1.0
    return min(complete, key=lambda t: (sign * t.values[0], t.number))


def close(study: optuna.Study, frozen: FrozenTrial, why: str) -> None:
    """Close a trial whose command died before all its parameters were drawn: FAIL, recorded as closed (not one of
    the search's trials); the next trial asked replaces it."""
    study.set_user_attr(f"{_CLOSED}{frozen.number}", why)
    study.tell(frozen.number, state=TrialState.FAIL, skip_if_finished=True)
