"""The ``se-variants`` command: ``list``, ``show`` (block library) and ``train``, ``report``, ``ablate``,
``status``, ``inspect`` (ablation runner, ``se_variants.runner``)."""

from __future__ import annotations

import signal
import sys
import threading
from typing import Any

from .registry import suggest

USAGE = """usage: se-variants <command> [args]

commands:
  list      every registered squeeze / excite / gate op, composition and preset, one line each
  show      a block spec from the command line -> structure, parameters, FLOPs
  train     one training run, or a Hydra multirun sweep with -m (Hydra overrides)
  report    the results report of a sweep folder
  status    where each job of a sweep stands: finished, training, queued or lost
  ablate    the default ablation on the embedded digits dataset (the main job)
  inspect   what a trained job's attention learned: gate outputs per class (SENet Fig. 6/7)
"""


#: what the runner commands need (module → the pip distribution providing it); all come with the train extra
TRAIN_EXTRA = {"hydra": "hydra-core", "omegaconf": "omegaconf", "lightning": "lightning",
               "sklearn": "scikit-learn", "matplotlib": "matplotlib", "scipy": "scipy"}


def missing_train_extra() -> list[str]:
    """The distributions of :data:`TRAIN_EXTRA` that are not installed (found without importing them)."""
    import importlib.util

    missing = []
    for module, dist in TRAIN_EXTRA.items():
        try:
            found = importlib.util.find_spec(module) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            missing.append(dist)
    return missing


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(USAGE)
        return 0
    command, rest = argv[0], argv[1:]
    if command in ("list", "show"):
        from . import library_cli  # (the library's commands: torch, no runner)

        return library_cli.main(command, rest)
    if command == "status":
        from .runner import status  # (reads the sweep's files: none of the train extra, so no check of it)

        return status.main(rest)
    if command in ("train", "report", "ablate", "inspect"):
        missing = missing_train_extra()
        if missing:
            print(f"se-variants {command}: error: the runner needs the train extra, and {', '.join(missing)} "
                  f"{'is' if len(missing) == 1 else 'are'} not installed. Install it with: "
                  f"pip install 'se-variants[train]'", file=sys.stderr)
            return 2
        return _interruptible(command, rest)
    commands = ["list", "show", "train", "report", "ablate", "status", "inspect"]
    print(f"se-variants: unknown command {command!r}.{suggest(command, commands)}"
          f"\n\n{USAGE}", file=sys.stderr)
    return 2


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signal.Signals(signum).name}")


def _interruptible(command: str, argv: list[str]) -> int:
    """Run a runner command with SIGTERM (kill, timeout, a scheduler ending the command) treated as Ctrl-C: a
    sweep stops its workers, keeps what finished, writes its report and exits 130 (:mod:`.runner.sweep`); an
    interrupt anywhere else exits 130 at once."""
    from .runner import commands  # (the runner: needs the train extra, checked before)

    main_thread = threading.current_thread() is threading.main_thread()  # only it may set signal handlers
    previous = signal.signal(signal.SIGTERM, _interrupt) if main_thread else None
    if main_thread and signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)  # started in the background (`cmd &`)
    try:
        return commands.main(command, argv)
    except KeyboardInterrupt:
        print(f"\nse-variants {command}: interrupted.", file=sys.stderr)
        return 130
    finally:
        if main_thread:
            signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    sys.exit(main())
