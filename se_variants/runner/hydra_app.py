"""The Hydra side of the runner: the config tree, its resolvers, the compose API and the ``@hydra.main`` app.

The app is a thin shell over :func:`se_variants.runner.task.run_task` (as lightning-hydra-template's
``src/train.py``): a plain, importable function, so launchers that pickle the task (joblib, submitit) can. The
commands ``se-variants train`` / ``ablate`` (:mod:`.train_cmd`) plan and check every job first, then call
:func:`launch`.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import hydra
from omegaconf import DictConfig, OmegaConf

from .identity import job_name
from .schema import register_schema
from .task import run_task

__all__ = ["CONFIG_DIR", "CONFIG_NAME", "compose", "compose_many", "main", "launch", "local_jobs"]

#: the packaged config tree (top-level configs/ of the repository, installed as package data)
CONFIG_DIR = Path(__file__).resolve().parent / "configs"
CONFIG_NAME = "train"


def local_jobs(threads: Any = None, accelerator: Any = "auto", devices: Any = "auto") -> int:
    """How many jobs fit on this machine at once: one per GPU (``devices`` GPUs per job) when jobs train on GPUs,
    else the usable CPU cores ÷ ``threads`` per job (``threads`` None: torch uses every core, so one job)."""
    import torch

    wants_gpu = str(accelerator) in ("gpu", "cuda") or (str(accelerator) == "auto" and torch.cuda.is_available())
    if wants_gpu:
        per_job = devices if isinstance(devices, int) and devices > 0 else 1
        return max(1, torch.cuda.device_count() // per_job)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, cores // int(threads)) if threads else 1


def _register() -> None:
    """Resolvers the configs use, and the typed schema (run in every process that composes a config)."""
    if not OmegaConf.has_resolver("sv_job_name"):
        # a job folder's name: its overrides, run knobs (rerun, resume, ...) left out (identity.job_name)
        OmegaConf.register_new_resolver("sv_job_name", lambda overrides: job_name(list(overrides)))
    register_schema()


_register()


def _searchpath(config_dirs: list[str] | None) -> list[str]:
    if not config_dirs:
        return []
    return [f"hydra.searchpath=[{','.join('file://' + str(Path(d).resolve()) for d in config_dirs)}]"]


def compose_many(overrides: list[list[str]], config_dirs: list[str] | None = None, config_name: str = CONFIG_NAME,
                 hydra_node: bool = False) -> list[DictConfig]:
    """Compose the runner's config once per override list, through Hydra's compose API (no job is run)."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    extra = _searchpath(config_dirs)
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3", job_name=CONFIG_NAME):
        return [hydra_compose(config_name, overrides=[*extra, *o], return_hydra_config=hydra_node) for o in overrides]


def compose(overrides: list[str], config_dirs: list[str] | None = None, config_name: str = CONFIG_NAME,
            hydra_node: bool = False) -> DictConfig:
    """Compose the runner's config with ``overrides`` (see :func:`compose_many`)."""
    return compose_many([overrides], config_dirs, config_name, hydra_node)[0]


#: the app: one job of ``se-variants train`` per call (a single run, or one job of a multirun on any launcher).
#: Hydra hands launchers the plain ``run_task``, which pickles by reference.
main = hydra.main(version_base="1.3", config_path=str(CONFIG_DIR), config_name=CONFIG_NAME)(run_task)


def launch(argv: list[str], prog: str = "se-variants train") -> int:
    """Run the Hydra app with the command line ``argv`` (Hydra reads ``sys.argv``); returns the exit code."""
    saved = sys.argv
    sys.argv = [prog, *argv]
    try:
        main()
        return 0
    except SystemExit as exit_:
        return exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
    finally:
        sys.argv = saved
