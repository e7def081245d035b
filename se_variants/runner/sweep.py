"""Running a checked :class:`~.plans.Plan`: the one place where a command's jobs are started, counted, waited for,
reported and turned into an exit code -- and where an interrupt is handled.

1. A sweep writes ``sweep.json`` (every planned job: folder, overrides, config hash) and reads its folder once:
   a job whose config already finished there is skipped (``rerun=true`` trains it again); a job whose folder holds
   the finished result of another config fails at once, with the keys that differ, and is never overwritten.
2. The trackers' stores are made ready before any job starts (a fresh MLflow store created and migrated once);
   finished jobs whose tracker runs lack something are completed from their records (:mod:`.trackers`).
3. The other jobs go to the launcher (:mod:`.launchers`); a progress line per job as it finishes.
4. Jobs another process is training are waited for, then read back; tracker writes the jobs lost are named.
5. The report is written once, from the records on disk, and its table printed.
6. Exit code: 0 every job ok, 1 a job failed or did not finish (each is listed with its real reason), 130
   interrupted (finished jobs and the report are kept; the same command goes on). Nothing printed or written
   shows a credential of a URL (:mod:`.redact`).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

from .checkpoints import config_diff
from .claims import owner_of
from .files import FileProblem, write_json
from .launchers import open_launcher
from .plans import Job, Plan
from .redact import redact, redact_values
from .report import LOCK_FILE, REPORT_FILES, baseline_hint, format_table, write_report
from .results import RESULT_FILE, load_record, scan
from .tables import one_line
from .task import failed, summary
from .trackers import log_report, losses, offline_runs, prepare, replay

__all__ = ["run_plan", "dry_run", "progress_line", "PLAN_FILE"]

#: the plan of a sweep, written when it starts
PLAN_FILE = "sweep.json"


def _acc(s: dict[str, Any]) -> str:
    acc = s.get("acc")
    return f"{acc * 100:.2f}%" if isinstance(acc, (int, float)) else "–"


def progress_line(s: dict[str, Any], job: Job) -> str:
    """``[ok]   <overrides>: test acc 98.00% (3.1 s)`` and its kin for skipped, busy and failed jobs."""
    status = s.get("status")
    if s.get("skipped"):
        return f"[skip] {job.label}: done before in {s.get('job_dir')} (test acc {_acc(s)})"
    if status == "ok":
        again = f", attempt {s['attempts']}" if (s.get("attempts") or 0) > 1 else ""
        return f"[ok]   {job.label}: test acc {_acc(s)} ({s.get('wall_time_s') or 0:.1f} s{again})"
    if status == "busy":
        return f"[busy] {job.label}: being trained by {s.get('owner')}; left to it"
    err = s.get("error") or {}
    return f"[FAIL] {job.label}: {err.get('type')}: {one_line(err.get('message'), 300)}"


# ------------------------------------------------------------------------------------------------- before


def _check_sweep_folder(folder: Path) -> None:
    """The files a sweep writes can be written: refuse (before anything trains) a folder or a symlink where one
    of them belongs."""
    for name in (PLAN_FILE, *REPORT_FILES, LOCK_FILE):
        path = folder / name
        if path.is_dir() or (name == LOCK_FILE and path.is_symlink()):
            raise FileProblem(f"{path} is a {'folder' if path.is_dir() else 'symlink'} where the sweep writes its "
                              f"{name}; move it away.")


def _write_plan(plan: Plan, argv: list[str]) -> None:
    write_json(plan.out_dir / PLAN_FILE, {
        "version": 1, "planned": time.strftime("%Y-%m-%dT%H:%M:%S"), "command": redact_values(argv),
        "launcher": plan.launcher["name"],
        "jobs": [{"folder": str(j.folder.relative_to(plan.out_dir)), "overrides": redact_values(j.overrides),
                  "config_hash": j.config_hash, "variant_hash": j.variant_hash} for j in plan.jobs]})


def _triage(plan: Plan) -> tuple[dict[int, dict[str, Any]], list[int], int]:
    """(outcomes known before training, indices of the jobs to run, broken records seen) from one scan of the
    sweep folder."""
    done: dict[str, tuple[Path, dict[str, Any]]] = {}
    by_folder: dict[Path, dict[str, Any]] = {}
    broken = 0
    for result in scan(plan.out_dir) if plan.out_dir.is_dir() else []:
        if result.record is None:
            broken += 1
            continue
        by_folder[result.folder] = result.record
        r = result.record
        newer = r["config_hash"] not in done or r.get("finished", "") > done[r["config_hash"]][1].get("finished", "")
        if r["status"] == "ok" and newer:
            done[r["config_hash"]] = (result.folder, r)
    outcomes: dict[int, dict[str, Any]] = {}
    todo = []
    for i, job in enumerate(plan.jobs):
        here = by_folder.get(job.folder)
        if here is not None and here["status"] == "ok" and here["config_hash"] != job.config_hash:
            diff = config_diff(here.get("config") or {}, job.config)
            outcomes[i] = failed(job, "JobConflict", (
                f"{job.folder} holds a finished result of another config ({diff}); "
                f"it is kept. The config changed since that run (an edited experiment or config file?): run into "
                f"another folder (hydra.sweep.dir=...) or move {job.folder} away."))
        elif job.config_hash in done and not job.config.get("rerun"):
            folder, record = done[job.config_hash]
            outcomes[i] = summary({**record, "skipped": True, "job_dir": str(folder)}, job)
        else:
            todo.append(i)
    return outcomes, todo, broken


def _where(plan: Plan) -> str:
    name = plan.launcher["name"]
    return f"{plan.parallel} at a time ({name})" if plan.parallel else f"launcher {name}"


def _header(plan: Plan, todo: int, skipped: int) -> str:
    where = _where(plan)
    cfg = plan.jobs[0].config
    if plan.ablation:
        ab, model = plan.ablation, cfg["model"]
        shape = ", ".join(f"{k}={v}" for k, v in model.items() if k in ("depth", "arch", "dims"))
        what = (f"Ablation '{ab['name']}': {len(ab['variants'])} variants × {len(ab['seeds'])} seeds = "
                f"{len(plan.jobs)} jobs; model {model['name']} {shape}, data {cfg['data']['name']}, "
                f"{cfg['trainer']['max_epochs']} epochs")
    else:
        what = f"Sweep of {len(plan.jobs)} jobs"
    done = f"; {skipped} done before (skipped)" if skipped else ""
    return f"{what}{done}; {todo} to run, {where} → {plan.out_dir}"


# ------------------------------------------------------------------------------------------------- after


def _wait_for_owners(plan: Plan, outcomes: dict[int, dict[str, Any]], poll_s: float = 2.0) -> None:
    """Wait until no live process holds the jobs another process was training, then read their records."""
    busy = [i for i, s in outcomes.items() if s.get("status") == "busy"]
    if not busy:
        return
    owners = sorted({outcomes[i].get("owner") or "?" for i in busy})
    print(f"Waiting for {len(busy)} job(s) being trained by other processes ({', '.join(owners)}) ...", flush=True)
    while busy:
        time.sleep(poll_s)
        busy = [i for i in busy if owner_of(plan.jobs[i].folder) is not None]
    for i, s in outcomes.items():
        if s.get("status") == "busy":
            job = plan.jobs[i]
            record, problem = load_record(job.folder / RESULT_FILE)
            if record is not None and record["config_hash"] == job.config_hash:
                outcomes[i] = summary(record, job)
            else:
                why = problem or f"its record says {(record or {}).get('status')}"
                outcomes[i] = failed(job, "NotFinished", f"the process that trained it stopped before it finished "
                                                         f"({why}); run the command again to resume it")


def _failures(plan: Plan, outcomes: dict[int, dict[str, Any]]) -> list[str]:
    bad = []
    for i, job in enumerate(plan.jobs):
        s = outcomes.get(i)
        if s is None:
            bad.append(f"{job.label}: not run (the command stopped first)")
        elif s.get("status") != "ok":
            err = s.get("error") or {}
            why = f"{err.get('type')}: {err.get('message')}" if err else f"status {s.get('status')}"
            bad.append(f"{job.label}: {one_line(why, 400)}")
    return bad


def _report(plan: Plan, ran: int) -> dict[str, Any] | None:
    alpha, paired = plan.report
    try:
        result = write_report(plan.out_dir, plot=True if ran else None, alpha=alpha, paired=paired)
    except (OSError, ValueError) as err:
        print(f"se-variants: the report was not written: {err}", file=sys.stderr)
        return None
    if ran and result["files"]:
        try:  # the report's files to the sweep's MLflow experiment, when its jobs log to MLflow
            log_report(plan.jobs[0].config, plan.out_dir, [f for f in result["files"] if f.suffix != ".png"] +
                       [f for f in result["files"] if f.suffix == ".png"])
        except Exception as err:  # noqa: BLE001 -- the report is on disk; the tracker lost its copy
            print(f"se-variants: the report did not reach MLflow ({type(err).__name__}: {redact(str(err))})",
                  file=sys.stderr)
    return result


def _trackers_before(plan: Plan, outcomes: dict[int, dict[str, Any]], jobs: list[Job]) -> None:
    """The trackers' stores made ready before any worker starts (a fresh MLflow store created once); the runs of
    finished jobs that lack something (a tracker was down, or was added since) completed from their records."""
    prepare([job.config for job in jobs])
    for i, s in outcomes.items():
        if s.get("skipped"):
            brought = replay(plan.jobs[i].config, Path(s["job_dir"]))
            if brought:
                print(f"[sync] {plan.jobs[i].label}: logged to {', '.join(brought)} from its metrics.json "
                      f"(its run lacked them)", flush=True)


def _trackers_after(plan: Plan, outcomes: dict[int, dict[str, Any]]) -> None:
    """Name the tracker writes jobs lost (their results are complete; the next run of the command logs them) and
    say how to upload W&B's offline runs."""
    folders = {i: Path(s["job_dir"]) for i, s in outcomes.items() if s.get("job_dir")}
    lost = [(plan.jobs[i], why) for i, folder in folders.items() for why in losses(folder)]
    if lost:
        print(f"\n{len(lost)} tracker run(s) lost writes; the jobs' metrics.json and checkpoints are complete, and "
              f"the next run of this command logs what the runs lack:\n  "
              + "\n  ".join(f"{job.label}: {one_line(why, 300)}" for job, why in lost), file=sys.stderr)
    runs = offline_runs(list(folders.values()))
    if runs:
        shown = " ".join(str(r) for r in runs) if len(runs) <= 3 else \
            f"{plan.out_dir}/*/wandb/offline-run-*" if plan.multirun else str(runs[0].parent / "offline-run-*")
        print(f"W&B: {len(runs)} offline run(s) in the job folders; upload them with: wandb sync {shown}")


