"""Sweeps that outlive the terminal: ``--no-wait`` submits and returns, ``se-variants status`` says where each job
stands, and the same command again submits only what is lost.

Fast: status read from folders written here (records, claims, progress notes, sweep.json's submissions, a driver
held by this process, a SLURM queue answered by fake commands): every standing, the exit codes, the next step,
``--watch`` (synchronised on what it reads, never on time) and Ctrl-C, bad command lines, and ``--no-wait`` refused
where it cannot work. Slow: the ``processes`` launcher's detached driver with jobs held mid-training by a file,
one of them killed; the SLURM path with fake ``sbatch`` / ``squeue`` / ``sacct`` / ``srun`` on PATH, a task run as
a node would run it; a waiting command that finds jobs of an earlier submission and waits for them."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from se_variants.runner import status as status_module
from se_variants.runner.claims import CLAIM_FILE, STALE_AFTER_S, acquire
from se_variants.runner.files import write_json
from se_variants.runner.results import PROGRESS_FILE, RESULT_FILE
from se_variants.runner.submissions import (DRIVERS, PLAN_FILE, Driver, Submission, add_submission, read_plan,
                                            submissions_of, utc_now, write_plan)

from .conftest import CALLS_PER_EPOCH, SWEEP, briefs, in_process, ops_in_process, run_here, start_cli, sweep_results
from .slurm_fakes import FakeSlurm

#: a guard against a broken test hanging forever (never a synchronisation: every wait below polls a file)
GUARD_S = 600.0


def _wait_for(what: str, condition, guard_s: float = GUARD_S) -> None:
    """Poll ``condition`` (reading files the jobs write) until it holds; fail after the guard."""
    deadline = time.monotonic() + guard_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _record(name: str, status: str = "ok", *, config_hash: str | None = None, error: dict | None = None,
            finished: str | None = "2026-01-01T00:00:00.000+00:00", acc: float = 0.9) -> dict:
    """A record with every field job.py writes that a reader checks."""
    return {"schema": 2, "status": status, "error": error, "block": None, "squeeze": "avg", "excite": "fc",
            "gate": "sigmoid", "overrides": [f"seed={name}"], "seed": 0, "config_hash": config_hash or f"h-{name}",
            "variant_hash": "v", "context_hash": "c", "job": name,
            "metrics": {"test": {"acc": acc, "loss": 0.3}} if status == "ok" else {}, "epochs": 3,
            "wall_time_s": 2.5, "started": "2026-01-01T00:00:00.000+00:00",
            "finished": finished if status != "running" else None, "config": {}, "attempts": [{}]}


def _sweep(folder: Path, names: list[str], submissions: list[Submission] = ()) -> None:
    """sweep.json as a sweep writes it, planning the jobs ``names`` (config hash ``h-<name>``)."""
    folder.mkdir(parents=True, exist_ok=True)
    write_plan(folder, {"version": 1, "command": [], "launcher": "workers",
                        "jobs": [{"folder": n, "overrides": [f"seed={n}"], "config_hash": f"h-{n}",
                                  "variant_hash": "v"} for n in names]})
    for s in submissions:
        add_submission(folder, s)


def _job(folder: Path, name: str, record: dict | None = None, progress: dict | None = None) -> Path:
    job = folder / name
    job.mkdir(parents=True, exist_ok=True)
    if record is not None:
        write_json(job / RESULT_FILE, record)
    if progress is not None:
        write_json(job / PROGRESS_FILE, progress)
    return job


def _claim(job: Path, host: str | None = None, pid: int | None = None, age_s: float = 0.0) -> None:
    """A claim file as another process writes it, touched ``age_s`` seconds ago."""
    data = {"host": host or socket.gethostname(), "pid": pid or os.getpid(), "started": time.time() - age_s,
            "token": "t", "process_start": None}
    (job / CLAIM_FILE).write_text(json.dumps(data))
    os.utime(job / CLAIM_FILE, (time.time() - age_s, time.time() - age_s))


def _lines(out: str) -> dict[str, str]:
    """label → ``<state>|<detail>``, for the job lines of status's output (``[state]  label  detail``)."""
    found = {}
    for line in out.splitlines():
        if line.startswith("["):
            state, _, rest = line.partition("]")
            label, _, detail = rest.strip().partition("  ")
            found[label.strip()] = f"{state[1:]}|{detail.strip()}"
    return found


