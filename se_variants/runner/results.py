"""Job results (``metrics.json``): written atomically, read back defensively.

A writer replaces the file in one step (temporary file + ``os.replace``), so a reader sees the old record or the
new one, never half of one. A reader trusts nothing: every record is parsed with limits and checked against
:data:`RECORD_FIELDS`; one that is unreadable or malformed is returned with the reason, so reports can show it as
broken instead of dropping it or crashing on it.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["write_atomic", "write_json", "read_json", "load_record", "record_problem", "iter_results", "find_done",
           "Result", "RESULT_FILE", "INDEX_FILE", "RECORD_FIELDS", "STATUSES", "MAX_RECORD_BYTES"]

RESULT_FILE = "metrics.json"
#: a record is a few kB (its resolved config included); anything far larger is not one of ours
MAX_RECORD_BYTES = 8 * 1024 * 1024
#: ``running``: a job in progress, or killed; ``ok``: finished; ``failed``: ended with an error
STATUSES = ("running", "ok", "failed")


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
    """``obj`` as JSON (NaN and infinity written as null: JSON has no such numbers), atomically."""
    write_atomic(path, json.dumps(_finite(obj), indent=2, sort_keys=False, default=str, allow_nan=False) + "\n")


def _finite(obj: Any) -> Any:
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    return obj


def _parse(path: Path | str) -> tuple[Any, str | None]:
    """(parsed JSON, None) or (None, why it cannot be read)."""
    try:
        size = os.path.getsize(path)
        if size == 0:
            return None, "empty file"
        if size > MAX_RECORD_BYTES:
            return None, f"{size:,} bytes, larger than any job record ({MAX_RECORD_BYTES:,})"
        with open(path, encoding="utf-8") as f:
            return json.load(f), None
    except RecursionError:
        return None, "JSON nested too deeply to be a job record"
    except UnicodeDecodeError as err:
        return None, f"not UTF-8 text ({err.reason} at byte {err.start})"
    except ValueError as err:
        return None, f"not valid JSON ({err})"
    except OSError as err:
        return None, f"cannot be read ({err.strerror or err})"


def read_json(path: Path | str) -> dict[str, Any] | None:
    """The JSON object at ``path``, or None when it is missing, unreadable or not an object."""
    obj, _ = _parse(path)
    return obj if isinstance(obj, dict) else None


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
    obj, problem = _parse(path)
    if problem is None:
        problem = record_problem(obj)
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


#: the index of a sweep folder's records (see :func:`iter_results`)
INDEX_FILE = ".results-index.json"


def iter_results(sweep_dir: Path | str, *, index: bool = False) -> list[Result]:
    """Every metrics.json under ``sweep_dir`` (any depth), sorted by folder; broken ones carry their problem.

    ``index``: keep ``<sweep_dir>/.results-index.json`` -- each file's size and modification time with what was
    read from it -- and read again only the files that changed since, so that rewriting a sweep's report after
    each of its N jobs reads each record about once instead of N times. An entry is used only while the file's
    size and time stamp are unchanged, so a stale or half-updated index can cost a re-read, never a wrong record;
    a missing or unreadable index is rebuilt.
    """
    sweep_dir = Path(sweep_dir)
    cached: dict[str, Any] = {}
    if index:
        loaded = read_json(sweep_dir / INDEX_FILE)
        cached = loaded if isinstance(loaded, dict) and loaded.get("version") == 1 else {}
    entries = cached.get("files", {}) if isinstance(cached.get("files"), dict) else {}
    out, fresh, changed = [], {}, False
    for path in sorted(sweep_dir.rglob(RESULT_FILE)):
        try:
            stat = path.stat()
        except OSError:
            continue
        rel = path.relative_to(sweep_dir).as_posix()
        key = [stat.st_mtime_ns, stat.st_size]
        entry = entries.get(rel)
        if isinstance(entry, dict) and entry.get("key") == key:
            record, problem = entry.get("record"), entry.get("problem")
        else:
            record, problem = load_record(path)
            changed = True
        fresh[rel] = {"key": key, "record": record, "problem": problem}
        out.append(Result(path.parent, record, problem))
    if index and (changed or set(fresh) != set(entries)):
        write_atomic(sweep_dir / INDEX_FILE, json.dumps({"version": 1, "files": fresh}, default=str))
    return out


def find_done(sweep_dir: Path | str, config_hash: str) -> tuple[Path, dict[str, Any]] | None:
    """The newest valid, finished (status ok) result of the config with ``config_hash`` under ``sweep_dir``."""
    done = [(r.record.get("finished") or "", r.folder, r.record) for r in iter_results(sweep_dir)
            if r.record is not None and r.record["status"] == "ok" and r.record["config_hash"] == config_hash]
    if not done:
        return None
    _, folder, record = max(done, key=lambda t: t[0])
    return folder, record
