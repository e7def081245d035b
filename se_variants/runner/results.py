"""Reading and writing job results (``metrics.json``), atomically: a reader never sees half a file, and a
killed job leaves either its previous file or the new one."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

__all__ = ["write_atomic", "write_json", "read_json", "iter_results", "find_done", "RESULT_FILE"]

RESULT_FILE = "metrics.json"


def write_atomic(path: Path | str, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file in the same folder and ``os.replace``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json(path: Path | str, obj: Any) -> None:
    write_atomic(path, json.dumps(obj, indent=2, sort_keys=False, default=str) + "\n")


def read_json(path: Path | str) -> dict[str, Any] | None:
    """The JSON object at ``path``, or None when it is missing or unreadable."""
    try:
        with open(path, encoding="utf-8") as f:
            obj = json.load(f)
        return obj if isinstance(obj, dict) else None
    except (OSError, ValueError):
        return None


def iter_results(sweep_dir: Path | str) -> list[tuple[Path, dict[str, Any]]]:
    """(job folder, metrics.json) of every job under ``sweep_dir`` (any depth), sorted by folder."""
    out = []
    for path in sorted(Path(sweep_dir).rglob(RESULT_FILE)):
        record = read_json(path)
        if record is not None and "status" in record:
            out.append((path.parent, record))
    return out


def find_done(sweep_dir: Path | str, config_hash: str) -> tuple[Path, dict[str, Any]] | None:
    """A finished (status ok) result of the config with ``config_hash`` under ``sweep_dir``, if any."""
    for folder, record in iter_results(sweep_dir):
        if record.get("status") == "ok" and record.get("config_hash") == config_hash:
            return folder, record
    return None
