"""``hydra.sweeper`` of a search, checked: what it optimizes, where its study lives, how it samples and prunes.

The keys (``configs/hydra/sweeper/optuna.yaml``) are hydra-optuna-sweeper's where it has them -- ``direction``,
``study_name``, ``storage``, ``n_trials``, ``n_jobs``, ``params``, and a ``sampler`` (or ``pruner``) named by its
Optuna class, ``_target_: optuna.samplers.TPESampler`` with that class's options -- and ours where it has none:
``metric`` (what a trial's job is judged by: that plugin optimizes a function's return value), ``sampler.name`` and
``pruner.name`` (the registry's names, :mod:`.samplers`). hydra-optuna-sweeper keys we do not take are refused
with what to write instead (:data:`NOT_OURS`).

Objectives: a validation or training metric of the job's last epoch (``val/acc``, ``val/loss``, ``train/acc``,
``train/loss``) or a cost of its record (``params``, ``flops``, ``latency_ms``); never a test metric. Several
objectives (``metric=[val/acc,params]`` with ``direction=[maximize,minimize]``) make a multi-objective study.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from ..registry import SpecError, suggest
from .files import unwritable
from .data import has_validation
from .plans import SearchSettings
from .samplers import PRUNER, SAMPLER, build_pruner, can, grid_values, resolve
from .task import COSTS
from .validate import ConfigError

__all__ = ["settings_of", "check_objectives_data", "METRICS", "OBJECTIVES", "SEARCH_DB", "OURS", "NOT_OURS"]

#: the study's SQLite file in the sweep folder (the default storage)
SEARCH_DB = "optuna.db"
#: metrics of a job's record a search may optimize: validation and training, never the test split's
METRICS = ("val/acc", "val/loss", "train/acc", "train/loss")
#: every objective: those metrics and the costs of a job's record
OBJECTIVES = (*METRICS, *COSTS)
#: the keys of ``hydra.sweeper`` (``name`` says which sweeper: optuna)
OURS = ("name", "direction", "metric", "study_name", "storage", "n_trials", "n_jobs", "sampler", "pruner", "params")
#: hydra-optuna-sweeper's keys we do not take, and what to do instead
NOT_OURS = {
    "search_space": "hydra-optuna-sweeper's older name of params: write hydra.sweeper.params",
    "custom_search_space": "a Python function of the space is not supported: give the space as params or on the "
                           "command line (a combination the planner refuses becomes a failed trial)",
    "max_failure_rate": "not supported: a failed trial costs one trial, and the exit code says whether every "
                        "trial finished",
}
#: hydra-optuna-sweeper's own sweeper class, which a config copied from it may name
_THEIR_SWEEPER = "hydra_plugins.hydra_optuna_sweeper.optuna_sweeper.OptunaSweeper"


def _list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _objectives(s: dict[str, Any]) -> tuple[list[str], list[str]]:
    metrics, directions = _list(s.get("metric")), _list(s.get("direction"))
    for d in directions:
        if d not in ("maximize", "minimize"):
            raise ConfigError(f"hydra.sweeper.direction: {d!r}; give maximize or minimize (a list for several "
                              f"objectives: [maximize,minimize]).")
    for m in metrics:
        if m not in OBJECTIVES:
            why = (" (a search never optimizes the test split: the test accuracy is recorded, not chosen on)"
                   if str(m).startswith("test") else suggest(str(m), list(OBJECTIVES)))
            raise ConfigError(f"hydra.sweeper.metric: {m!r}{why}; give one of {', '.join(OBJECTIVES)} (a list for "
                              f"several objectives: [val/acc,params]).")
    if len(set(metrics)) != len(metrics):
        raise ConfigError(f"hydra.sweeper.metric: {metrics} names an objective twice; give each once.")
    if len(metrics) != len(directions):
        raise ConfigError(f"hydra.sweeper: {len(metrics)} metric(s) {metrics} and {len(directions)} direction(s) "
                          f"{directions}: give one direction per metric, e.g. 'hydra.sweeper.metric=[val/acc,params]' "
                          f"'hydra.sweeper.direction=[maximize,minimize]'.")
    return [str(m) for m in metrics], [str(d) for d in directions]


def _count(s: dict[str, Any], key: str, what: str, optional: bool = False) -> int | None:
    n = s.get(key)
    if optional and n is None:
        return None
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ConfigError(f"hydra.sweeper.{key}: {n!r}; give {what} (>= 1){', or null' if optional else ''}.")
    return n


def _storage(s: dict[str, Any], out_dir: Path) -> str:
    url = s.get("storage")
    if url is None:
        return "sqlite:///" + str((out_dir / SEARCH_DB).resolve())
    try:
        parsed = make_url(str(url))
    except ArgumentError:
        raise ConfigError(f"hydra.sweeper.storage: {url!r} is not a database URL; give a SQLAlchemy URL such as "
                          f"sqlite:///search.db or postgresql://user@host/db (or null: optuna.db in the sweep "
                          f"folder).") from None
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        folder = Path(parsed.database).expanduser().resolve().parent
        if not folder.is_dir():
            raise ConfigError(f"hydra.sweeper.storage: the folder {folder} of the SQLite file does not exist; "
                              f"create it, or give another storage (null: optuna.db in the sweep folder).")
        why = unwritable(folder)
        if why:
            raise ConfigError(f"hydra.sweeper.storage: the folder {folder} of the SQLite file cannot be written "
                              f"(it {why}); give another storage.")
    return str(url)


def _component(s: dict[str, Any], key: str, space: dict[str, Any], n_objectives: int) -> dict[str, Any]:
    registry = SAMPLER if key == "sampler" else PRUNER
    try:
        name, options = resolve(registry, s.get(key), key)
    except SpecError as err:
        raise ConfigError(str(err)) from None
    factory = registry.get(name)
    if key == "sampler" and "seed" not in registry.entry(name).options:
        raise ConfigError(f"hydra.sweeper.sampler.name={name}: a sampler entry takes a keyword-only seed option "
                          f"(int | None), which the search sets for every trial; add one to its factory.")
    if key == "sampler" and n_objectives > 1 and not can(factory, "multi_objective"):
        several = [n for n in SAMPLER.names() if can(SAMPLER.get(n), "multi_objective")]
        raise ConfigError(f"hydra.sweeper.sampler.name={name} optimizes one objective, and this search has "
                          f"{n_objectives}; give a sampler for several: {', '.join(several)}.")
    if key == "pruner" and n_objectives > 1 and name != "none":
        raise ConfigError(f"hydra.sweeper.pruner.name={name}: Optuna prunes single-objective searches only, and this "
                          f"search has {n_objectives} objectives; drop the pruner (pruner.name=none).")
    try:  # what Optuna itself refuses (population_size < 2, a grid over an interval, ...), before anything runs
        factory(space, **options) if key == "sampler" else build_pruner({"name": name, **options})
    except (SpecError, TypeError, ValueError) as err:
        raise ConfigError(f"hydra.sweeper.{key}: Optuna's {name} {key} refuses its options: {err}") from None
    return {"name": name, **options}


def settings_of(node: DictConfig, out_dir: Path, space: dict[str, Any]) -> SearchSettings:
    """The checked settings of ``hydra.sweeper`` (``n_jobs`` 0 when it is null: the caller sets it to the trials
    its launcher runs at once). Raises ConfigError naming the key and the fix."""
    s = OmegaConf.to_container(node, resolve=True)
    for key in s:
        if key in NOT_OURS:
            raise ConfigError(f"hydra.sweeper.{key}: {NOT_OURS[key]}.")
        if key == "_target_" and s[key] == _THEIR_SWEEPER:
            continue
        if key not in OURS:
            raise ConfigError(f"hydra.sweeper.{key}: not a key of the search.{suggest(str(key), list(OURS))} Its keys: "
                              f"{', '.join(k for k in OURS if k != 'name')}.")
    metrics, directions = _objectives(s)
    n_trials = _count(s, "n_trials", "the number of trials")
    n_jobs = _count(s, "n_jobs", "the trials to run at once", optional=True)
    sampler = _component(s, "sampler", space, len(metrics))
    pruner = _component(s, "pruner", space, len(metrics))
    if sampler["name"] == "grid":  # a grid has as many trials as points, each tried once
        size = 1
        for values in grid_values(space).values():
            size *= len(values)
        n_trials = min(n_trials, size)
    study_name = s.get("study_name")
    return SearchSettings(metrics=metrics, directions=directions,
                          study_name=str(study_name) if study_name is not None else out_dir.name,
                          storage=_storage(s, out_dir), n_trials=n_trials, n_jobs=n_jobs or 0,
                          sampler=sampler, pruner=pruner)


def check_objectives_data(cfg: dict[str, Any], metrics: list[str]) -> None:
    """A validation objective needs a validation split: refuse one for data without it (``val_fraction: 0``: a
    job then records no val metrics)."""
    data = cfg.get("data") or {}
    if any(m.startswith("val/") for m in metrics) and not has_validation(data):
        raise ConfigError(f"hydra.sweeper.metric: {', '.join(m for m in metrics if m.startswith('val/'))} is measured "
                          f"on the validation split, and data={data.get('name')} has none (data.val_fraction=0). "
                          f"Hold out a validation split (data.val_fraction=0.1, say) -- never choose on the test "
                          f"split -- or optimize a training metric or a cost.")
