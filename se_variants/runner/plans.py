"""What a command will run, planned and checked: one :class:`Job`, a grid :class:`Plan`, a :class:`SearchPlan`
(with its :class:`SearchSettings`).

Plain data: the planner (:mod:`.plan`) and the search (:mod:`.search`) make them; the sweep (:mod:`.sweep`), the
search loop and the launchers (:mod:`.launchers`) consume them. A job is picklable, so that a launcher can send it
to another process.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .identity import is_run_knob
from .redact import redact

__all__ = ["Job", "Plan", "SearchPlan", "SearchSettings", "ReportSettings", "report_settings_of", "label_of"]

#: how a sweep's report compares its variants: (report.alpha, report.paired)
ReportSettings = tuple[float, bool]


@dataclass
class Job:
    """One planned job: what it runs and where its results go."""

    overrides: list[str]  # its task overrides (command line, sweep point, variant, seed)
    config: dict[str, Any]  # the resolved config, plain values
    folder: Path  # its job folder
    config_hash: str
    variant_hash: str

    @property
    def label(self) -> str:
        """The overrides a person reads (:func:`label_of`)."""
        return label_of(self.overrides)


@dataclass
class Plan:
    """A grid: every job of a command line (one run, a ``-m`` sweep, an ablation), checked."""

    jobs: list[Job]
    out_dir: Path  # the sweep folder (multirun) or the run folder
    multirun: bool
    launcher: dict[str, Any]  # the launcher's options, with its ``name``
    parallel: int | None  # jobs at once on this machine (workers, processes), None elsewhere
    duplicates: list[tuple[Job, Job]] = field(default_factory=list)  # (dropped, the job with its config)
    report: ReportSettings = (0.05, False)
    ablation: dict[str, Any] | None = None  # the experiment's ablation node (ablate)


@dataclass
class SearchSettings:
    """A search's settings (``hydra.sweeper``), checked (:mod:`.search_settings`)."""

    metrics: list[str]  # the objectives: val/acc, val/loss, train/acc, train/loss, params, flops, latency_ms
    directions: list[str]  # maximize | minimize, one per metric
    study_name: str
    storage: str  # a SQLAlchemy URL (default: the SQLite file optuna.db in the sweep folder)
    n_trials: int  # trials of the study when the search ends (closed ones not counted)
    n_jobs: int  # trials at once
    sampler: dict[str, Any]  # {"name": <a SAMPLER entry>, <its options>}
    pruner: dict[str, Any]  # {"name": <a PRUNER entry>, <its options>}


@dataclass
class SearchPlan:
    """A search (``hydra/sweeper=optuna``): its space and settings, checked, and the open planner that plans each
    trial as a job when the sampler proposes it (:mod:`.search`)."""

    planner: Any  # the .plan.Planner that made it, open until the search ends: call close()
    task: list[str]  # the command line's task overrides that are not searched
    space: dict[str, Any]  # key → optuna distribution
    settings: SearchSettings
    out_dir: Path
    launcher: dict[str, Any]
    parallel: int  # trials at once
    report: ReportSettings = (0.05, False)
    base_hash: str = ""  # the config hash of the space's first point: a study's trials share their base config
    base_seed: int = 0  # the trials' seed when seed is not searched
    threads: int | None = None


def label_of(overrides: list[str]) -> str:
    """A job's overrides as a person reads them: without ``experiment=`` (every job of an ablation has it) and
    without run knobs (``ablation.seeds=...``, ``rerun=true``: they change no result, :func:`.identity.is_run_knob`),
    credentials redacted."""
    return redact(" ".join(o for o in overrides if not o.startswith("experiment=") and not is_run_knob(o))) \
        or "(defaults)"


def report_settings_of(cfg: dict[str, Any]) -> ReportSettings:
    """(report.alpha, report.paired) of a job's config: how its sweep's report compares the variants."""
    report = cfg.get("report") or {}
    return report.get("alpha", 0.05), bool(report.get("paired", False))
