"""Job results (``metrics.json``): read back defensively.

Records are written atomically (:mod:`.files`). A reader trusts nothing: every record is parsed with limits and
checked against :data:`RECORD_FIELDS`; one that is unreadable or malformed is returned with the reason, so
reports can show it as broken instead of dropping it or crashing on it.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .files import parse_json

__all__ = ["load_record", "record_problem", "load_progress", "scan", "sweeps_below", "Result", "RESULT_FILE",
           "PROGRESS_FILE", "PLAN_FILE", "RECORD_FIELDS", "STATUSES"]

RESULT_FILE = "metrics.json"
#: the plan a sweep (or a search) writes into its folder when it starts, with its submissions: a folder holding one
#: is a sweep of its own
PLAN_FILE = "sweep.json"
#: a training job's progress, rewritten when an attempt starts and after every epoch: ``{"epoch": epochs finished,
#: "max_epochs": n, "metrics": {"val/acc": ...}}`` (what ``se-variants status`` shows of a job in training)
PROGRESS_FILE = "progress.json"
#: a progress file is a few hundred bytes
_MAX_PROGRESS_BYTES = 64 * 1024
#: ``running``: a job in progress, or killed; ``ok``: finished; ``failed``: ended with an error; ``pruned``: a
#: search's trial its pruner stopped (se_variants.runner.search)
STATUSES = ("running", "ok", "failed", "pruned")


# ------------------------------------------------------------------------------------------------- the schema


def _is_str(v: Any) -> bool:
    return isinstance(v, str)


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v: Any) -> bool:
    return (isinstance(v, (int, float)) and not isinstance(v, bool)) and math.isfinite(v)


def _optional(check: Callable[[Any], bool]) -> Callable[[Any], bool]:
    return lambda v: v is None or check(v)


def _list_of(check: Callable[[Any], bool]) -> Callable[[Any], bool]:
    return lambda v: isinstance(v, list) and all(check(x) for x in v)


def _metrics(v: Any) -> bool:
    return isinstance(v, dict) and all(
        isinstance(stage, dict) and all(_is_num(x) or x is None for x in stage.values()) for stage in v.values())


def _error(v: Any) -> bool:
    return v is None or (isinstance(v, dict) and _is_str(v.get("type")) and _is_str(v.get("message")))


#: field → (check, what it should be); fields marked optional below may be absent
RECORD_FIELDS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "schema": (_is_int, "an int"),
    "status": (lambda v: v in STATUSES, f"one of {', '.join(STATUSES)}"),
    "error": (_error, "null or {type: str, message: str, ...}"),
    "block": (_optional(_is_str), "a string or null"),
    "squeeze": (_optional(_is_str), "a string or null"),
    "excite": (_optional(_is_str), "a string or null"),
    "gate": (_optional(_is_str), "a string or null"),
    "overrides": (_list_of(_is_str), "a list of strings"),
    "seed": (_optional(_is_int), "an int or null"),
    "config_hash": (_is_str, "a string"),
    "variant_hash": (_is_str, "a string"),
    "context_hash": (_is_str, "a string"),
    "metrics": (_metrics, "{stage: {name: number}}"),
    "epochs": (_optional(_is_int), "an int or null"),
    "params": (_optional(_is_int), "an int or null"),
    "flops": (_optional(_is_int), "an int or null"),
    "latency_ms": (_optional(_is_num), "a number or null"),
    "wall_time_s": (_optional(_is_num), "a number or null"),
    "started": (_is_str, "a time stamp string"),
    "finished": (_optional(_is_str), "a time stamp string or null"),
    "config": (lambda v: isinstance(v, dict), "a mapping"),
    "attempts": (_list_of(lambda a: isinstance(a, dict)), "a list of mappings"),
    "per_class": (lambda v: isinstance(v, dict), "a mapping"),
    "world_size": (_is_int, "an int"),
    "versions": (lambda v: isinstance(v, dict), "a mapping"),
    "host": (lambda v: isinstance(v, dict), "a mapping"),
    "data": (lambda v: isinstance(v, dict), "a mapping"),
}
#: fields older records or unfinished jobs may lack
OPTIONAL_FIELDS = ("attempts", "per_class", "world_size", "versions", "host", "data", "latency_ms", "flops",
                   "params", "epochs", "finished", "wall_time_s")


def record_problem(record: Any) -> str | None:
    """Why ``record`` (a parsed metrics.json) cannot be trusted, or None when it is a valid job record."""
    if not isinstance(record, dict):
        return f"not a job record (a JSON {type(record).__name__}, expected an object)"
    for name, (check, expected) in RECORD_FIELDS.items():
        if name not in record:
            if name in OPTIONAL_FIELDS:
                continue
            return f"field {name!r} is missing"
        if not check(record[name]):
            return f"field {name!r} is {json.dumps(record[name], default=str)[:60]}, expected {expected}"
    if record["status"] == "ok":
        acc = record["metrics"].get("test", {}).get("acc")
        if not _is_num(acc) or not 0.0 <= acc <= 1.0:
            return f"status ok but metrics.test.acc is {acc!r}, expected a number in [0, 1]"
        if record.get("finished") is None:
            return "status ok but no 'finished' time"
    if record["status"] == "failed" and record["error"] is None:
        return "status failed but no 'error'"
    return None


def load_record(path: Path | str) -> tuple[dict[str, Any] | None, str | None]:
    """(record, None) for a valid metrics.json, (None, reason) for one that cannot be trusted."""
    obj, problem = parse_json(path)
    if problem is None:
        problem = record_problem(obj)
    return (obj, None) if problem is None else (None, problem)


def load_progress(path: Path | str) -> tuple[dict[str, Any] | None, str | None]:
    """(progress, None) for a valid progress.json, (None, reason) for one that cannot be trusted."""
    obj, problem = parse_json(path, _MAX_PROGRESS_BYTES)
    if problem is None:
        if not isinstance(obj, dict) or not _is_int(obj.get("epoch")) or obj["epoch"] < 0:
            problem = "not a progress note (expected an object with an int 'epoch' >= 0)"
        elif not _optional(_is_int)(obj.get("max_epochs")) or not isinstance(obj.get("metrics", {}), dict):
            problem = "'max_epochs' is not an int or 'metrics' not a mapping"
    return (obj, None) if problem is None else (None, problem)


@dataclass
class Result:
    """One metrics.json found under a sweep folder: its job folder and record, or why the record is broken."""

    folder: Path
    record: dict[str, Any] | None
    problem: str | None = None

    @property
    def path(self) -> Path:
        return self.folder / RESULT_FILE


def _walk(folder: Path, nested: bool) -> tuple[list[Path], list[Path]]:
    """(metrics.json files under ``folder``, folders below it that hold their own sweep.json); with ``nested``,
    the files inside those sweeps too."""
    files, sweeps = [], []
    for root, dirs, names in os.walk(folder):
        here = Path(root)
        if here != folder and PLAN_FILE in names:
            sweeps.append(here)
            if not nested:
                dirs.clear()
                continue
        if RESULT_FILE in names:
            files.append(here / RESULT_FILE)
        dirs.sort()
    return sorted(files), sorted(sweeps)


def scan(sweep_dir: Path | str, nested: bool = False) -> list[Result]:
    """Every metrics.json of the sweep ``sweep_dir`` (any depth), sorted by folder, each read once; broken ones
    carry their problem. A folder below it that holds its own sweep.json (a search's ``confirm/``, a sweep run into
    a subfolder) is another sweep: left out, unless ``nested`` pools it in. A sweep reads its folder once when it
    starts and once when it writes its report."""
    out = []
    for path in _walk(Path(sweep_dir), nested)[0]:
        record, problem = load_record(path)
        out.append(Result(path.parent, record, problem))
    return out


def sweeps_below(folder: Path | str) -> list[Path]:
    """The folders below ``folder`` (any depth) that hold their own sweep.json: each a sweep of its own."""
    return _walk(Path(folder), nested=True)[1]
