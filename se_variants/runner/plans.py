"""What a command will run, planned and checked: one :class:`Job`, a grid :class:`Plan`, a :class:`SearchPlan`.

Plain data: the planner (:mod:`.plan`) and the search (:mod:`.search`) make them; the sweep (:mod:`.sweep`), the
search loop and the launchers (:mod:`.launchers`) consume them. A job is picklable, so that a launcher can send it
to another process.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .redact import redact

__all__ = ["Job", "Plan", "SearchPlan", "ReportSettings", "report_settings_of"]

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
        """The overrides a person reads: without ``experiment=`` (every job of an ablation has it), credentials
        redacted."""
        return redact(" ".join(o for o in self.overrides if not o.startswith("experiment="))) or "(defaults)"


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
class SearchPlan:
    """A search (``hydra/sweeper=optuna``): its space and settings, checked, and the open planner that plans each
    trial as a job when the sampler proposes it (:mod:`.search`)."""

    planner: Any  # the .plan.Planner that made it, open until the search ends: call close()
    task: list[str]  # the command line's task overrides that are not searched
    space: dict[str, Any]  # key → optuna distribution
    settings: dict[str, Any]  # direction, metric, study_name, storage, n_trials, n_jobs, sampler, pruner
    out_dir: Path
    launcher: dict[str, Any]
    parallel: int  # trials at once
    report: ReportSettings = (0.05, False)
    base_seed: int = 0
    threads: int | None = None


def report_settings_of(cfg: dict[str, Any]) -> ReportSettings:
    """(report.alpha, report.paired) of a job's config: how its sweep's report compares the variants."""
    report = cfg.get("report") or {}
    return report.get("alpha", 0.05), bool(report.get("paired", False))
