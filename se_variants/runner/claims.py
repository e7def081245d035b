"""Job claims: one process trains a job folder at a time.

Before a job trains, its process creates ``<job folder>/claim.json`` atomically (``O_CREAT | O_EXCL``), holding its
host, pid and start time, and touches it every :data:`HEARTBEAT_S` seconds while the job runs. Another process
that finds the claim leaves the job alone while the owner lives:

* on the same host, the owner lives while its pid exists with the same process start time (so a recycled pid
  does not count);
* on another host (a shared file system, e.g. SLURM nodes), while the claim was touched within
  :data:`STALE_AFTER_S` seconds.

A claim whose owner is dead (killed, crashed machine) is stale and is taken over: exactly one contender wins,
through an ``O_EXCL`` take-over marker named after the stale claim's token. A claim made under SLURM also names
its job (array job and task id) and restart count: a requeued job -- the same job started again after a time limit
or a preemption ended the first run -- takes its own claim over at once, without waiting for the heartbeat to go
stale.
Claims work on any file system that honours ``O_EXCL`` (local disks, NFS v3+, Lustre), without ``flock``.
"""
from __future__ import annotations

import json
import os
import secrets
import socket
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from .files import parse_json

__all__ = ["Claim", "ClaimError", "Owner", "acquire", "owner_of", "this_process", "CLAIM_FILE", "HEARTBEAT_S",
           "STALE_AFTER_S"]

CLAIM_FILE = "claim.json"
#: how often a running job touches its claim
HEARTBEAT_S = 10.0
#: a claim from another host untouched this long is stale (its owner's machine stopped)
STALE_AFTER_S = 300.0
#: a claim file still being written (empty or partial JSON) younger than this is taken as alive
_YOUNG_S = 30.0
#: a claim is a few hundred bytes
_MAX_CLAIM_BYTES = 64 * 1024


class ClaimError(OSError):
    """A job folder whose claim cannot be made: the message names the path and the fix."""


def _process_start(pid: int) -> str | None:
    """The start time of process ``pid`` (clock ticks since boot, Linux), or None where it cannot be read."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[19].decode()
    except (OSError, IndexError):
        return None


def _ended(pid: int) -> bool:
    """Whether process ``pid`` has ended and only waits to be reaped (a zombie, Linux): a killed worker whose
    parent died with it stays one until init reaps it, which can take seconds."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0] in (b"Z", b"X")
    except (OSError, IndexError):
        return False


def scheduler_job() -> tuple[str, int] | None:
    """This process's scheduler job and how often it was restarted (SLURM: array job and task id, or job id, and
    SLURM_RESTART_COUNT, which a requeue increments), or None outside a scheduler."""
    env = os.environ
    if env.get("SLURM_ARRAY_JOB_ID") and env.get("SLURM_ARRAY_TASK_ID"):
        job = f"slurm:{env['SLURM_ARRAY_JOB_ID']}_{env['SLURM_ARRAY_TASK_ID']}"
    elif env.get("SLURM_JOB_ID"):
        job = f"slurm:{env['SLURM_JOB_ID']}"
    else:
        return None
    return job, int(env.get("SLURM_RESTART_COUNT") or 0)


def _pid_alive(pid: int, start: str | None, last_seen: float, now: float) -> bool:
    """Whether the process that made a claim on this host lives: its pid exists with the same start time. Where
    start times cannot be read (no /proc), a pid that exists counts while its heartbeat is fresh, so a recycled
    pid cannot hold a job forever."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by another user
        pass
    if _ended(pid):
        return False
    current = _process_start(pid)
    if start is None or current is None:
        return now - last_seen < STALE_AFTER_S
    return current == start


@dataclass
class Owner:
    """Who holds (or held) a claim, as read from its claim file."""

    host: str
    pid: int
    started: float  # time.time() when the claim was made
    token: str
    last_seen: float  # the claim file's modification time: the owner's last heartbeat
    process_start: str | None = None
    job: list[Any] | None = None  # [scheduler job, restart count] of the process that made the claim

    def alive(self, now: float | None = None) -> bool:
        now = time.time() if now is None else now
        if self.host == socket.gethostname():
            return _pid_alive(self.pid, self.process_start, self.last_seen, now)
        mine = scheduler_job()
        if self.job and mine and self.job[0] == mine[0] and isinstance(self.job[1], int) and self.job[1] < mine[1]:
            return False  # this process is the same job, requeued: the earlier run has ended
        return now - self.last_seen < STALE_AFTER_S

    def describe(self) -> str:
        since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.started))
        return f"{self.host}:{self.pid} (since {since})"


def _read(path: Path) -> Owner | None | str:
    """The owner in ``path``; None when there is no claim; ``"partial"`` when the file is being written. A file
    that cannot be a claim (not JSON, wrong fields, nested, huge) is an owner nobody can reach: stale once old."""
    if path.is_dir():
        raise ClaimError(f"{path} is a folder where a job keeps its claim file; remove it (the job is not trained "
                         f"while it is there).")
    try:
        stat = path.stat()
    except FileNotFoundError:
        return None
    data, _ = parse_json(path, _MAX_CLAIM_BYTES)
    try:
        if not isinstance(data, dict):
            raise TypeError
        return Owner(host=str(data["host"]), pid=int(data["pid"]), started=float(data["started"]),
                     token=str(data["token"]), last_seen=stat.st_mtime,
                     process_start=data.get("process_start") if isinstance(data.get("process_start"), str) else None,
                     job=data.get("job") if isinstance(data.get("job"), list) and len(data["job"]) == 2 else None)
    except (KeyError, TypeError, ValueError, OverflowError):
        young = time.time() - stat.st_mtime < _YOUNG_S
        return "partial" if young else Owner("?", -1, 0.0, f"unreadable-{stat.st_mtime_ns}", 0.0)


def owner_of(job_dir: Path | str) -> Owner | None:
    """The live owner of ``job_dir``'s claim, or None when nobody is training it."""
    owner = _read(Path(job_dir) / CLAIM_FILE)
    if owner == "partial":
        return Owner("?", -1, time.time(), "partial", time.time())
    return owner if isinstance(owner, Owner) and owner.alive() else None


