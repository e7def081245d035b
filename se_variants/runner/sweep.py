"""Running a checked :class:`~.plans.Plan`: the one place where a command's jobs are started, counted, waited for,
reported and turned into an exit code -- and where an interrupt is handled.

1. A sweep writes ``sweep.json`` (every planned job: folder, overrides, config hash) and reads its folder once:
   a job whose config already finished there is skipped (``rerun=true`` trains it again); a job whose folder holds
   the finished result of another config fails at once, with the keys that differ, and is never overwritten; a job
   another process trains, or an earlier submission still holds (:mod:`.standing`), is left to it.
2. The trackers' stores are made ready before any job starts (a fresh MLflow store created and migrated once);
   finished jobs whose tracker runs lack something are completed from their records (:mod:`.trackers`).
3. The other jobs go to the launcher (:mod:`.launchers`), recorded in ``sweep.json`` as this run's submission,
   with this process as its driver (:mod:`.submissions`); a progress line per job as it finishes.
4. Jobs left to others are waited for, then read back; tracker writes the jobs lost are named.
5. The report is written once, from the records on disk, and its table printed.
6. Exit code: 0 every job ok, 1 a job failed or did not finish (each is listed with its real reason), 130
   interrupted (finished jobs and the report are kept; the same command goes on). Nothing printed or written
   shows a credential of a URL (:mod:`.redact`).

With ``--no-wait`` (:func:`submit_plan`), step 3 hands the jobs over without waiting -- SLURM takes them as one
array, the ``processes`` launcher a detached driver (:mod:`.driver`) -- and the command returns: ``se-variants
status`` says where they stand, ``se-variants report`` writes the report once they are done.
"""

from __future__ import annotations

import shlex
import socket
import sys
import time
from pathlib import Path
from typing import Any

from .checkpoints import config_diff
from .driver import detach
from .files import FileProblem
from .launchers import Submitit, open_launcher
from .plans import Job, Plan
from .redact import redact, redact_values
from .report import LOCK_FILE, REPORT_FILES, baseline_hint, format_table, write_report
from .results import PLAN_FILE, RESULT_FILE, load_record, scan
from .standing import Look, Planned, Standing, stand
from .submissions import LOG_FILE, Driver, Queues, Submission, add_submission, read_plan, submissions_of, utc_now, \
    write_plan
from .tables import one_line
from .task import failed, summary
from .trackers import after_command, log_report, prepare, replay