def _print_results(plan: Plan, result: dict[str, Any] | None) -> None:
    if result is None:
        return
    if result["rows"]:
        print("\n" + format_table(result["rows"]))
        hint = baseline_hint(result["records"], result["rows"], result["common"], plan.out_dir)
        if hint:
            print(hint)
    for b in result["broken"]:
        print(f"broken record, not counted: {b['path']}: {b['problem']}", file=sys.stderr)


# ------------------------------------------------------------------------------------------------- the run


def dry_run(plan: Plan) -> int:
    """Print what :func:`run_plan` would do: one line a job (run, skip: done before, conflict), the count and the
    folder. Trains nothing and writes nothing."""
    outcomes, todo, broken = _triage(plan) if plan.multirun else ({}, list(range(len(plan.jobs))), 0)
    for i, job in enumerate(plan.jobs):
        s = outcomes.get(i)
        mark = "run " if s is None else ("skip" if s.get("skipped") else "FAIL")
        why = "" if s is None or s.get("skipped") else f"  ({one_line((s.get('error') or {}).get('message'), 200)})"
        print(f"[{mark}] {job.label}  →  {job.folder}{why}")
    for dropped, kept in plan.duplicates:
        print(f"[same] {dropped.label}: the config of {kept.label}, run once")
    extra = f"; {broken} broken record(s) there" if broken else ""
    skipped = len(plan.jobs) - len(todo)
    print(f"\nDry run: {len(plan.jobs)} job(s), {len(todo)} to run, {skipped} not ({_where(plan)}) → "
          f"{plan.out_dir}{extra}. Nothing was trained.")
    return 0


