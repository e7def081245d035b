"""Tables as text: CSV files and aligned plain-text tables (what the report and inspect print and write)."""

from __future__ import annotations

import csv
import io
from collections.abc import Collection, Mapping, Sequence
from typing import Any

__all__ = ["csv_text", "text_table", "one_line", "p_text"]


def csv_text(rows: Sequence[Mapping[str, Any]], columns: Sequence[str] | None = None) -> str:
    """``rows`` as CSV with a header: ``columns`` (default: the first row's keys); None is written as empty,
    keys outside ``columns`` are left out."""
    columns = list(columns if columns is not None else (rows[0] if rows else []))
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: "" if row.get(k) is None else row.get(k) for k in columns})
    return buf.getvalue()


def text_table(header: Sequence[str], body: Sequence[Sequence[str]], left: Collection[int] = (0,)) -> str:
    """An aligned table: the header, a rule, one line per row; columns in ``left`` left-aligned, the others
    right-aligned (numbers)."""
    widths = [max(len(x) for x in col) for col in zip(header, *body)]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(c.ljust(w) if i in left else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))

    return "\n".join(line(cells).rstrip() for cells in [header, ["-" * w for w in widths], *body])


def one_line(text: Any, limit: int | None = None) -> str:
    """``text`` on one line (runs of whitespace, newlines included, become one space), cut to ``limit``."""
    flat = " ".join(str(text).split())
    return flat if limit is None or len(flat) <= limit else flat[: limit - 1] + "…"


def p_text(value: float | None, alpha: float | None = None) -> str:
    """A p-value as the tables show it: "–" for none, "<0.001", else 3 decimals -- 4 where 3 would print it as
    ``alpha`` itself, so that the verdict beside it reads right (0.0496 at α = 0.05: "0.0496", not "0.050")."""
    if value is None:
        return "–"
    if value < 0.001:
        return "<0.001"
    text = f"{value:.3f}"
    return f"{value:.4f}" if alpha is not None and value != alpha and text == f"{alpha:.3f}" else text
