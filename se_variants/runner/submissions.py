"""What a sweep handed out, and to whom: the ``submissions`` of ``sweep.json``, the drivers that hand jobs out, and
the queues that hold them.

Every run of a sweep command that starts jobs adds a :class:`Submission` to the sweep's ``sweep.json`` (under a
lock, keeping the earlier ones): when, by which command line, with which launcher, which job folders -- with their
SLURM job ids once a cluster took them -- and its driver. A job's latest submission is the one that counts: adding
a submission takes its jobs out of the earlier ones.

A :class:`Driver` is the process that hands a submission's jobs out, one when a slot frees: the sweep command
itself while it waits, or the detached driver of ``--no-wait`` on the ``processes`` launcher (:mod:`.driver`). It
holds a claim (:mod:`.claims`: host, pid, process start, heartbeat) on its folder ``<sweep>/.drivers/<name>/`` while
it lives, and lists there (``done.json``) the jobs it is done with. So any process -- ``se-variants status``, the
same command run again, on this machine or on another that shares the folder -- can tell a job still waiting for a
slot from one that nobody will run. A SLURM array needs no driver: its queue is SLURM's.

:class:`Queues` answers where submitted jobs stand, from one look at each queue: SLURM's (``squeue`` for the jobs
in it, then ``sacct`` for those that left it, when the commands exist here) and each driver's claim. Only the
standard library is imported here: ``se-variants status`` must stay fast.
"""

from __future__ import annotations

import datetime as dt
import secrets
import subprocess
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .claims import Claim, ClaimError, Owner, acquire, owner_of
from .files import locked, parse_json, read_json, stamp, write_json
from .results import PLAN_FILE
from .tables import one_line

__all__ = ["Submission", "Driver", "Queues", "QueueState", "read_plan", "submissions_of", "write_plan",
           "add_submission", "slurm_states", "utc_now", "PLAN_FILE", "DRIVERS", "DONE_FILE", "LOG_FILE",
           "SLURM_WAITING"]

#: the folder of the drivers' claims, lists and logs, inside the sweep folder
DRIVERS = ".drivers"
#: a driver's list of the jobs it is done with
DONE_FILE = "done.json"
#: a detached driver's log
LOG_FILE = "log.txt"
#: held while sweep.json is rewritten (hidden: it holds nothing)
_LOCK = ".sweep.lock"
#: how long a queue command may take before the queue counts as unknown
_QUEUE_TIMEOUT_S = 60.0
#: SLURM job states (squeue's %T, sacct's State) of a job waiting for its allocation
SLURM_WAITING = frozenset({"PENDING", "REQUEUED", "REQUEUE_FED", "REQUEUE_HOLD", "RESV_DEL_HOLD"})
#: SLURM job states of a job holding its allocation
_SLURM_HOLDING = frozenset({"RUNNING", "CONFIGURING", "COMPLETING", "SUSPENDED", "STOPPED", "RESIZING",
                            "SIGNALING", "STAGE_OUT"})


def utc_now() -> str:
    """The time as records write it: UTC, ISO 8601 with milliseconds."""
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds")


@dataclass
class Submission:
    """One run's hand-out of jobs (see the module doc)."""

    launcher: str  # the launcher that took the jobs: workers, basic, processes, slurm
    submitted: str  # when (utc_now)
    command: str  # the command line, to run again ("" when not known)
    jobs: dict[str, str | None] = field(default_factory=dict)  # job folder (relative) → its id in the queue
    driver: str | None = None  # the driver's folder, relative to the sweep folder (None: the queue is SLURM's)


def _submission(data: Any) -> Submission | None:
    """The submission of a sweep.json entry, or None for an entry that is not one (a foreign or edited file)."""
    if not isinstance(data, dict):
        return None
    jobs, driver = data.get("jobs"), data.get("driver")
    if not (isinstance(data.get("launcher"), str) and isinstance(data.get("submitted"), str)
            and isinstance(jobs, dict) and (driver is None or isinstance(driver, str))
            and all(isinstance(k, str) and (v is None or isinstance(v, str)) for k, v in jobs.items())):
        return None
    return Submission(data["launcher"], data["submitted"], str(data.get("command") or ""), dict(jobs), driver)


def read_plan(sweep_dir: Path | str) -> tuple[dict[str, Any] | None, str | None]:
    """(sweep.json, None), or (None, why it cannot be read: missing, not JSON, ...)."""
    obj, problem = parse_json(Path(sweep_dir) / PLAN_FILE)
    if problem is None and not isinstance(obj, dict):
        problem = f"a JSON {type(obj).__name__}, not an object"
    return (obj, None) if problem is None else (None, problem)