__all__ = ["run_plan", "submit_plan", "dry_run", "progress_line", "PLAN_FILE"]


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
    if status == "queued":
        return f"[queued] {job.label}: {s.get('owner')}; left to it"
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
    write_plan(plan.out_dir, {
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


def _submissions(plan: Plan) -> list[Submission]:
    data, _ = read_plan(plan.out_dir)
    return submissions_of(data)[0] if data is not None else []


def _pending(plan: Plan, indices: list[int], queues: Queues | None = None) -> list[tuple[int, Standing]]:
    """(index, standing) of the jobs of ``indices`` that another process trains or an earlier submission holds."""
    view = Look(plan.out_dir, [], queues.submissions if queues is not None else _submissions(plan), "", [])
    planned = [Planned(plan.jobs[i].folder, plan.jobs[i].label, plan.jobs[i].config_hash) for i in indices]
    return [(i, s) for i, s in zip(indices, stand(view, planned, queues)) if s.pending]


def _leave_to_others(plan: Plan, outcomes: dict[int, dict[str, Any]], todo: list[int]) -> list[int]:
    """Of the jobs to run, leave those another process trains (``busy``) or an earlier submission holds, queued in
    SLURM or by a live driver (``queued``), to them -- a job is never handed out twice; returns the others."""
    if not todo:
        return todo
    left = dict(_pending(plan, todo))
    for i, standing in left.items():
        busy = standing.state == "training"
        outcomes[i] = summary({"status": "busy" if busy else "queued",
                               "owner": standing.owner if busy else standing.detail}, plan.jobs[i])
    return [i for i in todo if i not in left]


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def _command(prog: str, argv: list[str]) -> str:
    """The command line to run again ("" when it is not the user's: a search's confirmation)."""
    return redact(shlex.join([*prog.split(), *argv])) if argv else ""


def _relative(plan: Plan, job: Job) -> str:
    return str(job.folder.relative_to(plan.out_dir))


def _where(plan: Plan) -> str:
    name = plan.launcher["name"]
    return f"{plan.parallel} at a time ({name})" if plan.parallel else f"launcher {name}"


def _header(plan: Plan, todo: int, skipped: int) -> str:
    where = _where(plan)
    cfg = plan.jobs[0].config
    if plan.ablation:
        ab, model = plan.ablation, cfg["model"]
        shape = "".join(f" {k}={v}" for k, v in model.items() if k in ("depth", "arch", "dims"))
        data = ", ".join(dict.fromkeys(str(j.config["data"]["name"]) for j in plan.jobs))
        what = (f"Ablation '{ab['name']}': {_count(len(ab['variants']), 'variant')} × "
                f"{_count(len(ab['seeds']), 'seed')} = {_count(len(plan.jobs), 'job')}; model {model['name']}{shape}, "
                f"data {data}, {cfg['trainer']['max_epochs']} epochs")
    else:
        what = f"Sweep of {len(plan.jobs)} jobs"
    done = f"; {skipped} done before (skipped)" if skipped else ""
    return f"{what}{done}; {todo} to run, {where} → {plan.out_dir}"


# ------------------------------------------------------------------------------------------------- after


def _wait_for_owners(plan: Plan, outcomes: dict[int, dict[str, Any]], poll_s: float = 2.0) -> None:
    """Wait until the jobs left to others are no longer pending -- their claims looked at every ``poll_s``, their
    SLURM queue every 30 s -- then read their records."""
    busy = [i for i, s in outcomes.items() if s.get("status") in ("busy", "queued")]
    if not busy:
        return
    owners = sorted({outcomes[i].get("owner") or "?" for i in busy if outcomes[i].get("status") == "busy"})
    trained = sum(outcomes[i].get("status") == "busy" for i in busy)
    parts = [f"{trained} being trained by other processes ({', '.join(owners)})"] if trained else []
    parts += [f"{len(busy) - trained} held by earlier submissions"] if len(busy) > trained else []
    print(f"Waiting for {len(busy)} job(s), {' and '.join(parts)} ...", flush=True)
    queues = Queues(plan.out_dir, _submissions(plan))
    while busy:
        time.sleep(poll_s)
        queues.submissions = _submissions(plan)
        queues.refresh()
        busy = [i for i, _ in _pending(plan, busy, queues)]
    for i, s in outcomes.items():
        if s.get("status") in ("busy", "queued"):
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
    """The tracker writes the jobs lost, and W&B's offline runs (:func:`.trackers.after_command`)."""
    folder_of = {i: Path(s["job_dir"]) for i, s in outcomes.items() if s.get("job_dir")}
    after_command([(plan.jobs[i].label, folder) for i, folder in folder_of.items()],
                  plan.out_dir if plan.multirun else plan.jobs[0].folder)


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
    if plan.multirun:
        todo = _leave_to_others(plan, outcomes, todo)
    for i, job in enumerate(plan.jobs):
        s = outcomes.get(i)
        left = s is not None and s.get("status") in ("busy", "queued")
        mark = "run " if s is None else ("skip" if s.get("skipped") else "wait" if left else "FAIL")
        said = s.get("owner") if left else (s.get("error") or {}).get("message") if s else None
        why = "" if s is None or s.get("skipped") else f"  ({one_line(said, 200)})"
        print(f"[{mark}] {job.label}  →  {job.folder}{why}")
    for dropped, kept in plan.duplicates:
        print(f"[same] {dropped.label}: the config of {kept.label}, run once")
    extra = f"; {broken} broken record(s) there" if broken else ""
    finished = sum(bool(s.get("skipped")) for s in outcomes.values())
    counts = [f"{finished} finished", f"{len(todo)} to run"]
    if len(outcomes) > finished:
        counts.append(f"{len(outcomes) - finished} in conflict ([FAIL] above)")
    jobs = f"{len(plan.jobs)} job{'' if len(plan.jobs) == 1 else 's'}"
    print(f"\nDry run: {jobs}: {', '.join(counts)}, {_where(plan)} → {plan.out_dir}{extra}. Nothing was trained.")
    return 0


def _prepare(plan: Plan, argv: list[str]) -> tuple[dict[int, dict[str, Any]], list[int]]:
    """The sweep folder made and checked, its plan written to sweep.json and its jobs triaged: (the outcomes of the
    jobs finished before, the jobs this command takes -- neither finished nor held by another). Raises OSError."""
    plan.out_dir.mkdir(parents=True, exist_ok=True)
    _check_sweep_folder(plan.out_dir)
    _write_plan(plan, argv)
    outcomes, todo, _ = _triage(plan)
    return outcomes, _leave_to_others(plan, outcomes, todo)


def _announce(plan: Plan, outcomes: dict[int, dict[str, Any]], todo: list[int]) -> None:
    """The header, then a progress line for each job a re-run found finished or failed before."""
    print(_header(plan, len(todo), sum(bool(s.get("skipped")) for s in outcomes.values())), flush=True)
    for i, s in outcomes.items():
        if not s.get("skipped"):
            print(progress_line(s, plan.jobs[i]), flush=True)


def run_plan(plan: Plan, prog: str, argv: list[str]) -> int:
    """Run ``plan`` (see the module doc); returns the exit code."""
    start = time.perf_counter()
    driver: Driver | None = None
    if plan.multirun:
        try:
            outcomes, todo = _prepare(plan, argv)
            if todo:  # this run's submission, this process its driver: se-variants status sees it
                driver = Driver(plan.out_dir)
                submission = Submission(plan.launcher["name"], utc_now(), _command(prog, argv),
                                        {_relative(plan, plan.jobs[i]): None for i in todo}, driver.relative)
                add_submission(plan.out_dir, submission)
        except OSError as err:
            if driver is not None:
                driver.close()
            print(f"{prog}: error: {redact(str(err))}. Nothing was trained.", file=sys.stderr)
            return 2
        _announce(plan, outcomes, todo)
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
    if driver is not None and plan.launcher["name"] == "slurm":

        def record_ids(handed: list[Job], ids: list[str]) -> None:  # SLURM's queue outlives this process
            submission.jobs.update((_relative(plan, job), i) for job, i in zip(handed, ids))
            add_submission(plan.out_dir, submission)

        launcher.on_submit = record_ids
    interrupted, note = False, None
    try:
        count = len(outcomes)
        for job, s in launcher.run(jobs):
            if driver is not None:
                driver.done(_relative(plan, job))
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
    finally:
        if driver is not None:
            driver.close()
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


class _NotRecorded(RuntimeError):
    """The jobs were handed over, but sweep.json could not record the submission."""


def _hand_over(plan: Plan, jobs: list[Job], command: str) -> str:
    """Submit ``jobs`` without waiting for them, record the submission in sweep.json; what was done, in words."""
    folders = [_relative(plan, job) for job in jobs]
    when = utc_now()
    if plan.launcher["name"] == "slurm":
        ids = Submitit("slurm", plan.launcher, plan.out_dir, None).submit(jobs)
        submission = Submission("slurm", when, command, dict(zip(folders, ids)))
        what = f"SLURM job {ids[0]}" if len(ids) == 1 else (
            f"SLURM array {ids[0].split('_')[0]} (tasks {ids[0]} to {ids[-1]}, at most "
            f"{plan.launcher.get('array_parallelism')} at once)")
    else:
        pid, driver = detach(jobs, plan.launcher, plan.out_dir, plan.parallel)
        submission = Submission(plan.launcher["name"], when, command, dict.fromkeys(folders), driver)
        what = (f"driver process {pid} on {socket.gethostname()} runs them, {plan.parallel} at a time (`kill {pid}` "
                f"stops it handing out jobs; its log: {plan.out_dir / driver / LOG_FILE})")
    try:
        add_submission(plan.out_dir, submission)
    except OSError as err:
        raise _NotRecorded(f"{len(jobs)} job(s) were submitted -- {what} -- but sweep.json could not record it "
                           f"({err}): se-variants status cannot ask their queue") from err
    return what


def submit_plan(plan: Plan, prog: str, argv: list[str]) -> int:
    """``--no-wait``: hand every pending job of ``plan`` over -- SLURM: one array; ``processes``: a detached driver
    -- without waiting, record the submission in sweep.json, print its ids, the folder and how to come back, and
    return: 0, or 1 when a job cannot run (a folder holding another config's result) or the submission failed.
    Jobs another process trains or an earlier submission holds are left to it; no report is written."""
    try:
        outcomes, todo = _prepare(plan, argv)
    except OSError as err:
        print(f"{prog}: error: {redact(str(err))}. Nothing was submitted.", file=sys.stderr)
        return 2
    _announce(plan, outcomes, todo)
    jobs = [plan.jobs[i] for i in todo]
    command = _command(prog, argv)
    if jobs:
        try:
            _trackers_before(plan, outcomes, jobs)  # (a fresh MLflow store made once, before any job opens it)
            what = _hand_over(plan, jobs, command)
        except _NotRecorded as err:
            print(f"{prog}: error: {err}", file=sys.stderr)
            return 1
        except Exception as err:  # sbatch refused, the driver did not start: nothing was handed over
            print(f"{prog}: error: the jobs could not be submitted ({type(err).__name__}: "
                  f"{redact(one_line(err, 1000))}). Nothing was submitted.", file=sys.stderr)
            return 1
        print(f"\nSubmitted {len(jobs)} job(s) and returned: {what}.")
    else:
        print("\nNothing to submit: every job is finished, being trained, queued, or cannot run.")
    shown = shlex.quote(str(plan.out_dir))
    print(f"Folder: {plan.out_dir}\nCome back with:\n"
          f"  se-variants status {shown}    where each job stands (--watch follows it)\n"
          f"  se-variants report {shown}    the report, once status says every job has finished\n"
          f"or the same command again, which submits the jobs that failed or were lost (never one queued or "
          f"training):\n  {command}", flush=True)
    cannot = [i for i, s in outcomes.items() if s.get("status") == "failed"]
    if cannot:
        print(f"{len(cannot)} job(s) cannot run; see [FAIL] above.", file=sys.stderr)
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
