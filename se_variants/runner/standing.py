"""Where each job of a sweep stands, read from what the jobs and their submitters wrote -- records, claims,
progress notes, ``sweep.json``'s submissions and their queues -- never from this machine's processes alone, so
that a sweep another machine runs into a shared folder is judged as well (its claims by their heartbeats).

A job's standing, decided in this order:

1. a finished record of its config that nobody trains again: ``ok`` (``failed`` when the folder holds another
   config's result, which the sweep never overwrites);
2. a live claim (:mod:`.claims`): ``training``, with its host and process, the epochs its progress note counts
   and the age of its heartbeat;
3. a record that ended after the job's latest submission: ``failed`` with its error, ``pruned``, or ``lost`` when
   its process was killed or stopped (the same command resumes it from its checkpoint);
4. the latest submission's queue (:class:`.submissions.Queues`): ``queued``, ``starting`` (given a slot, not
   training yet), or ``submitted`` when the queue cannot be asked from here;
5. otherwise nothing runs it: ``broken`` (a record that cannot be trusted), ``failed`` / ``pruned`` / ``lost`` by
   its last record, ``lost`` when its submission ended without a record, ``not run`` when it was never handed out.

``training``, ``starting``, ``queued`` and ``submitted`` are pending: the sweep is not done. Only the standard
library and the runner's readers are imported here (``se-variants status`` must stay fast).
"""

from __future__ import annotations

import datetime as dt
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .claims import CLAIM_FILE, ClaimError, Owner, owner_of
from .plans import label_of
from .results import PROGRESS_FILE, RESULT_FILE, load_progress, load_record
from .submissions import Queues, Submission, read_plan, submissions_of
from .tables import one_line

__all__ = ["Planned", "Standing", "Look", "look", "stand", "summary", "exit_code", "age", "STATES", "PENDING",
           "STOPPED"]

#: every standing, in the order a summary counts them
STATES = ("ok", "pruned", "failed", "broken", "lost", "not run", "training", "starting", "queued", "submitted")
#: the standings of a job something will still run
PENDING = frozenset({"training", "starting", "queued", "submitted"})
#: errors that say a job's process was stopped, not that the job failed: the same command resumes it
STOPPED = frozenset({"Killed", "Interrupted", "NotFinished"})
#: folders of a sweep that hold no jobs
_NOT_JOBS = {".drivers", ".submitit", "checkpoints", "logs", "tensorboard", "wandb", "inspect"}


@dataclass(frozen=True)
class Planned:
    """A job to judge: its folder, its overrides as a person reads them, its config hash (None: not known)."""

    folder: Path
    label: str
    config_hash: str | None = None


@dataclass
class Standing:
    """Where one job stands: one of :data:`STATES`, said in words; ``owner`` names the process training it."""

    job: Planned
    state: str
    detail: str
    owner: str | None = None

    @property
    def pending(self) -> bool:
        return self.state in PENDING


@dataclass
class Look:
    """What a sweep folder says of itself: its jobs, their submissions, the command that planned them, and what
    could not be read (shown, never dropped)."""

    folder: Path
    jobs: list[Planned]
    submissions: list[Submission]
    command: str
    problems: list[str]


def _planned(folder: Path, entry: Any) -> Planned | None:
    if not isinstance(entry, dict) or not isinstance(entry.get("folder"), str):
        return None
    overrides = entry.get("overrides")
    label = label_of(overrides) if isinstance(overrides, list) and all(isinstance(o, str) for o in overrides) \
        else entry["folder"]
    config_hash = entry.get("config_hash")
    return Planned(folder / entry["folder"], label, config_hash if isinstance(config_hash, str) else None)


def _found(folder: Path) -> list[Planned]:
    """The job folders under ``folder`` (any depth; a record or a claim makes one), for a folder without a usable
    sweep.json: a search's trials, a single run, an older sweep."""
    out = []
    for here, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if d not in _NOT_JOBS and not d.startswith("."))
        if RESULT_FILE in files or CLAIM_FILE in files:
            path = Path(here)
            record, _ = load_record(path / RESULT_FILE)
            relative = path.relative_to(folder)
            label = label_of(record["overrides"]) if record else (str(relative) if relative.parts else path.name)
            out.append(Planned(path, label))
    return out


def look(folder: Path | str) -> Look:
    """The jobs of a sweep folder: sweep.json's planned jobs and submissions, or -- without a usable sweep.json --
    every job folder found under it."""
    folder = Path(folder)
    plan, problem = read_plan(folder)
    problems = []
    if plan is not None:
        entries = plan.get("jobs")
        jobs = [_planned(folder, e) for e in entries] if isinstance(entries, list) else []
        submissions, bad = submissions_of(plan)
        command = next((s.command for s in reversed(submissions) if s.command), "")
        if bad:
            problems.append(f"sweep.json: {bad} submission entr{'y' if bad == 1 else 'ies'} it cannot use")
        if jobs and None not in jobs:
            return Look(folder, [j for j in jobs if j is not None], submissions, command, problems)
        problems.append("sweep.json: its job list cannot be used; showing the job folders found")
        return Look(folder, _found(folder), submissions, command, problems)
    if problem != "missing":
        problems.append(f"sweep.json: {problem}; showing the job folders found")
    return Look(folder, _found(folder), [], "", problems)


def age(seconds: float) -> str:
    """``4 s``, ``12 min``, ``3.2 h``, ``2.0 d``."""
    seconds = max(0.0, seconds)
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 172800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"


