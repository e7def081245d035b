"""Which launcher a command uses and how many jobs it runs at once, decided at planning time (no launcher is
started here, nothing is imported that a launcher needs).

``hydra/launcher=<name>`` picks one of :data:`LAUNCHERS`. Hydra's own launcher plugins are aliases
(:data:`HYDRA_ALIASES`): ``joblib`` runs as ``workers``, ``submitit_local`` as ``processes``, ``submitit_slurm`` as
``slurm``, with their option names, so that a Hydra user's command line works unchanged. ``--no-wait`` needs a
launcher whose jobs outlive the command (:data:`NO_WAIT_LAUNCHERS`, :func:`check_no_wait`).
"""

from __future__ import annotations

import importlib.util
import os
from typing import Any

from omegaconf import DictConfig, OmegaConf

from .devices import gpu_count, wants_gpus
from .validate import ConfigError

__all__ = ["LAUNCHERS", "REMOTE_LAUNCHERS", "HYDRA_ALIASES", "NO_WAIT_LAUNCHERS", "launcher_options", "parallelism",
           "local_jobs", "check_no_wait"]

#: the launchers (``hydra/launcher=<name>``) → the module they need and the se-variants extra that installs it
LAUNCHERS = {"basic": None, "workers": None, "processes": ("submitit", "cluster"), "slurm": ("submitit", "cluster")}
#: launchers whose jobs run on other machines (a cluster): the devices there are not this machine's
REMOTE_LAUNCHERS = ("slurm",)
#: Hydra's launcher plugins → the se-variants launcher that does their job
HYDRA_ALIASES = {"joblib": "workers", "submitit_local": "processes", "submitit_slurm": "slurm"}
#: launchers whose jobs outlive the command: a sweep can be submitted to them with ``--no-wait``
NO_WAIT_LAUNCHERS = ("processes", "slurm")


def launcher_options(hydra: DictConfig) -> dict[str, Any]:
    """The launcher node of a composed config's ``hydra`` node as plain options, with the se-variants ``name``
    (an alias is resolved: its ``alias`` says which was asked for). ConfigError for a launcher se-variants does
    not run, or one whose library is missing."""
    node = OmegaConf.to_container(hydra.launcher, resolve=True)
    name = node.get("name") or ("basic" if str(node.get("_target_", "")).endswith("BasicLauncher") else None)
    if name in HYDRA_ALIASES:
        node = {**node, "alias": name}
        name = HYDRA_ALIASES[name]
        if name == "workers" and node.get("n_jobs") == -1:  # joblib's "every core"
            node["n_jobs"] = None
    if name not in LAUNCHERS:
        raise ConfigError(f"hydra/launcher: {node.get('_target_') or name!r} is not a launcher se-variants runs; "
                          f"use hydra/launcher=workers (the default), basic, processes or slurm.")
    need = LAUNCHERS[name]
    if need is not None and importlib.util.find_spec(need[0]) is None:
        raise ConfigError(f"hydra/launcher={node.get('alias') or name} needs {need[0]}, which is not installed. "
                          f"Install it with: pip install 'se-variants[{need[1]}]'.")
    return {**node, "name": name}


def parallelism(launcher: dict[str, Any], cfg: dict[str, Any]) -> int | None:
    """Jobs at once for the local launchers (``workers``, ``processes``): ``n_jobs``, or as many as fit
    (:func:`local_jobs`); None for the others."""
    if launcher["name"] not in ("workers", "processes"):
        return None
    given = launcher.get("n_jobs")
    if given is not None:
        if isinstance(given, bool) or not isinstance(given, int) or given < 1:
            raise ConfigError(f"hydra.launcher.n_jobs: {given!r} jobs at once; give a number >= 1, or null for as "
                              f"many as fit.")
        return given
    t = cfg["trainer"]
    return local_jobs(cfg.get("threads"), t.get("accelerator"), t.get("devices"))


def local_jobs(threads: Any = None, accelerator: Any = "auto", devices: Any = "auto") -> int:
    """How many jobs fit on this machine at once: one per GPU (``devices`` GPUs per job) when jobs train on GPUs,
    else the usable CPU cores ÷ ``threads`` per job (``threads`` None: torch uses every core, so one job)."""
    per_job = wants_gpus({"accelerator": accelerator, "devices": devices})
    if per_job:
        return max(1, gpu_count() // per_job)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, cores // int(threads)) if threads else 1


def check_no_wait(launcher: str, multirun: bool, searching: bool) -> None:
    """ConfigError unless ``--no-wait`` can hand a command's jobs over and return: a sweep (not a search) on a
    launcher of :data:`NO_WAIT_LAUNCHERS`."""
    if not multirun:
        raise ConfigError("--no-wait submits the jobs of a sweep and returns: add -m (se-variants train -m ... "
                          "hydra/launcher=processes --no-wait); a single run trains in the command.")
    if searching:
        raise ConfigError("--no-wait: a search cannot submit its future trials -- Optuna chooses each trial from the "
                          "results of the finished ones, so something must stay up to ask for them. Drive the search "
                          "from a node that may stay up (e.g. a SLURM job: sbatch --wrap \"se-variants train -m "
                          "hydra/sweeper=optuna ...\"), or run it in rounds: each command runs hydra.sweeper.n_jobs "
                          "trials at a time and goes on from the study where the last one stopped (raise "
                          "hydra.sweeper.n_trials by n_jobs a round).")
    if launcher not in NO_WAIT_LAUNCHERS:
        raise ConfigError(f"--no-wait needs a launcher whose jobs outlive the command: hydra/launcher=processes (a "
                          f"process per job on this machine) or hydra/launcher=slurm (a SLURM cluster); the {launcher} "
                          f"launcher runs the jobs inside the command.")
