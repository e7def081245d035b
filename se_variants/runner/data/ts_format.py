"""The time series classification archive's ``.ts`` text format, read by a parser of our own: plain text in,
numbers and label strings out -- nothing read here can run code.

A ``.ts`` file (the format of the UCR/UEA archive at timeseriesclassification.com, as sktime and aeon ship it):
``#`` comment lines; a header of ``@tag value`` lines (``@problemName``, ``@timeStamps``, ``@missing``,
``@univariate``, ``@dimensions``, ``@equalLength``, ``@seriesLength``, ``@classLabel true <labels...>``); then
``@data`` and one case per line: the channels separated by ``:``, each a comma-separated list of values (``?`` or
``NaN`` for a missing one), the class label last. Channels of one case have one length; cases may differ in length
(``@equalLength false``). The timestamped variant of the format (``@timeStamps true``) and regression targets are
refused with an error that says so.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

__all__ = ["TsFile", "TsFormatError", "read_ts"]


class TsFormatError(ValueError):
    """A file that is not a ``.ts`` classification file this reader takes; the message names the file and line."""


@dataclass
class TsFile:
    """The cases of one ``.ts`` file.

    ``series``: one float64 array (C, L_i) per case; ``labels``: the class label of each case as written;
    ``class_labels``: the labels the header declares, in its order (None when it declares none);
    ``header``: every ``@tag`` with its value, tags lower-cased; ``missing``: whether any value is missing (NaN).
    """

    series: list[np.ndarray]
    labels: list[str]
    class_labels: list[str] | None
    header: dict[str, str] = field(default_factory=dict)
    missing: bool = False

    @property
    def channels(self) -> int:
        return self.series[0].shape[0] if self.series else 0

    @property
    def lengths(self) -> np.ndarray:
        """(N,) int: the length of every case."""
        return np.array([s.shape[1] for s in self.series], dtype=np.int64)


def _flag(header: dict[str, str], tag: str) -> bool | None:
    value = header.get(tag)
    return None if value is None else value.split()[0].lower() == "true"


def _channel(text: str, where: str) -> np.ndarray:
    values = text.split(",")
    try:
        return np.asarray(values, dtype=np.float64)  # numpy parses the strings ('NaN' included)
    except ValueError:
        pass
    try:
        return np.array([float("nan") if v.strip() == "?" else float(v) for v in values], dtype=np.float64)
    except ValueError:
        bad = next(v for v in values if v.strip() != "?" and not _is_float(v))
        raise TsFormatError(f"{where}: {bad.strip()[:40]!r} is not a number (nor '?' for a missing value).") from None


def _is_float(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def read_ts(path: Path | str) -> TsFile:
    """Parse a ``.ts`` classification file (see the module doc). Raises :class:`TsFormatError` naming the line for
    anything that is not that format, and FileNotFoundError for a missing file.

    Shapes: every case comes back as a float64 array (C, L_i): C channels (the same for every case), its own
    length L_i.
    """
    path = Path(path)
    header: dict[str, str] = {}
    series: list[np.ndarray] = []
    labels: list[str] = []
    in_data = False
    with open(path, encoding="utf-8-sig", errors="strict") as f:
        for number, raw in enumerate(f, start=1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            where = f"{path}, line {number}"
            if not in_data:
                if not line.startswith("@"):
                    raise TsFormatError(f"{where}: expected an @tag line or @data before the cases, got "
                                        f"{line[:40]!r}.")
                tag, _, value = line[1:].partition(" ")
                tag = tag.lower()
                if tag == "data":
                    in_data = True
                    if _flag(header, "timestamps"):
                        raise TsFormatError(f"{path}: @timeStamps true (values with time stamps) is not read here; "
                                            f"only the plain value lists of the archive's classification files.")
                    if "classlabel" not in header or not _flag(header, "classlabel"):
                        raise TsFormatError(f"{path}: no '@classLabel true <labels>' header: not a classification "
                                            f"file (a regression or unlabelled one?).")
                else:
                    header[tag] = value.strip()
                continue
            *channels, label = line.split(":")
            if not channels:
                raise TsFormatError(f"{where}: a case needs its values and a class label separated by ':'.")
            case = [_channel(c, where) for c in channels]
            if len({len(c) for c in case}) != 1:
                raise TsFormatError(f"{where}: the channels of one case differ in length "
                                    f"({', '.join(str(len(c)) for c in case)}).")
            if series and len(case) != series[0].shape[0]:
                raise TsFormatError(f"{where}: {len(case)} channels, but the first case has {series[0].shape[0]}.")
            series.append(np.stack(case))
            labels.append(label.strip())
    if not in_data:
        raise TsFormatError(f"{path}: no @data line: not a .ts file.")
    if not series:
        raise TsFormatError(f"{path}: no cases after @data.")
    declared = header["classlabel"].split()[1:] or None
    if declared is not None:
        unknown = sorted(set(labels) - set(declared))
        if unknown:
            raise TsFormatError(f"{path}: class labels {unknown[:5]} are not among the declared ones {declared}.")
    missing = any(bool(np.isnan(s).any()) for s in series)
    return TsFile(series, labels, declared, header, missing)
