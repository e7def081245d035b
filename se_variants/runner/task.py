"""The task of one Hydra job (:func:`run_task`) and what a sweep does around its jobs.

``run_task`` runs in whatever process the launcher gives a job (the main process, a joblib worker, a submitit
job on a cluster node): it trains the job (:func:`.job.run_job`), rewrites the sweep's report from the results on
disk (one writer at a time, under a file lock), prints one progress line and returns a small summary that the
sweeper collects. Nothing here depends on Hydra callbacks, which run in other processes under joblib and
submitit and are skipped when a job fails.
"""

from __future__ import annotations

import contextlib
import fcntl
import sys
import time
from pathlib import Path
from typing import Any, Iterator

from omegaconf import DictConfig

__all__ = ["run_task", "report_lock", "progress_line", "wait_for_owners", "summary", "PLAN_FILE"]

#: the sweep's planned jobs (written by the sweeper before launching; progress lines count against it)
PLAN_FILE = "sweep.json"


@contextlib.contextmanager
def report_lock(sweep_dir: Path) -> Iterator[None]:
    """Hold ``<sweep_dir>/.report.lock`` (flock): one report writer at a time across processes on a host, and
    across hosts where the file system supports locks; elsewhere writes stay atomic, just not serialised."""
    sweep_dir.mkdir(parents=True, exist_ok=True)
    with open(sweep_dir / ".report.lock", "a") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX)
        except OSError:  # a file system without locks: reports are still written atomically
            pass
        yield


def _acc(record: dict[str, Any]) -> str:
    acc = (record.get("metrics") or {}).get("test", {}).get("acc")
    return f"{acc * 100:.2f}%" if isinstance(acc, (int, float)) else "–"


def summary(record: dict[str, Any], job_dir: Path, overrides: list[str]) -> dict[str, Any]:
    """What a job returns to the sweeper (small, picklable): status, folder, overrides, test accuracy, owner."""
    return {"status": record.get("status"), "skipped": bool(record.get("skipped")),
            "job_dir": str(record.get("job_dir") or job_dir), "overrides": overrides,
            "config_hash": record.get("config_hash"), "acc": (record.get("metrics") or {}).get("test", {}).get("acc"),
            "owner": record.get("owner"), "wall_time_s": record.get("wall_time_s"),
            "error": (record.get("error") or {}).get("message")}


def progress_line(record: dict[str, Any], overrides: list[str], done: str = "") -> str:
    """``[ok]   <overrides>: test acc 98.00% (3.1 s)`` and its kin for skipped, busy and failed jobs."""
    what = " ".join(o for o in overrides if not o.startswith("experiment=")) or "(defaults)"
    status = record.get("status")
    if record.get("skipped"):
        line = f"[skip] {what}: done before in {record.get('job_dir')} (test acc {_acc(record)})"
    elif status == "ok":
        attempts = len(record.get("attempts") or [])
        again = f", attempt {attempts}" if attempts > 1 else ""
        line = f"[ok]   {what}: test acc {_acc(record)} ({record.get('wall_time_s') or 0:.1f} s{again})"
    elif status == "busy":
        line = f"[busy] {what}: being trained by {record.get('owner')}; left to it"
    else:
        err = record.get("error") or {}
        line = f"[FAIL] {what}: {err.get('type')}: {' '.join(str(err.get('message')).split())[:300]}"
    return f"{done} {line}".lstrip()


def _count_done(sweep_dir: Path, records: list[dict[str, Any]]) -> str:
    """``[k/N]``: finished jobs of the N planned in sweep.json ('' without a plan file)."""
    from .results import read_json

    planned = set((read_json(sweep_dir / PLAN_FILE) or {}).get("jobs") or [])
    if not planned:
        return ""
    finished = {Path(r["job_dir"]).name for r in records if r["status"] in ("ok", "failed")} & planned
    return f"[{len(finished)}/{len(planned)}]"


def wait_for_owners(jobs: list[dict[str, Any]], poll_s: float = 2.0) -> None:
    """Block until every job in ``jobs`` (summaries with status ``busy``) is no longer claimed by a live process."""
    from .claims import owner_of

    pending = [j for j in jobs if j.get("status") == "busy"]
    if pending:
        owners = sorted({j.get("owner") or "?" for j in pending})
        print(f"Waiting for {len(pending)} job(s) being trained by other processes ({', '.join(owners)}) ...",
              flush=True)
    while pending:
        time.sleep(poll_s)
        pending = [j for j in pending if owner_of(j["job_dir"]) is not None]


def run_task(cfg: DictConfig) -> dict[str, Any]:
    """One Hydra job: train it, update the sweep report, print a progress line; returns :func:`summary`.

    A single run (not a multirun) exits with code 1 when its job fails, and waits for another process that is
    training the same folder (then reports that result).
    """
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    from .devices import claim_gpus
    from .job import JobConflict, run_job
    from .report import write_report
    from .results import load_record
    from .validate import check_config, check_devices

    hc = HydraConfig.get()
    multirun = hc.mode == RunMode.MULTIRUN
    job_dir = Path(hc.runtime.output_dir)
    overrides = list(hc.overrides.task)
    root = Path(hc.sweep.dir) if multirun else job_dir
    plain = check_config(cfg, build=False)
    check_devices(plain["trainer"])  # where the job runs (the preflight checks it only for local launchers)
    if multirun:  # parallel jobs would garble each other's progress bars (a run knob: not in the config hash)
        plain["trainer"]["enable_progress_bar"] = False
    with claim_gpus(plain) as gpus:  # on GPUs: devices no other local job holds
        try:
            record = run_job(plain, job_dir, overrides, results_root=root, quiet=multirun, devices=gpus or None)
        except JobConflict as err:
            record = {"status": "failed", "error": {"type": "JobConflict", "message": str(err)}}
        except (KeyboardInterrupt, SystemExit):
            if multirun:  # the sweeper says how to go on
                raise
            # a single run's folder is named by the time it started: resuming needs that folder
            print(f"\nInterrupted. {job_dir} keeps the last finished epoch; to resume it, run the same command "
                  f"with hydra.run.dir={job_dir}", file=sys.stderr, flush=True)
            sys.exit(130)
    if not multirun and record.get("status") == "busy":
        wait_for_owners([summary(record, job_dir, overrides)])
        found, _ = load_record(job_dir / "metrics.json")
        record = found or record
    done = ""
    if multirun:
        with report_lock(root):
            result = write_report(root, plot=False, alpha=plain["report"]["alpha"], paired=plain["report"]["paired"])
        done = _count_done(root, result["records"])
    print(progress_line(record, overrides, done), flush=True)
    if not multirun and record.get("status") != "ok":
        sys.exit(1)
    return summary(record, job_dir, overrides)