def _with(out: str, text: str) -> list[str]:
    """The ``<state>|<detail>`` of the jobs whose label holds ``text``."""
    return [line for label, line in _lines(out).items() if text in f"{label} "]


# ------------------------------------------------------------------------------------------------- fast


def test_every_standing_of_a_job(tmp_path, sv):
    """One sweep folder holding a job in each state a sweep can leave it in, each shown with its reason."""
    s = tmp_path / "s"
    names = ["ok", "failed", "killed", "pruned", "dead", "mine", "other_host", "broken", "conflict", "never"]
    _sweep(s, names)
    _job(s, "ok", _record("ok"))
    _job(s, "failed", _record("failed", "failed", error={"type": "RuntimeError", "message": "boom"}))
    _job(s, "killed", _record("killed", "failed", error={"type": "Killed", "message": "the worker died of SIGKILL"}),
         progress={"epoch": 2, "max_epochs": 3, "metrics": {}})
    _job(s, "pruned", _record("pruned", "pruned"))
    _claim(_job(s, "dead", _record("dead", "running")), pid=_dead_pid())
    mine = acquire(_job(s, "mine", _record("mine", "running"),
                        progress={"epoch": 1, "max_epochs": 3, "metrics": {"val/acc": 0.5}}))
    _claim(_job(s, "other_host", _record("other_host", "running")), host="node-elsewhere", pid=1, age_s=30)
    (_job(s, "broken") / RESULT_FILE).write_text("{not json")
    _job(s, "conflict", _record("conflict", config_hash="h-else"))
    try:
        code, out, err = sv("status", str(s))
    finally:
        mine.release()
    lines = _lines(out)
    assert code == 3, out + err  # two jobs in training
    expect = {"ok": ("ok", "test acc 90.00%"), "failed": ("failed", "RuntimeError: boom"),
              "killed": ("lost", "Killed: the worker died of SIGKILL (had reached epoch 2/3)"),
              "pruned": ("pruned", "pruner"), "dead": ("lost", "without closing its record"),
              "mine": ("training", f"on {socket.gethostname()}:{os.getpid()}, epoch 1/3 (val acc 50.0%), heartbeat"),
              "other_host": ("training", "on node-elsewhere:1, epoch 0, heartbeat "),  # (its age: a busy machine's)
              "broken": ("broken", "metrics.json: not valid JSON"), "conflict": ("failed", "another config"),
              "never": ("not run", "never handed out")}
    for name, (state, detail) in expect.items():
        assert lines[f"seed={name}"].startswith(f"{state}|"), (name, lines[f"seed={name}"])
        assert detail in lines[f"seed={name}"], (name, lines[f"seed={name}"])
    assert "10 jobs: 1 ok, 1 pruned, 2 failed, 1 broken, 2 lost, 1 not run, 2 training." in out
    assert "2 pending" in out and f"se-variants status {s} --watch" in out
    (s / "other_host" / CLAIM_FILE).unlink()  # both claims gone: nothing pending, some did not finish
    code, out, _ = sv("status", str(s))
    assert code == 1 and _lines(out)["seed=mine"].startswith("lost|") and "Run the same command again" in out


def test_a_claim_of_another_host_lives_by_its_heartbeat(tmp_path, sv):
    """Another machine trains into a shared folder: its process cannot be looked up, so a fresh heartbeat means
    training and one older than claims.STALE_AFTER_S means lost -- whatever pid it names."""
    s = tmp_path / "s"
    _sweep(s, ["a"])
    job = _job(s, "a", _record("a", "running"))
    _claim(job, host="node-elsewhere", pid=os.getpid(), age_s=STALE_AFTER_S / 2)
    code, out, _ = sv("status", str(s))
    assert code == 3 and _lines(out)["seed=a"].startswith("training|") and "node-elsewhere" in out
    _claim(job, host="node-elsewhere", pid=os.getpid(), age_s=STALE_AFTER_S + 60)
    code, out, _ = sv("status", str(s))
    assert code == 1 and _lines(out)["seed=a"].startswith("lost|")


