"""Pruning of a search's trial from inside its job: after every epoch the objective goes to the trial in the
study's storage, and a trial Optuna prunes stops its job (which records ``status: pruned``)."""

from __future__ import annotations

import time
from typing import Any

__all__ = ["Pruned", "TrialReporter", "make_pruner", "sqlite_file", "storage_of"]


def storage_of(url: str, attempts: int = 10) -> Any:
    """The Optuna storage of ``url``, for commands and jobs that share it: SQLite files with a long lock timeout
    (they wait for each other's writes), and a new database made by whichever process comes first (two that start
    at once both try to create its tables: the other one retries)."""
    import optuna
    from sqlalchemy.exc import IntegrityError, OperationalError

    options = {"connect_args": {"timeout": 120}} if url.startswith("sqlite") else {}
    for attempt in range(attempts):
        try:
            return optuna.storages.RDBStorage(url, engine_kwargs=options)
        except (OperationalError, IntegrityError):  # "table already exists", "UNIQUE constraint failed": another
            if attempt == attempts - 1:  # process is creating the schema; a server not up yet. Not: a file that
                raise  # is no database (DatabaseError), which no wait mends
            time.sleep(0.2 * (attempt + 1))
    raise AssertionError("unreachable")


def sqlite_file(url: str) -> str | None:
    """The database file of a ``sqlite:///`` storage URL (None for other databases and in-memory SQLite)."""
    if not url.startswith("sqlite:///") or url in ("sqlite:///", "sqlite:///:memory:"):
        return None
    return url[len("sqlite:///"):].split("?", 1)[0]


def make_pruner(options: dict[str, Any] | None) -> Any:
    """Optuna's pruner from ``hydra.sweeper.pruner`` (``name``: none | median | hyperband, then its options)."""
    import optuna

    options = dict(options or {})
    name = options.pop("name", "none")
    if name == "median":
        return optuna.pruners.MedianPruner(**options)
    if name == "hyperband":
        return optuna.pruners.HyperbandPruner(**options)
    return optuna.pruners.NopPruner()


class Pruned(Exception):
    """The search's pruner stopped this trial; the job's record says ``pruned``."""


class TrialReporter:
    """Called with (epoch, that epoch's metrics) after each epoch by :class:`.lit.RunState`.

    Args:
        search: the job's ``search`` node, set by the search for each trial: ``storage``, ``study``, ``trial``
            (the trial's id in the storage), ``metric`` (e.g. ``val/acc``).
    """

    def __init__(self, search: dict[str, Any]):
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        # the study with the search's own pruner: a trial asks it whether to stop
        study = optuna.load_study(study_name=search["study"], storage=storage_of(search["storage"]),
                                  pruner=make_pruner(search.get("pruner")))
        self.trial = optuna.trial.Trial(study, int(search["trial"]))
        self.metric = search["metric"]

    def __call__(self, epoch: int, metrics: dict[str, float]) -> None:
        value = metrics.get(self.metric)
        if value is None:
            return
        self.trial.report(float(value), epoch)
        if self.trial.should_prune():
            raise Pruned(f"the search's pruner stopped this trial after epoch {epoch + 1} "
                         f"({self.metric} {float(value):.4f})")
