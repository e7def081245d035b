"""Files the runner writes and reads: every write atomic, every read bounded.

A writer replaces a file in one step (a temporary file in the same folder, then ``os.replace``), so a reader
sees the old file or the new one, never half of one; records are synced to disk first, notes that the next write
replaces anyway (a job's progress, a driver's list) are not. New files get the permissions any other new file of
this process gets (``0o666`` minus the umask): colleagues sharing a file system can read results when the umask
lets them.
A reader trusts nothing: JSON is parsed with limits (size, nesting, encoding), and the caller gets the reason
when a file cannot be read, so it can show the file as broken instead of crashing on it.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import math
import os
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

__all__ = ["sqlite_file", "write_atomic", "write_json", "replace_into", "parse_json", "read_json", "unwritable",
           "stamp", "locked", "MAX_JSON_BYTES", "FileProblem"]

#: the runner's JSON files (records, plans, claims) are a few kB; anything far larger is not one of ours
MAX_JSON_BYTES = 8 * 1024 * 1024
_UMASK_LOCK = threading.Lock()


class FileProblem(OSError):
    """A path the runner must write is not usable (a folder where a file belongs, a symlink, no permission)."""


def _umask() -> int:
    with _UMASK_LOCK:  # os.umask can only be read by setting it
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


def replace_into(path: Path | str, write: Callable[[str], None]) -> None:
    """Call ``write(temporary path)``, then move that file to ``path`` in one step, with the umask's permissions.

    Raises :class:`FileProblem` when ``path`` is a folder (nothing is replaced)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.is_dir() and not path.is_symlink():
        raise FileProblem(f"{path} is a folder, where the runner writes a file; move it away.")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600 files, whatever the umask
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_atomic(path: Path | str, data: str | bytes, durable: bool = True) -> None:
    """Write ``data`` (text as UTF-8) to ``path`` atomically (see :func:`replace_into`), synced to disk unless
    ``durable`` is False (a note the next write replaces: a crash of the machine may lose it, never half of it)."""
    raw = data.encode("utf-8") if isinstance(data, str) else data

    def write(tmp: str) -> None:
        with open(tmp, "wb") as f:
            f.write(raw)
            if durable:
                f.flush()
                os.fsync(f.fileno())

    replace_into(path, write)


def _finite(obj: Any) -> Any:
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    return obj


def write_json(path: Path | str, obj: Any, indent: int | None = 2, durable: bool = True) -> None:
    """``obj`` as JSON (NaN and infinity written as null: JSON has no such numbers), atomically (see
    :func:`write_atomic` for ``durable``)."""
    write_atomic(path, json.dumps(_finite(obj), indent=indent, default=str, allow_nan=False) + "\n", durable)


def parse_json(path: Path | str, max_bytes: int = MAX_JSON_BYTES) -> tuple[Any, str | None]:
    """(parsed JSON, None), or (None, why the file cannot be read): missing, a folder, empty, larger than
    ``max_bytes``, not UTF-8, not JSON, or nested too deeply."""
    try:
        if os.path.isdir(path):
            return None, "a folder, not a file"
        size = os.path.getsize(path)
        if size == 0:
            return None, "empty file"
        if size > max_bytes:
            return None, f"{size:,} bytes, larger than any file of ours ({max_bytes:,})"
        with open(path, encoding="utf-8") as f:
            return json.load(f), None
    except RecursionError:
        return None, "JSON nested too deeply to be a file of ours"
    except UnicodeDecodeError as err:
        return None, f"not UTF-8 text ({err.reason} at byte {err.start})"
    except ValueError as err:
        return None, f"not valid JSON ({err})"
    except FileNotFoundError:
        return None, "missing"
    except OSError as err:
        return None, f"cannot be read ({err.strerror or err})"


def read_json(path: Path | str, max_bytes: int = MAX_JSON_BYTES) -> dict[str, Any] | None:
    """The JSON object at ``path``, or None when it is missing, unreadable or not an object."""
    obj, _ = parse_json(path, max_bytes)
    return obj if isinstance(obj, dict) else None


def unwritable(folder: Path | str) -> str | None:
    """Why files cannot be written into ``folder`` (created when missing), said of the folder -- "is a file", "is
    below <path>, which is a file", "is below <path>, which is not writable" -- or None when they can. Creates
    nothing."""
    folder = Path(folder)
    existing = next((p for p in (folder, *folder.parents) if p.exists()), None)
    if existing is None:
        return None
    where = "" if existing == folder else f"is below {existing}, which "
    if not existing.is_dir():
        return f"{where}is a file"
    if not os.access(existing, os.W_OK | os.X_OK):
        return f"{where}is not writable"
    return None


def stamp() -> str:
    """The local time as a file-name suffix: ``20261203-214500``."""
    return time.strftime("%Y%m%d-%H%M%S")


@contextlib.contextmanager
def locked(path: Path | str) -> Iterator[None]:
    """Hold the lock file ``path`` (flock, created when missing, never followed through a symlink): one holder at
    a time across processes on a host, and across hosts where the file system supports locks; where it does not,
    the holders' writes stay atomic, just not serialised. Raises :class:`FileProblem` for a lock that is not a
    file."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o666)
    except OSError as err:
        raise FileProblem(f"{path} cannot be used as a lock file ({err.strerror or err}: a folder or a symlink?); "
                          f"remove it.") from None
    try:
        with contextlib.suppress(OSError):  # a file system without locks
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def sqlite_file(url: str) -> Path | None:
    """The database file of a ``sqlite:///`` URL (an Optuna study's storage, an MLflow store): None for other
    databases and for an in-memory one."""
    if not url.startswith("sqlite:///"):
        return None
    path = url[len("sqlite:///"):].split("?", 1)[0]
    return Path(path) if path and path != ":memory:" else None