def test_all_finished_names_the_report_command(tmp_path, sv):
    s = tmp_path / "s"
    _sweep(s, ["a", "b"], [Submission("workers", utc_now(), "se-variants train -m seed=a,b", {"a": None, "b": None},
                                      None)])
    for name in ("a", "b"):
        _job(s, name, _record(name))
    code, out, _ = sv("status", str(s))
    assert code == 0 and f"All 2 finished: run se-variants report {s}" in out
    (s / "report.md").write_text("the report")  # newer than every record
    code, out, _ = sv("status", str(s))
    assert code == 0 and "the report is up to date" in out


def test_a_failed_job_names_the_command_to_run_again(tmp_path, sv):
    s = tmp_path / "s"
    _sweep(s, ["a", "b"], [Submission("workers", "2025-01-01T00:00:00.000+00:00", "se-variants train -m seed=a,b",
                                      {"a": None, "b": None}, f"{DRIVERS}/gone")])
    _job(s, "a", _record("a"))
    _job(s, "b", _record("b", "failed", error={"type": "ValueError", "message": "bad"}))
    code, out, _ = sv("status", str(s))
    assert code == 1 and "1 did not finish ok" in out and ": se-variants train -m seed=a,b;" in out


def test_jobs_queued_by_a_live_driver_then_lost_when_it_is_done(tmp_path, sv):
    """A driver (the process handing a submission's jobs out) lives: its jobs not yet started are queued. Once it
    is done with a job that left no record, or once it is gone, that job is lost: nobody will run it."""
    s = tmp_path / "s"
    driver = Driver(s)
    try:
        _sweep(s, ["a", "b"], [Submission("processes", utc_now(), "cmd", {"a": None, "b": None}, driver.relative)])
        code, out, _ = sv("status", str(s))
        assert code == 3 and out.count("[queued]") == 2
        assert f"handed out by {socket.gethostname()}:{os.getpid()}" in out
        driver.done("a")
        code, out, _ = sv("status", str(s))
        assert code == 3 and _lines(out)["seed=a"].startswith("lost|") and "done with it" in out
    finally:
        driver.close()
    code, out, _ = sv("status", str(s))
    assert code == 1 and "2 lost" in out and "is gone" in out


def test_a_new_submission_takes_its_jobs_out_of_the_earlier_ones(tmp_path):
    """A job's latest submission is the one that counts; an emptied submission is dropped; a sweep that rewrites
    its plan keeps the submissions."""
    s = tmp_path / "s"
    _sweep(s, ["a", "b"], [Submission("slurm", utc_now(), "cmd", {"a": "1_0", "b": "1_1"})])
    add_submission(s, Submission("slurm", utc_now(), "cmd", {"b": "2_0"}))
    subs, bad = submissions_of(read_plan(s)[0])
    assert bad == 0 and [sub.jobs for sub in subs] == [{"a": "1_0"}, {"b": "2_0"}]
    add_submission(s, Submission("slurm", utc_now(), "cmd", {"a": "3_0"}))
    _sweep(s, ["a", "b"])  # the next command writes its plan
    assert [sub.jobs for sub in submissions_of(read_plan(s)[0])[0]] == [{"b": "2_0"}, {"a": "3_0"}]


