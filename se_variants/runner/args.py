"""The command line of ``se-variants train`` and ``ablate``: flags apart from overrides (:func:`parse_args`).

Hydra's own printing flags (``--help``, ``--cfg``, ``--info``, ...) are marked ``passthrough``: they go to Hydra as
they are (:mod:`.hydra_app`). Everything else that is not a flag is an override, for the planner (:mod:`.plan`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from ..registry import suggest
from .configs import CONFIG_NAME

__all__ = ["Args", "UsageError", "parse_args", "PASSTHROUGH", "FLAGS"]

# Hydra flags that only print something: no plan, straight to Hydra
PASSTHROUGH = {"--help", "-h", "--hydra-help", "--version", "--cfg", "-c", "--info", "-i", "--shell-completion",
                "-sc", "--package", "-p", "--resolve"}
FLAGS = ["-m", "--multirun", "--dry-run", "--no-wait", "--confirm", "--confirm-trial", "-cd", "--config-dir", "-cn",
         "--config-name",
         *sorted(PASSTHROUGH)]


class UsageError(ValueError):
    """A bad command line (an unknown flag, a flag without its value): exit code 2, no traceback."""


@dataclass
class Args:
    """The parts of a ``train`` / ``ablate`` command line the planner needs."""

    overrides: list[str] = field(default_factory=list)
    multirun: bool = False
    config_dirs: list[str] = field(default_factory=list)
    config_name: str = CONFIG_NAME
    passthrough: bool = False
    dry_run: bool = False
    no_wait: bool = False  # submit the jobs (processes, slurm) and return; se-variants status says where they stand
    confirm: int | None = None  # a search: train the best configuration with this many fresh seeds afterwards
    confirm_trial: int | None = None  # ... the configuration of this trial instead of the best one


def parse_args(argv: Sequence[str]) -> Args:
    """Split a command line into flags and overrides; :class:`UsageError` for an unknown flag."""
    args = Args()
    it = iter(argv)
    for a in it:
        flag, _, inline = a.partition("=")
        if a in ("-m", "--multirun"):
            args.multirun = True
        elif a == "--dry-run":
            args.dry_run = True
        elif a == "--no-wait":
            args.no_wait = True
        elif flag == "--confirm":
            value = inline or next(it, None)
            if not value or not value.isdigit() or int(value) < 3:
                raise UsageError(f"--confirm takes the number of fresh seeds, at least 3 (the fewest with a p-value): "
                                 f"--confirm 3; got {value!r}")
            args.confirm = int(value)
        elif flag == "--confirm-trial":
            value = inline or next(it, None)
            if not value or not value.isdigit():
                raise UsageError(f"--confirm-trial takes the number of a search's trial (search.md lists them): "
                                 f"--confirm 3 --confirm-trial 7; got {value!r}")
            args.confirm_trial = int(value)
        elif flag in ("-cd", "--config-dir"):
            value = inline or next(it, None)
            if not value:
                raise UsageError(f"{flag} takes a folder: {flag} my_configs")
            args.config_dirs.append(value)
        elif flag in ("-cn", "--config-name"):
            value = inline or next(it, None)
            if not value:
                raise UsageError(f"{flag} takes a config name: {flag} my_train")
            args.config_name = value
        elif a in PASSTHROUGH or flag in PASSTHROUGH:
            args.passthrough = True
        elif a.startswith("-") and not a.startswith("~"):
            raise UsageError(f"unknown flag {a!r}.{suggest(flag, FLAGS)}")
        else:
            args.overrides.append(a)
    if args.confirm_trial is not None and args.confirm is None:
        raise UsageError(f"--confirm-trial {args.confirm_trial} names the trial --confirm trains again: add --confirm "
                         f"K (K >= 3 fresh seeds), e.g. --confirm 3 --confirm-trial {args.confirm_trial}")
    return args