def run_plan(plan: Plan, prog: str, argv: list[str]) -> int:
    """Run ``plan`` (see the module doc); returns the exit code."""
    start = time.perf_counter()
    if plan.multirun:
        try:
            plan.out_dir.mkdir(parents=True, exist_ok=True)
            _check_sweep_folder(plan.out_dir)
            _write_plan(plan, argv)
        except OSError as err:
            print(f"{prog}: error: {err}. Nothing was trained.", file=sys.stderr)
            return 2
        outcomes, todo, _ = _triage(plan)
        print(_header(plan, len(todo), sum(bool(s.get("skipped")) for s in outcomes.values())), flush=True)
        for i, s in outcomes.items():
            if not s.get("skipped"):
                print(progress_line(s, plan.jobs[i]), flush=True)
    else:
        outcomes, todo = {}, [0]
    jobs = [plan.jobs[i] for i in todo]
    try:
        _trackers_before(plan, outcomes, jobs)
    except ValueError as err:
        print(f"{prog}: error: {err} Nothing was trained.", file=sys.stderr)
        return 2
    index = {id(job): i for i, job in zip(todo, jobs)}
    threads = plan.jobs[0].config.get("threads")
    launcher = open_launcher(plan.launcher["name"], plan.launcher, plan.out_dir, plan.parallel, threads)
    interrupted, note = False, None
    try:
        count = len(outcomes)
        for job, s in launcher.run(jobs):
            outcomes[index[id(job)]] = s
            count += 1
            counter = f"[{count}/{len(plan.jobs)}] " if plan.multirun else ""
            print(counter + progress_line(s, job), flush=True)
        _wait_for_owners(plan, outcomes)
    except KeyboardInterrupt:
        interrupted = True
        note = launcher.close(interrupted=True)
    except BaseException:  # the command itself failed (its output closed by `| head`, ...): stop the workers,
        launcher.close(interrupted=True)  # or the exit waits for them forever; their jobs record the stop
        raise
    else:
        launcher.close()
    if not plan.multirun:
        _trackers_after(plan, outcomes)
        return _single_end(plan, outcomes.get(0), interrupted, prog)

    _print_results(plan, _report(plan, ran=len(todo)))
    bad = _failures(plan, outcomes)
    ok = len(plan.jobs) - len(bad)
    print(f"\n{ok} of {len(plan.jobs)} jobs ok in {time.perf_counter() - start:.0f} s. Results: {plan.out_dir} "
          f"(report.md, report.csv, jobs.csv, report.png)")
    _trackers_after(plan, outcomes)
    if interrupted:
        print(f"\nInterrupted. Finished jobs are kept in {plan.out_dir}; run the same command again to go on "
              f"(finished jobs are skipped, interrupted ones resume from their last checkpoint).", file=sys.stderr)
        if note:
            print(note, file=sys.stderr)
        return 130
    if bad:
        print(f"{len(bad)} job(s) failed or did not finish:\n  " + "\n  ".join(bad), file=sys.stderr)
        print("Run the same command again to retry only these (finished jobs are skipped).", file=sys.stderr)
        return 1
    return 0


def _single_end(plan: Plan, s: dict[str, Any] | None, interrupted: bool, prog: str) -> int:
    folder = plan.jobs[0].folder
    if interrupted or s is None:
        print(f"\nInterrupted. {folder} keeps the last checkpoint; to resume it, run the same command with "
              f"hydra.run.dir={folder}", file=sys.stderr)
        return 130
    if s.get("status") == "busy":  # another process trains this very folder: wait, then report its result
        outcomes = {0: s}
        _wait_for_owners(plan, outcomes)
        s = outcomes[0]
    if s.get("status") != "ok":
        err = s.get("error") or {}
        print(f"{prog}: the job failed: {err.get('type')}: {one_line(err.get('message'), 2000)}\nResults: {folder}",
              file=sys.stderr)
        return 1
    print(f"Results: {folder / RESULT_FILE}")
    return 0