def test_slurm_jobs_are_judged_by_squeue_and_sacct(tmp_path, sv, monkeypatch):
    """Each id asked once: in squeue, waiting → queued, running → starting; left the queue → lost with what sacct
    says, or that it has no record of it. A job that finished is ok whatever the queue says."""
    slurm = FakeSlurm(tmp_path / "cluster")
    monkeypatch.setenv("PATH", slurm.path())
    s = tmp_path / "s"
    ids = {"wait": "7_0", "run": "7_1", "cancelled": "7_2", "forgotten": "7_3", "done": "7_4"}
    _sweep(s, list(ids), [Submission("slurm", utc_now(), "cmd", ids)])
    _job(s, "done", _record("done"))
    slurm.set_queue("7_0|PENDING|(Priority)", "7_1|RUNNING|node3", "8_0|PENDING|(Priority)")
    slurm.set_accounting("7_2|CANCELLED by 1000", "7_4|COMPLETED")
    code, out, _ = sv("status", str(s))
    lines = _lines(out)
    assert code == 3
    assert lines["seed=wait"] == "queued|SLURM job 7_0: PENDING (Priority)"
    assert lines["seed=run"].startswith("starting|") and "RUNNING node3" in lines["seed=run"]
    assert lines["seed=cancelled"].startswith("lost|") and "left the queue (CANCELLED)" in lines["seed=cancelled"]
    assert lines["seed=forgotten"].startswith("lost|") and "sacct has no record of it" in lines["seed=forgotten"]
    assert lines["seed=done"].startswith("ok|")
    assert slurm.calls("squeue") == ["--noheader --array --format=%i|%T|%R --jobs=7"]
    assert slurm.calls("sacct") == [  # once, for the jobs no longer in the queue
        "--noheader --parsable2 --allocations --format=JobID,State --jobs=7_2,7_3,7_4"]
    slurm.set_queue()  # nothing in the queue: squeue says so with an error, which is an answer
    code, out, _ = sv("status", str(s))
    assert code == 1 and "SLURM job 7_0 is not in the queue" in out


def test_without_squeue_a_submitted_job_stays_pending(tmp_path, sv, monkeypatch):
    """Looked at from a machine without SLURM (a laptop sharing the folder): the queue cannot be asked, so a job
    without a record is shown as submitted -- pending, never declared lost."""
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    s = tmp_path / "s"
    _sweep(s, ["a"], [Submission("slurm", utc_now(), "cmd", {"a": "7_0"})])
    code, out, _ = sv("status", str(s))
    assert code == 3 and _lines(out)["seed=a"].startswith("submitted|") and "no squeue on this machine" in out


def test_a_folder_without_sweep_json_shows_the_jobs_found(tmp_path, sv):
    """A search's trials, a single run, an older sweep: the job folders under it; a broken sweep.json is named."""
    s = tmp_path / "s"
    _job(s / "trials", "t1", _record("t1"))
    _claim(_job(s / "trials", "t2"), pid=os.getpid())
    code, out, _ = sv("status", str(s))
    assert code == 3 and _lines(out)["seed=t1"].startswith("ok|") and "[training]  trials/t2" in out
    (s / PLAN_FILE).write_text("[1, 2")
    code, out, _ = sv("status", str(s))
    assert code == 3 and "note: sweep.json: not valid JSON" in out and "showing the job folders found" in out


def test_watch_looks_again_until_nothing_is_pending(tmp_path, sv, monkeypatch):
    """--watch: a look, and between looks (where it waits --interval seconds) the job finishes; the second look
    finds nothing pending and ends with the exit code of a finished sweep."""
    s = tmp_path / "s"
    _sweep(s, ["a"])
    job = _job(s, "a", _record("a", "running"))
    claim = acquire(job)
    waits = []

    def between_looks(seconds):
        waits.append(seconds)
        write_json(job / RESULT_FILE, _record("a"))
        claim.release()

    monkeypatch.setattr(status_module, "_wait", between_looks)
    code, out, _ = sv("status", str(s), "--watch", "--interval", "7")
    assert code == 0 and waits == [7.0]
    assert out.count("se-variants status") >= 2 and "[training]" in out and "All 1 finished" in out


def test_ctrl_c_stops_watching_with_130(tmp_path, sv, monkeypatch):
    s = tmp_path / "s"
    _sweep(s, ["a"])
    claim = acquire(_job(s, "a", _record("a", "running")))

    def interrupted(seconds):
        raise KeyboardInterrupt

    monkeypatch.setattr(status_module, "_wait", interrupted)
    try:
        code, out, err = sv("status", str(s), "--watch")
    finally:
        claim.release()
    assert code == 130 and "[training]" in out and "stopped" in err and "Traceback" not in err


