"""Pruning of a search's trial from inside its job: after every epoch the objective goes to the trial in the
study's storage, and a trial the search's pruner (a ``PRUNER`` entry, :mod:`.samplers`) prunes stops its job
(which records ``status: pruned``)."""

from __future__ import annotations

from typing import Any

from .samplers import build_pruner

__all__ = ["Pruned", "TrialReporter"]


class Pruned(Exception):
    """The search's pruner stopped this trial; the job's record says ``pruned``."""


class TrialReporter:
    """Called with (epoch, that epoch's metrics) after each epoch by :class:`.lit.RunState`.

    Args:
        search: the job's ``search`` node, set by the search for each trial: ``storage``, ``study``, ``trial``
            (the trial's id in the storage), ``metric`` (e.g. ``val/acc``), ``pruner`` (its spec).
    """

    def __init__(self, search: dict[str, Any]):
        import optuna  # (the search extra: only a search's jobs import it)

        from .study import storage_of  # (Optuna at import: only a search's jobs load it)

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        # the study with the search's own pruner: a trial asks it whether to stop
        study = optuna.load_study(study_name=search["study"], storage=storage_of(search["storage"]),
                                  pruner=build_pruner(search.get("pruner")))
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