def submissions_of(plan: dict[str, Any]) -> tuple[list[Submission], int]:
    """(the submissions of a sweep.json, how many of its entries are not submissions)."""
    raw = plan.get("submissions") or []
    if not isinstance(raw, list):
        return [], 1
    parsed = [_submission(entry) for entry in raw]
    return [s for s in parsed if s is not None], sum(s is None for s in parsed)


def write_plan(sweep_dir: Path | str, plan: dict[str, Any]) -> None:
    """Write sweep.json: ``plan``, with the submissions of the sweep.json it replaces (under the sweep's lock)."""
    sweep_dir = Path(sweep_dir)
    with locked(sweep_dir / _LOCK):
        old = read_json(sweep_dir / PLAN_FILE) or {}
        kept = old.get("submissions") if isinstance(old.get("submissions"), list) else []
        write_json(sweep_dir / PLAN_FILE, {**plan, "submissions": kept})


def add_submission(sweep_dir: Path | str, submission: Submission) -> None:
    """Record ``submission`` in sweep.json (again, with ids added: it replaces its earlier version). Its jobs
    leave the earlier submissions, which are dropped once they hold none."""
    sweep_dir = Path(sweep_dir)
    with locked(sweep_dir / _LOCK):
        plan = read_json(sweep_dir / PLAN_FILE) or {}
        kept = []
        for old in submissions_of(plan)[0]:
            old.jobs = {folder: i for folder, i in old.jobs.items() if folder not in submission.jobs}
            if old.jobs:
                kept.append(asdict(old))
        write_json(sweep_dir / PLAN_FILE, {**plan, "submissions": [*kept, asdict(submission)]})


# ------------------------------------------------------------------------------------------------- drivers


class Driver:
    """The driver of a submission (see the module doc): holds its claim while the process that made it hands jobs
    out; :meth:`done` lists a job it is finished with (whatever became of it); :meth:`close` releases the claim.

    Args:
        sweep_dir: the sweep folder.
        name: the driver's folder name under ``<sweep>/.drivers/`` (default: the time and a random suffix).
    """

    def __init__(self, sweep_dir: Path | str, name: str | None = None):
        self.name = name or f"{stamp()}-{secrets.token_hex(3)}"
        self.folder = Path(sweep_dir) / DRIVERS / self.name
        claim = acquire(self.folder)
        if isinstance(claim, Owner):
            raise ClaimError(f"{self.folder} is held by {claim.describe()}; a driver's folder is its own.")
        self.claim: Claim = claim
        self.finished: list[str] = []

    @property
    def relative(self) -> str:
        """Its folder, relative to the sweep folder (what a submission records)."""
        return f"{DRIVERS}/{self.name}"

    def done(self, folder: str) -> None:
        """Note that the job in ``folder`` (relative) is no longer this driver's to start."""
        self.finished.append(folder)
        try:  # a note: the claim is what says the driver lives
            write_json(self.folder / DONE_FILE, self.finished, indent=None, durable=False)
        except OSError:
            pass

    def close(self) -> None:
        self.claim.release()


# ------------------------------------------------------------------------------------------------- queues


@dataclass(frozen=True)
class QueueState:
    """Where a submitted job stands in the queue that took it: ``queued`` (waiting for a slot), ``started`` (given
    one; not known to train yet), ``gone`` (the queue is done with it, whatever became of it) or ``unknown`` (the
    queue cannot be asked from here); ``detail`` says it in words."""

    state: str
    detail: str


def _ask(command: list[str]) -> tuple[str | None, str]:
    """(the output of a queue command, "") or (None, why it gave none). A query for job ids the queue no longer
    knows is an empty answer, not a failure."""
    try:
        proc = subprocess.run(command, capture_output=True, text=True, timeout=_QUEUE_TIMEOUT_S)
    except FileNotFoundError:
        return None, f"no {command[0]} on this machine"
    except (OSError, subprocess.SubprocessError) as err:
        return None, f"{command[0]} did not answer ({one_line(err, 200)})"
    if proc.returncode != 0:
        if "invalid job id" in proc.stderr.lower():
            return "", ""
        return None, f"{command[0]} failed: {one_line(proc.stderr.strip() or f'exit {proc.returncode}', 200)}"
    return proc.stdout, ""


def _slurm_state(job: str, state: str, where: str = "") -> QueueState:
    said = f"SLURM job {job}: {state}{f' {where}' if where else ''}"
    if state in SLURM_WAITING:
        return QueueState("queued", said)
    if state in _SLURM_HOLDING:
        return QueueState("started", said)
    return QueueState("gone", f"SLURM job {job} left the queue ({state})")