@pytest.mark.parametrize("argv,expected", [
    ([], "usage: se-variants status"),
    (["a", "b"], "expected one sweep folder, got 2"),
    (["s", "--wach"], "Did you mean '--watch'"),
    (["s", "--interval", "abc"], "--interval takes a number of seconds > 0"),
    (["s", "--interval=0"], "--interval takes a number of seconds > 0"),
    (["missing"], "missing is not a folder"),
    (["empty"], "no jobs in"),
])
def test_bad_command_lines_exit_2(argv, expected, tmp_path, monkeypatch, sv):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "s").mkdir()
    (tmp_path / "empty").mkdir()
    code, out, err = sv("status", *argv)
    assert code == 2 and expected in out + err and "Traceback" not in err


@pytest.mark.parametrize("argv,expected", [
    (["-m", "seed=0,1"], "the workers launcher runs the jobs inside the command"),
    (["-m", "seed=0,1", "hydra/launcher=basic", "--dry-run"], "hydra/launcher=processes"),
    (["seed=0", "hydra/launcher=processes"], "add -m"),
    (["-m", "hydra/sweeper=optuna", "squeeze=choice(avg,max)", "hydra/launcher=processes"],
     "a search cannot submit its future trials"),
])
def test_no_wait_where_it_cannot_work_exits_2_naming_the_alternative(argv, expected, tmp_path, monkeypatch, sv):
    monkeypatch.chdir(tmp_path)
    code, out, err = sv("train", *argv, "trainer=smoke", "--no-wait")
    assert code == 2 and expected in err and "Traceback" not in err, err
    if "optuna" in argv[1]:
        assert "hydra.sweeper.n_jobs" in err and "a node that may stay up" in err
    assert not any(tmp_path.iterdir())  # nothing planned into a folder, nothing submitted


def test_a_refused_submission_says_so_and_records_nothing(tmp_path, monkeypatch, sv):
    """sbatch refuses the array (a partition that does not exist): exit 1 with SLURM's error, no submission in
    sweep.json, nothing claimed."""
    slurm = FakeSlurm(tmp_path / "cluster")
    slurm.refuse("sbatch: error: invalid partition specified: gpuu")
    monkeypatch.setenv("PATH", slurm.path())
    monkeypatch.chdir(tmp_path)
    code, out, err = sv("train", "-m", "seed=0,1", "trainer=smoke", "hydra/launcher=slurm",
                        "hydra.launcher.partition=gpuu", "hydra.sweep.dir=s", "--no-wait")
    assert code == 1 and "invalid partition specified: gpuu" in err and "Nothing was submitted" in err, err
    assert submissions_of(read_plan(tmp_path / "s")[0]) == ([], 0) and not slurm.calls("sbatch")


def test_the_progress_note_is_read_defensively(tmp_path, sv):
    s = tmp_path / "s"
    _sweep(s, ["a"])
    job = _job(s, "a", _record("a", "running"))
    (job / PROGRESS_FILE).write_text('{"epoch": "three"}')
    claim = acquire(job)
    try:
        code, out, _ = sv("status", str(s))
    finally:
        claim.release()
    assert code == 3 and "progress unknown (progress.json: not a progress note" in out


# ------------------------------------------------------------------------------------------------- slow


