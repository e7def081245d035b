"""One planned job, run in whatever process a launcher gives it (the command's own, a worker, a submitit job on a
cluster node): :func:`execute` trains it (:func:`.job.run_job`) and returns a small :func:`summary` -- never raises
for a failed job, so one job's error never stops the others. An interrupt (Ctrl-C, SIGTERM, a launcher stopping
its workers) is recorded by the job and comes out as ``KeyboardInterrupt``.
"""

from __future__ import annotations

import signal
import threading
import traceback
from typing import Any

from .devices import claim_gpus
from .job import JobConflict, finish_lost, run_job
from .plans import Job
from .validate import ConfigError, check_devices

__all__ = ["execute", "summary", "lost", "stopped", "failed", "COSTS"]


#: the cost columns of a record a summary carries (a search may optimize them)
COSTS = ("params", "flops", "latency_ms")


def summary(record: dict[str, Any], job: Job) -> dict[str, Any]:
    """What a job returns to the command (small, picklable): status, folder, its metrics (train / val / test) and
    costs (what a search's objective reads), owner, error."""
    error = record.get("error") or {}
    metrics = record.get("metrics") or {}
    return {"status": record.get("status"), "skipped": bool(record.get("skipped")),
            "job_dir": str(record.get("job_dir") or job.folder), "config_hash": record.get("config_hash"),
            "acc": metrics.get("test", {}).get("acc"), "metrics": metrics,
            **{k: record.get(k) for k in COSTS}, "owner": record.get("owner"),
            "wall_time_s": record.get("wall_time_s"), "attempts": len(record.get("attempts") or []),
            "error": {"type": error.get("type"), "message": error.get("message")} if error else None}


def failed(job: Job, kind: str, message: str) -> dict[str, Any]:
    """The summary of a job that did not get to train (or whose process died): failed, with the real reason."""
    return {"status": "failed", "skipped": False, "job_dir": str(job.folder), "config_hash": job.config_hash,
            "acc": None, "metrics": {}, **{k: None for k in COSTS}, "owner": None, "wall_time_s": None,
            "attempts": 0, "error": {"type": kind, "message": message}}


def execute(job: Job, *, progress_bar: bool = False) -> dict[str, Any]:
    """Train ``job`` here; returns its :func:`summary`. Every error -- in training, in claiming its folder, on
    this machine's devices -- becomes a failed summary with its real type and message."""
    cfg = {**job.config, "trainer": {**job.config["trainer"], "enable_progress_bar": progress_bar and
                                     bool(job.config["trainer"].get("enable_progress_bar", True))}}
    try:
        check_devices(cfg["trainer"])  # where the job runs (the planner checks it only for local launchers)
        with claim_gpus(cfg) as gpus:  # on GPUs: devices no other local job holds
            record = run_job(cfg, job.folder, job.overrides, devices=gpus or None)
    except JobConflict as err:
        record = {"status": "failed", "error": {"type": "JobConflict", "message": str(err)}}
    except ConfigError as err:
        record = {"status": "failed", "error": {"type": "ConfigError", "message": str(err)}}
    except SystemExit as err:  # Lightning turns Ctrl-C into sys.exit(1) after the job recorded it
        raise KeyboardInterrupt("the job was stopped") from err
    except Exception as err:  # outside the job's own bookkeeping: a claim file that is a folder, a full disk, ...
        record = {"status": "failed", "error": {"type": type(err).__name__, "message": str(err) or type(err).__name__,
                                                "traceback": traceback.format_exc()}}
    finally:
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGINT, signal.default_int_handler)  # Lightning leaves Ctrl-C ignored
    return summary(record, job)


def lost(job: Job, why: str) -> dict[str, Any]:
    """The summary of a job whose process died while training it: its record is closed as killed (the next run
    resumes it from its last checkpoint) and the summary says why."""
    try:
        record = finish_lost(job.folder, why)
    except Exception:  # the record stays as it is; the next run closes it
        record = None
    if record is not None and record.get("status") == "ok":  # it finished just before its process died
        return summary(record, job)
    return failed(job, "Killed", why)


def stopped(job: Job, why: str) -> None:
    """Close the record of a job its launcher stopped (an interrupt) once the process that trained it has ended:
    a job stopped in training has recorded the interrupt itself, but one stopped between two writes of its record
    (just as it wrote its result, say) or killed when it did not stop in time would still say ``running``. Such a
    record becomes Interrupted (the next run resumes the job from its last checkpoint); any other is left as it
    is."""
    try:
        finish_lost(job.folder, why, kind="Interrupted", outcome="interrupted")
    except Exception:  # the record stays as it is; the next run closes it
        pass