class Claim:
    """A held claim: releases on :meth:`release` (or ``with``), keeps a heartbeat thread running until then.

    ``stale`` is the owner of the dead claim this one took over (None for a fresh claim): its ``last_seen`` tells
    roughly when the killed attempt stopped.
    """

    def __init__(self, path: Path, owner: Owner, stale: Owner | None):
        self.path, self.owner, self.stale = path, owner, stale
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"claim-heartbeat-{path.parent.name}", daemon=True)
        self._thread.start()

    def _beat(self) -> None:
        while not self._stop.wait(HEARTBEAT_S):
            try:
                os.utime(self.path)
            except OSError:
                pass

    def held(self) -> bool:
        """True while the claim file on disk is still this claim."""
        current = _read(self.path)
        return isinstance(current, Owner) and current.token == self.owner.token

    def release(self) -> None:
        self._stop.set()
        if self.held():
            self.path.unlink(missing_ok=True)

    def __enter__(self) -> "Claim":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.release()


def this_process() -> Owner:
    """This process as an :class:`Owner` (host, pid, start time, scheduler job), as of now: what a claim holds, and
    what a search records of the command that asked for a trial."""
    job = scheduler_job()
    return Owner(socket.gethostname(), os.getpid(), time.time(), secrets.token_hex(8), time.time(),
                 _process_start(os.getpid()), list(job) if job else None)


def _create(path: Path) -> Owner | None:
    """Create the claim file with O_EXCL (never following a symlink); our Owner, or None when it already exists."""
    owner = this_process()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        return None
    except IsADirectoryError:
        raise ClaimError(f"{path} is a folder where a job keeps its claim file; remove it.") from None
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        data = asdict(owner)
        data.pop("last_seen")
        json.dump(data, f)
        f.flush()
        os.fsync(f.fileno())
    return owner


def acquire(job_dir: Path | str) -> Claim | Owner:
    """Claim ``job_dir`` for this process: a :class:`Claim`, or the live :class:`Owner` that holds it.

    A stale claim (dead owner) is taken over; when several processes try at once, exactly one gets the claim and
    the others get the winner as the owner.
    """
    job_dir = Path(job_dir)
    job_dir.mkdir(parents=True, exist_ok=True)
    path = job_dir / CLAIM_FILE
    stale: Owner | None = None
    for _ in range(5):
        mine = _create(path)
        if mine is not None:
            return Claim(path, mine, stale)
        current = _read(path)
        if current is None:
            continue  # released meanwhile: try again
        if current == "partial":
            time.sleep(0.2)
            continue
        assert isinstance(current, Owner)
        if current.alive():
            return current
        # take over: only the process that creates the marker for this stale token may remove the claim
        marker = job_dir / f".claim-takeover-{current.token}"
        try:
            os.close(os.open(marker, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
        except FileExistsError:
            time.sleep(0.2)
            continue  # another process is taking over; it will hold the claim
        try:
            again = _read(path)
            if isinstance(again, Owner) and again.token == current.token:
                path.unlink(missing_ok=True)
                stale = current
        finally:
            marker.unlink(missing_ok=True)
    current = _read(path)
    if isinstance(current, Owner):
        return current
    raise RuntimeError(f"could not claim {job_dir}: {path} keeps changing; is another process looping on it?")
