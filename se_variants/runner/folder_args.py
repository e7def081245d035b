"""The command line of the commands that read one sweep folder (``report``, ``status``): the folder, on/off flags and
number options, parsed in one place, every mistake a ValueError that names the fix. No Hydra, no Lightning
(``status`` must start fast)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from ..registry import suggest

__all__ = ["parse_folder_args", "not_a_folder"]


def parse_folder_args(argv: Sequence[str], flags: Sequence[str] = (),
                      numbers: Mapping[str, tuple[Callable[[float], bool], str]] | None = None,
                      ) -> tuple[Path, set[str], dict[str, float]]:
    """(the one folder, the flags given, option → number) from ``argv``.

    ``numbers``: option (``--alpha``) → (the test its value must pass, what it takes, as the error says it: "a number
    in (0, 1), e.g. --alpha 0.05"); the value follows the option or ``=``. Raises ValueError for an unknown option
    ("did you mean"), a value that is missing, not a number or fails its test, and for no folder or several."""
    numbers = dict(numbers or {})
    folders: list[str] = []
    given: set[str] = set()
    values: dict[str, float] = {}
    args = iter(argv)
    for a in args:
        name = a.split("=", 1)[0]
        if a in flags:
            given.add(a)
        elif name in numbers:
            value = a.split("=", 1)[1] if "=" in a else next(args, None)
            valid, takes = numbers[name]
            try:
                number = float(value) if value is not None else None
            except ValueError:
                number = None
            if number is None or not valid(number):
                raise ValueError(f"{name} takes {takes}; got {value!r}.")
            values[name] = number
        elif a.startswith("-"):
            raise ValueError(f"unknown option {a!r}.{suggest(a, [*flags, *numbers])}")
        else:
            folders.append(a)
    if len(folders) != 1:
        raise ValueError(f"expected one sweep folder, got {len(folders)}: {folders}.")
    return Path(folders[0]), given, values


def not_a_folder(folder: Path) -> str:
    """The error for a sweep folder that is not one."""
    return f"{folder} is not a folder (a sweep folder: multirun/<sweep> or outputs/ablate/<name>)."
