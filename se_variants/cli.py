"""The ``se-variants`` command: ``list``, ``show`` (block library) and ``train``, ``report``, ``ablate``,
``inspect`` (ablation runner, ``se_variants.runner``)."""

from __future__ import annotations

import sys

USAGE = """usage: se-variants <command> [args]

commands:
  list      every registered squeeze / excite / gate op, composition and preset, one line each
  show      a block spec from the command line -> structure, parameters, FLOPs
  train     one training run, or a Hydra multirun sweep with -m (Hydra overrides)
  report    the results report of a sweep folder
  ablate    the default ablation on the embedded digits dataset (the main job)
  inspect   what a trained job's attention learned: gate outputs per class (SENet Fig. 6/7)
"""


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(USAGE)
        return 0
    command, rest = argv[0], argv[1:]
    if command in ("list", "show"):
        from . import inspect_cli

        return inspect_cli.main(command, rest)
    if command in ("train", "report", "ablate", "inspect"):
        from .runner import commands

        return commands.main(command, rest)
    from .registry import suggest

    print(f"se-variants: unknown command {command!r}.{suggest(command, ['list', 'show', 'train', 'report', 'ablate', 'inspect'])}"
          f"\n\n{USAGE}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