def slurm_states(ids: set[str]) -> tuple[dict[str, QueueState], str | None]:
    """Every SLURM job id's :class:`QueueState` -- one ``squeue`` for all (array tasks one by one), one ``sacct``
    for those no longer in the queue -- or ({}, why) when ``squeue`` cannot be asked here."""
    arrays = sorted({i.split("_", 1)[0] for i in ids})
    out, problem = _ask(["squeue", "--noheader", "--array", "--format=%i|%T|%R", f"--jobs={','.join(arrays)}"])
    if out is None:
        return {}, problem
    states: dict[str, QueueState] = {}
    for line in out.splitlines():
        job, _, rest = line.strip().partition("|")
        state, _, where = rest.partition("|")
        if job in ids:
            states[job] = _slurm_state(job, state.strip(), where.strip())
    left = sorted(ids - set(states))
    if left:
        acct, why = _ask(["sacct", "--noheader", "--parsable2", "--allocations", "--format=JobID,State",
                          f"--jobs={','.join(left)}"])
        ended = {}
        for line in (acct or "").splitlines():
            job, _, state = line.strip().partition("|")
            if job in ids and state:
                ended[job] = state.split()[0]  # "CANCELLED by 1234" → CANCELLED
        for job in left:
            if job in ended:
                states[job] = _slurm_state(job, ended[job])
            else:
                known = "sacct has no record of it" if acct is not None else why
                states[job] = QueueState("gone", f"SLURM job {job} is not in the queue ({known})")
    return states, None


class Queues:
    """Where the jobs of some submissions stand in their queues: asked lazily (a sweep whose jobs all finished asks
    nothing), each queue once until :meth:`refresh` -- SLURM's again only once ``slurm_every_s`` passed (a
    waiting command polls; a cluster's controller should not be asked every few seconds)."""

    def __init__(self, sweep_dir: Path | str, submissions: list[Submission], slurm_every_s: float = 30.0):
        self.sweep_dir = Path(sweep_dir)
        self.submissions = submissions
        self.slurm_every_s = slurm_every_s
        self._slurm: tuple[dict[str, QueueState], str | None] | None = None
        self._slurm_ids: set[str] = set()
        self._slurm_at = 0.0
        self._drivers: dict[str, tuple[Owner | None, set[str]]] = {}

    def refresh(self) -> None:
        """Ask the drivers again, and SLURM too once its answer is ``slurm_every_s`` old."""
        self._drivers = {}
        if time.monotonic() - self._slurm_at >= self.slurm_every_s:
            self._slurm = None

    def _slurm_states(self) -> tuple[dict[str, QueueState], str | None]:
        ids = {i for s in self.submissions if s.launcher == "slurm" for i in s.jobs.values() if i}
        if self._slurm is None or ids != self._slurm_ids:  # (a new submission: its ids were never asked)
            self._slurm = slurm_states(ids) if ids else ({}, None)
            self._slurm_ids, self._slurm_at = ids, time.monotonic()
        return self._slurm

    def driver(self, relative: str) -> tuple[Owner | None, set[str]]:
        """(the live owner of a driver's claim or None, the jobs it is done with)."""
        if relative not in self._drivers:
            folder = self.sweep_dir / relative
            try:
                owner = owner_of(folder)
            except ClaimError:
                owner = None
            done, _ = parse_json(folder / DONE_FILE)
            self._drivers[relative] = (owner, {d for d in done if isinstance(d, str)} if isinstance(done, list)
                                       else set())
        return self._drivers[relative]

    def state(self, submission: Submission, folder: str) -> QueueState:
        """Where the job in ``folder`` (relative) stands in the queue of ``submission``."""
        job_id = submission.jobs.get(folder)
        unknown = None
        if submission.launcher == "slurm" and job_id:
            states, problem = self._slurm_states()
            if problem is None:
                return states[job_id]
            unknown = QueueState("unknown", f"SLURM job {job_id}; the queue cannot be read here ({problem})")
        if submission.driver:
            owner, done = self.driver(submission.driver)
            if owner is not None and folder not in done:
                return QueueState("queued", f"waiting for a slot ({submission.launcher}, handed out by "
                                            f"{owner.host}:{owner.pid})")
            if unknown is None:
                why = "done with it" if folder in done else "gone"
                return QueueState("gone", f"its {submission.launcher} submission of {_when(submission.submitted)} is "
                                          f"{why}")
        return unknown or QueueState("gone", f"its {submission.launcher} submission of "
                                             f"{_when(submission.submitted)} has no queue to ask")


def _when(iso: str) -> str:
    """A record's UTC time in local time, to the second."""
    try:
        return dt.datetime.fromisoformat(iso).astimezone().strftime("%Y-%m-%d %H:%M:%S")
    except ValueError:
        return iso