def _epochs(folder: Path) -> str | None:
    """``epoch 3/15 (val acc 91.2%)`` from a job's progress note (None without one); what is wrong with it when it
    is broken."""
    path = folder / PROGRESS_FILE
    if not path.exists():
        return None
    progress, problem = load_progress(path)
    if progress is None:
        return f"progress unknown ({PROGRESS_FILE}: {problem})"
    of = f"/{progress['max_epochs']}" if progress.get("max_epochs") else ""
    acc = (progress.get("metrics") or {}).get("val/acc")
    val = f" (val acc {acc * 100:.1f}%)" if isinstance(acc, (int, float)) and not isinstance(acc, bool) else ""
    return f"epoch {progress['epoch']}{of}{val}"


def _after(record: dict[str, Any], submitted: str) -> bool:
    """Whether ``record`` ended after a submission made at ``submitted`` (then it is that submission's outcome)."""
    try:
        return dt.datetime.fromisoformat(record.get("finished") or "") >= dt.datetime.fromisoformat(submitted)
    except (TypeError, ValueError):
        return False


def _ended(job: Planned, record: dict[str, Any]) -> Standing:
    """The standing a finished-but-not-ok record gives: pruned, failed, or lost (stopped: resumable)."""
    if record["status"] == "pruned":
        return Standing(job, "pruned", f"stopped by the search's pruner after {record.get('epochs') or '?'} epochs")
    err = record.get("error") or {}
    said = f"{err.get('type')}: {one_line(err.get('message'), 300)}"
    if err.get("type") in STOPPED:
        epochs = _epochs(job.folder)
        return Standing(job, "lost", f"{said}{f' (had reached {epochs})' if epochs else ''}")
    return Standing(job, "failed", said)


def _training(job: Planned, owner: Owner, now: float) -> Standing:
    if owner.token == "partial":
        return Standing(job, "training", "starting: its claim is being written", "?")
    return Standing(job, "training", f"on {owner.host}:{owner.pid}, {_epochs(job.folder) or 'epoch 0'}, heartbeat "
                                     f"{age(now - owner.last_seen)} ago", owner.describe())


def _ok(job: Planned, record: dict[str, Any]) -> Standing:
    if job.config_hash and record["config_hash"] != job.config_hash:
        return Standing(job, "failed", f"the folder holds the finished result of another config (config_hash "
                                       f"{record['config_hash']}, planned {job.config_hash}); it is kept: the sweep "
                                       f"fails this job until the folder is moved away")
    acc = record["metrics"]["test"]["acc"]
    attempts = len(record.get("attempts") or [])
    again = f", {attempts} attempts" if attempts > 1 else ""
    return Standing(job, "ok", f"test acc {acc * 100:.2f}% ({record.get('wall_time_s') or 0:.1f} s{again})")


def _stand(job: Planned, sub: Submission | None, relative: str, queues: Queues, now: float) -> Standing:
    path = job.folder / RESULT_FILE
    record, problem = load_record(path) if path.exists() else (None, None)
    try:
        owner = owner_of(job.folder)
    except ClaimError as err:  # a folder where the claim belongs: nothing can train the job
        return Standing(job, "broken", str(err))
    if owner is None and record is not None and record["status"] == "ok":
        return _ok(job, record)
    if owner is not None:
        return _training(job, owner, now)
    if record is not None and record["status"] in ("failed", "pruned") and (sub is None or
                                                                           _after(record, sub.submitted)):
        return _ended(job, record)
    queue = queues.state(sub, relative) if sub is not None else None
    if queue is not None and queue.state != "gone":
        return Standing(job, {"queued": "queued", "started": "starting", "unknown": "submitted"}[queue.state],
                        queue.detail)
    if problem is not None:
        return Standing(job, "broken", f"{RESULT_FILE}: {problem}")
    since = f"; {queue.detail}" if queue is not None else ""
    if record is not None and record["status"] in ("failed", "pruned"):
        standing = _ended(job, record)
        standing.detail += since
        return standing
    if record is not None:  # running, and no live claim: its process died without closing the record
        epochs = _epochs(job.folder)
        return Standing(job, "lost", f"its process stopped{f' at {epochs}' if epochs else ''} without closing its "
                                     f"record (killed?); the same command resumes it{since}")
    if queue is not None:
        return Standing(job, "lost", f"{queue.detail}, and it left no record; the same command runs it")
    return Standing(job, "not run", "never handed out to a launcher; the same command runs it")


def stand(look: Look, jobs: list[Planned] | None = None, queues: Queues | None = None) -> list[Standing]:
    """The standing of each of ``jobs`` (default: the look's), judged by the module doc's rules."""
    jobs = look.jobs if jobs is None else jobs
    latest: dict[str, Submission] = {}
    for submission in look.submissions:
        for folder in submission.jobs:
            latest[folder] = submission
    queues = queues or Queues(look.folder, look.submissions)
    now = time.time()
    out = []
    for job in jobs:
        try:
            relative = str(job.folder.relative_to(look.folder))
        except ValueError:
            relative = str(job.folder)
        out.append(_stand(job, latest.get(relative), relative, queues, now))
    return out


def summary(standings: list[Standing]) -> str:
    """``12 jobs: 8 ok, 1 failed, 1 training, 2 queued``."""
    counts = [f"{n} {state}" for state in STATES if (n := sum(s.state == state for s in standings))]
    return f"{len(standings)} job{'s' if len(standings) != 1 else ''}: {', '.join(counts) or 'none'}"


def exit_code(standings: list[Standing]) -> int:
    """3 while a job is pending; else 1 when one did not finish ok (failed, broken, lost, not run); else 0."""
    if any(s.pending for s in standings):
        return 3
    return 1 if any(s.state not in ("ok", "pruned") for s in standings) else 0
