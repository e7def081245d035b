"""Hydra's own flags on ``se-variants train``: ``--help``, ``--hydra-help``, ``--cfg job|hydra|all``, ``--info``,
``--resolve``, ``--package``, ``--shell-completion``. They print something about the config tree and run no
job, so they go to Hydra's ``@hydra.main`` app as they are. Jobs never run through this app: the planner
composes them (:mod:`.configs`) and the sweep runs them (:mod:`.sweep`).
"""

from __future__ import annotations

import sys

import hydra
from omegaconf import DictConfig

from .configs import CONFIG_DIR, CONFIG_NAME

__all__ = ["launch"]


def _no_job(cfg: DictConfig) -> None:
    raise SystemExit("se-variants: this entry point only prints (--help, --cfg, --info); run jobs with "
                     "se-variants train or se-variants ablate.")


_app = hydra.main(version_base="1.3", config_path=str(CONFIG_DIR), config_name=CONFIG_NAME)(_no_job)


def launch(argv: list[str], prog: str = "se-variants train") -> int:
    """Run the Hydra app with the command line ``argv`` (Hydra reads ``sys.argv``); returns the exit code."""
    saved = sys.argv
    sys.argv = [prog, *argv]
    try:
        _app()
        return 0
    except SystemExit as exit_:
        return exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
    finally:
        sys.argv = saved
