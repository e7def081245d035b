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
import shutil
from typing import Any, Dict, List, Optional, Union

from omegaconf import DictConfig, OmegaConf

from ..registry import check_value, describe_type, suggest
from .devices import gpu_count, wants_gpus
from .validate import ConfigError

__all__ = ["LAUNCHERS", "REMOTE_LAUNCHERS", "HYDRA_ALIASES", "NO_WAIT_LAUNCHERS", "SUBMITS_WITH", "OPTIONS",
           "launcher_options", "check_can_launch", "parallelism", "local_jobs", "check_no_wait"]

#: the launchers (``hydra/launcher=<name>``) → the module they need and the se-variants extra that installs it
LAUNCHERS = {"basic": None, "workers": None, "processes": ("submitit", "cluster"), "slurm": ("submitit", "cluster")}
#: launchers whose jobs run on other machines (a cluster): the devices there are not this machine's
REMOTE_LAUNCHERS = ("slurm",)
#: Hydra's launcher plugins → the se-variants launcher that does their job
HYDRA_ALIASES = {"joblib": "workers", "submitit_local": "processes", "submitit_slurm": "slurm"}
#: launchers whose jobs outlive the command: a sweep can be submitted to them with ``--no-wait``
NO_WAIT_LAUNCHERS = ("processes", "slurm")
#: the programs a launcher starts its jobs with on this machine (a dry run plans without them: a login node's check)
SUBMITS_WITH = {"slurm": "sbatch"}

_Name = Optional[str]
_Count = Optional[int]
#: each launcher's options (``hydra.launcher.<key>``; configs/hydra/launcher/<name>.yaml holds the defaults) and
#: their types; the slurm keys are submitit's. Checked when the command is planned, a dry run included.
OPTIONS: dict[str, dict[str, Any]] = {
    "basic": {},
    "workers": {"n_jobs": _Count},
    "processes": {"n_jobs": _Count, "timeout_min": int},
    "slurm": {"partition": _Name, "account": _Name, "qos": _Name, "timeout_min": int, "max_num_timeout": int,
              "nodes": int, "tasks_per_node": int, "cpus_per_task": int, "gpus_per_node": int,
              "mem_gb": Union[int, float], "constraint": _Name, "exclude": _Name, "gres": _Name,
              "cpus_per_gpu": _Count, "gpus_per_task": _Count, "mem_per_gpu": _Name, "mem_per_cpu": _Name,
              "comment": _Name, "signal_delay_s": int, "stderr_to_stdout": bool, "srun_args": Optional[List[str]],
              "array_parallelism": int, "setup": List[str], "additional_parameters": Dict[str, Any]},
}
#: options that count something that must be there at least once (the others may be 0)
_AT_LEAST_ONE = ("n_jobs", "timeout_min", "nodes", "tasks_per_node", "cpus_per_task", "mem_gb", "array_parallelism")


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
    _check_options(node.get("alias") or name, OPTIONS[name], {k: v for k, v in node.items()
                                                               if k not in ("name", "alias", "_target_")})
    return {**node, "name": name}


def _check_options(launcher: str, types: dict[str, Any], options: dict[str, Any]) -> None:
    """Every option is one the launcher takes, of its type (ConfigError naming the key, with "did you mean")."""
    listed = ", ".join(f"{k} ({describe_type(t)})" for k, t in types.items()) or "none"
    for key, value in options.items():
        if key not in types:
            raise ConfigError(f"hydra.launcher.{key}: hydra/launcher={launcher} has no option {key!r}."
                              f"{suggest(key, list(types))} Its options: {listed}.")
        try:
            check_value(value, types[key])
        except TypeError as err:
            raise ConfigError(f"hydra.launcher.{key}: {err}. Its options: {listed}.") from None
        low = 1 if key in _AT_LEAST_ONE else 0
        if isinstance(value, (int, float)) and not isinstance(value, bool) and value < low:
            null = ", or null for as many as fit" if key == "n_jobs" else ""
            raise ConfigError(f"hydra.launcher.{key}: {value!r}; give a number >= {low}{null}.")


def check_can_launch(launcher: dict[str, Any]) -> None:
    """This machine has what the launcher starts its jobs with (:data:`SUBMITS_WITH`: ``sbatch`` for slurm), or a
    ConfigError naming what is missing. Not part of planning: a SLURM sweep is planned (``--dry-run``) anywhere."""
    program = SUBMITS_WITH.get(launcher["name"])
    if program and shutil.which(program) is None:
        asked = launcher.get("alias") or launcher["name"]
        raise ConfigError(f"hydra/launcher={asked} submits the jobs with {program}, which is not on PATH here: run "
                          f"the command on a login node of the cluster (--dry-run plans and checks the sweep "
                          f"anywhere), or choose a launcher of this machine (hydra/launcher=workers, the default).")


def parallelism(launcher: dict[str, Any], cfg: dict[str, Any]) -> int | None:
    """Jobs at once for the local launchers (``workers``, ``processes``): ``n_jobs``, or as many as fit
    (:func:`local_jobs`); None for the others."""
    if launcher["name"] not in ("workers", "processes"):
        return None
    given = launcher.get("n_jobs")  # an int >= 1 or None (launcher_options checked it)
    if given is not None:
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