def _submit(args: list[str], tmp_path: Path, env: dict[str, str] | None = None, user_ops: Path | None = None):
    """A command that submits and returns, run in this process (nothing signals it; its driver and jobs are
    processes of their own, in the environment given, with ``user_ops`` importable)."""
    proc = run_here(args, user_ops, env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    return proc


def _drivers_alive(sweep: Path) -> list[Path]:
    return list((sweep / DRIVERS).glob(f"*/{CLAIM_FILE}"))


@pytest.mark.slow
def test_no_wait_with_processes_returns_while_its_jobs_train(tmp_path, user_ops, reference_sweep):
    """Two jobs of SWEEP with --no-wait on the processes launcher, one at a time, each held at the start of its
    second epoch until the test creates a file. The command returns at once (exit 0) with the driver's pid and
    the commands to come back with; status shows 1 job training at epoch 1/3 and 1 queued; the same command
    submits nothing. The training job is killed: status shows it lost. Released, the other finishes; status exits
    1, and the same command submits only the lost job, which resumes from its checkpoint: every job ends with the
    numbers of the uninterrupted sequential run."""
    sweep, release = tmp_path / "s", tmp_path / "release"
    two = [o if not o.startswith("seed=") else "seed=0,1" for o in SWEEP]
    args = ["train", "-m", *two, "hydra/launcher=processes", "hydra.launcher.n_jobs=1", f"hydra.sweep.dir={sweep}",
            "--no-wait"]
    hold = {"SV_HOLD_AT": str(CALLS_PER_EPOCH + 1), "SV_HOLD_FILE": str(release)}
    out = _submit(args, tmp_path, env=hold, user_ops=user_ops).stdout
    assert "Submitted 2 job(s) and returned: driver process" in out, out
    assert f"se-variants status {sweep}" in out and f"se-variants report {sweep}" in out
    driver_pid = int(out.split("driver process ")[1].split()[0])

    def progress(name):
        path = sweep / name / PROGRESS_FILE
        return json.loads(path.read_text())["epoch"] if path.exists() else None

    _wait_for("the first job held in its second epoch",
              lambda: sorted(filter(None, (progress(p.name) for p in sweep.glob("*=*")))) == [1])
    code, out, _ = in_process(["status", str(sweep)])
    lines = list(_lines(out).values())
    assert code == 3, out
    assert sum(line.startswith("training|") and "epoch 1/3 (val acc" in line for line in lines) == 1, out
    assert sum(line.startswith("queued|") and f":{driver_pid})" in line for line in lines) == 1, out

    with ops_in_process(user_ops):  # (in this process: nothing is started)
        code, again, err = in_process(args)
    assert code == 0 and "Nothing to submit" in again and again.count("left to it") == 2, again + err
    assert len(list((sweep / DRIVERS).iterdir())) == 1  # no second driver

    (victim,) = [p for p in sweep.glob("*=*") if progress(p.name) == 1]
    pid = json.loads((victim / CLAIM_FILE).read_text())["pid"]
    os.kill(pid, signal.SIGKILL)
    _wait_for("the killed job's record to be closed",
              lambda: json.loads((victim / RESULT_FILE).read_text())["status"] == "failed")
    code, out, _ = in_process(["status", str(sweep)])
    seed = json.loads((victim / RESULT_FILE).read_text())["seed"]
    (line,) = _with(out, f"seed={seed} ")
    assert code == 3 and line.startswith("lost|Killed: "), out

    release.touch()
    _wait_for("the driver to finish", lambda: not _drivers_alive(sweep))
    code, out, _ = in_process(["status", str(sweep)])
    assert code == 1 and "1 ok, 1 lost" in out and "Run the same command again" in out, out

    again = _submit(args, tmp_path, user_ops=user_ops).stdout
    assert "Submitted 1 job(s)" in again and "1 done before (skipped)" in again, again
    _wait_for("the resubmitted job", lambda: len(list((sweep / DRIVERS).iterdir())) == 2 and not _drivers_alive(sweep))
    code, out, _ = in_process(["status", str(sweep)])
    assert code == 0 and f"All 2 finished: run se-variants report {sweep}" in out, out

    results = sweep_results(sweep)
    assert len(results) == 2 and set(results) <= set(reference_sweep), briefs(results)
    for name, record in results.items():
        assert record["metrics"] == reference_sweep[name]["metrics"], name
        assert record["history"] == reference_sweep[name]["history"], name
    resumed = results[victim.name]
    assert [a["outcome"] for a in resumed["attempts"]] == ["killed", "ok"] and resumed["attempts"][1]["from_epoch"] == 1
    assert all(len(r["attempts"]) == 1 for name, r in results.items() if name != victim.name)


@pytest.mark.slow
def test_no_wait_on_slurm_submits_one_array_and_never_twice(tmp_path, monkeypatch):
    """SLURM through fake commands on PATH: --no-wait submits the sweep as one array (throttled), status reads
    the queue, the same command submits nothing while the tasks are queued; a task run as a node runs it
    finishes ok, two others leave the queue without a record (cancelled, a failed node): status shows them lost
    and the same command submits those two -- one new array -- and nothing else."""
    slurm = FakeSlurm(tmp_path / "cluster")
    sweep = tmp_path / "s"
    env = {"PATH": slurm.path()}
    monkeypatch.setenv("PATH", slurm.path())  # (for status, run in this process)
    args = ["train", "-m", "seed=0,1,2", "trainer=smoke", "hydra/launcher=slurm", "hydra.launcher.array_parallelism=2",
            f"hydra.sweep.dir={sweep}", "--no-wait"]
    out = _submit(args, tmp_path, env=env).stdout
    assert "Submitted 3 job(s) and returned: SLURM array 4100 (tasks 4100_0 to 4100_2, at most 2 at once)" in out
    assert len(slurm.calls("sbatch")) == 1 and "#SBATCH --array=0-2%2" in slurm.script(4100)
    (submission,) = submissions_of(read_plan(sweep)[0])[0]
    assert sorted(submission.jobs.values()) == ["4100_0", "4100_1", "4100_2"] and submission.driver is None

    slurm.set_queue("4100_0|PENDING|(Priority)", "4100_1|PENDING|(Priority)", "4100_2|PENDING|(Priority)")
    code, out, _ = in_process(["status", str(sweep)])
    assert code == 3 and out.count("[queued]") == 3 and "PENDING (Priority)" in out
    assert slurm.calls("squeue")
    code, again, _ = in_process(args)  # (the same command, in this process from now on: it is faster)
    assert code == 0 and "Nothing to submit" in again and len(slurm.calls("sbatch")) == 1
    code, out, _ = in_process([*args[:-1], "--dry-run"])  # the dry run says so too
    assert code == 0 and out.count("[wait]") == 3 and "0 to run" in out, out

    node = slurm.run_task(4100, 0, {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}, tmp_path)
    assert node.returncode == 0, node.stderr[-3000:]
    slurm.set_queue("4100_1|RUNNING|node1")
    slurm.set_accounting("4100_0|COMPLETED", "4100_2|CANCELLED by 0")
    code, out, _ = in_process(["status", str(sweep)])
    (first,), (second,), (third,) = (_with(out, f"seed={seed} ") for seed in range(3))
    assert code == 3, out
    assert first.startswith("ok|") and second.startswith("starting|SLURM job 4100_1: RUNNING node1")
    assert third.startswith("lost|SLURM job 4100_2 left the queue (CANCELLED)")

    slurm.set_queue()
    slurm.set_accounting("4100_0|COMPLETED", "4100_1|NODE_FAIL", "4100_2|CANCELLED by 0")
    code, out, _ = in_process(["status", str(sweep)])
    assert code == 1 and "2 lost" in out, out
    code, again, err = in_process(args)
    assert code == 0 and "Submitted 2 job(s)" in again and "1 done before (skipped)" in again, again + err
    assert len(slurm.calls("sbatch")) == 2 and "#SBATCH --array=0-1%2" in slurm.script(4101)
    latest = submissions_of(read_plan(sweep)[0])[0][-1]
    assert sorted(latest.jobs.values()) == ["4101_0", "4101_1"]
    assert sorted(latest.jobs) == ["seed=1,trainer=smoke", "seed=2,trainer=smoke"]

    slurm.set_queue("4101_0|PENDING|(Priority)", "4101_1|PENDING|(Resources)")
    code, again, _ = in_process(args)
    assert code == 0 and "Nothing to submit" in again and len(slurm.calls("sbatch")) == 2


@pytest.mark.slow
def test_a_waiting_command_leaves_an_earlier_submission_its_jobs_and_waits_for_them(tmp_path, user_ops,
                                                                                    reference_sweep):
    """After --no-wait on the processes launcher (2 jobs, one at a time), the same sweep without --no-wait (its own
    workers) hands out neither the job the driver trains nor the one it holds in its queue: it waits for them,
    then writes the report with every job, each trained once."""
    sweep, release = tmp_path / "s", tmp_path / "release"
    base = ["train", "-m", *[o if not o.startswith("seed=") else "seed=0,1" for o in SWEEP], f"hydra.sweep.dir={sweep}"]
    hold = {"SV_HOLD_AT": str(CALLS_PER_EPOCH + 1), "SV_HOLD_FILE": str(release)}
    _submit([*base, "hydra/launcher=processes", "hydra.launcher.n_jobs=1", "--no-wait"], tmp_path, env=hold,
            user_ops=user_ops)
    _wait_for("the first job held", lambda: len(list(sweep.glob(f"*/{PROGRESS_FILE}"))) == 1)
    waiting = start_cli(base, cwd=tmp_path, pythonpath=[user_ops])
    try:
        lines = []
        while not lines or not lines[-1].startswith("Waiting for"):
            line = waiting.stdout.readline()
            assert line, "the waiting command ended before it waited"
            lines.append(line)
        assert sum("[busy]" in line for line in lines) == 1 and sum("[queued]" in line for line in lines) == 1
        assert "0 to run" in lines[0], lines
        release.touch()
        out, err = waiting.communicate(timeout=GUARD_S)
    finally:
        if waiting.poll() is None:
            waiting.kill()
    assert waiting.returncode == 0 and "2 of 2 jobs ok" in out, err[-3000:]
    results = sweep_results(sweep)
    assert len(results) == 2 and all(len(r["attempts"]) == 1 for r in results.values()), briefs(results)
    for name, record in results.items():
        assert record["metrics"] == reference_sweep[name]["metrics"], name


@pytest.mark.slow
def test_status_into_a_pipe_closed_early(tmp_path):
    """`se-variants status <folder> | head -1` on a big sweep: the reader goes after one line; status stops
    writing without a traceback and exits as the sweep stands."""
    s = tmp_path / "s"
    names = [f"{i:04d}" for i in range(1500)]  # more output than a pipe holds
    _sweep(s, names)
    for name in names:
        _job(s, name, _record(name))
    proc = subprocess.Popen([sys.executable, "-m", "se_variants.cli", "status", str(s)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    assert proc.stdout.readline().startswith("[ok]")
    proc.stdout.close()
    err = proc.stderr.read()
    proc.stderr.close()
    assert proc.wait(timeout=GUARD_S) == 0 and "Traceback" not in err and "BrokenPipe" not in err, err


@pytest.mark.slow
def test_status_imports_neither_hydra_nor_lightning():
    """What keeps se-variants status fast: it reads JSON files and asks queues; nothing heavier is imported."""
    code = ("import sys; import se_variants.runner.status\n"
            "heavy = [m for m in ('hydra', 'omegaconf', 'lightning', 'matplotlib', 'scipy', 'submitit', 'optuna') "
            "if m in sys.modules]\nassert not heavy, heavy")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr


def test_progress_notes_come_after_the_first_and_last_epoch_and_at_most_every_interval(tmp_path, monkeypatch):
    """RunState's notes for ``status``: when training starts, after the attempt's first epoch and after its last
    always; in between only once PROGRESS_EVERY_S has passed since the last note (here: never)."""
    from types import SimpleNamespace

    from se_variants.runner import lit

    monkeypatch.setattr(lit, "PROGRESS_EVERY_S", float("inf"))
    path = tmp_path / PROGRESS_FILE
    state = lit.RunState(0, tmp_path / "last.ckpt", "h", every_s=float("inf"), progress=path)
    trainer = SimpleNamespace(is_global_zero=True, max_epochs=6, current_epoch=2, world_size=1, callback_metrics={},
                              save_checkpoint=lambda p, **kw: Path(p).write_text("ckpt"),
                              strategy=SimpleNamespace(barrier=lambda name: None))
    state.on_train_start(trainer, None)  # a resumed attempt: 2 epochs in its checkpoint
    assert json.loads(path.read_text())["epoch"] == 2
    noted = []
    monkeypatch.setattr(lit, "write_json", lambda p, note, **kw: noted.append(note["epoch"]))
    for epoch in range(2, 6):
        trainer.current_epoch = epoch
        state.on_train_epoch_end(trainer, None)
    assert noted == [3, 6]
