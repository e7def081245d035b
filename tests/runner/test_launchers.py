"""Sweeps under every launcher give the numbers of one plain sequential run (``reference_sweep``): ``workers``
(the default: our own pool of worker processes), ``processes`` (submitit, a fresh process per job); two identical
sweeps started at once into one folder; a worker killed mid-job costs only its job; a sweep killed as a whole, or
terminated alone, is run again to the same numbers; a sweep whose output is closed stops its workers; a job
stopped in its last moments (as it writes its result) is recorded as interrupted, never left ``running``; run knobs never change job folders; SLURM is checked as far as
it can be without a cluster.

The processes these tests stop are stopped by the fault op (conftest.py) at a training call it counts, and the
tests wait for events of the run (a marker file, a process's own stop), never for wall-clock time: they pass the
same on a busy machine. A command runs in a process of its own only where a signal reaches it or a second command
runs beside it; the run that resumes what a stopped command left runs in this process, one job after another (a
sweep's job folders do not depend on its launcher: test_sweep.py)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import time
from datetime import datetime
from pathlib import Path

import pytest

from .conftest import (CALLS_PER_EPOCH, SWEEP, brief, briefs, error_message, error_type, first_line, in_process,
                       ops_in_process, run_here, start_cli, sweep_results, tail, workers_in_group)

pytestmark = pytest.mark.slow

#: training calls of the fault op in one SWEEP job (3 epochs)
CALLS_PER_JOB = 3 * CALLS_PER_EPOCH
#: a kill at this call of a process lands in the second epoch of the second SWEEP job that process trains, after
#: the first epoch's checkpoint: only a worker that trains two fault jobs gets there
SECOND_JOB_EPOCH_2 = CALLS_PER_JOB + CALLS_PER_EPOCH + 5


def _numbers(record: dict) -> tuple:
    return record["metrics"], record["history"], record["per_class"]


def _by_seed(results: dict, squeeze: str = "fault") -> dict[int, dict]:
    """seed → record of the jobs of one squeeze op (SWEEP's jobs differ only in their seed)."""
    return {r["seed"]: r for r in results.values() if r["squeeze"] == squeeze}


def _assert_reference(results: dict, reference: dict, seeds: tuple[int, ...] = (0, 1, 2)) -> None:
    """The fault jobs of ``results`` are SWEEP's of ``seeds`` -- in the reference's folders, whichever launcher ran
    them -- finished, with the configs and numbers of the reference run."""
    mine = {name: r for name, r in results.items() if r.get("squeeze") == "fault"}
    expected = {name for name, r in reference.items() if r["seed"] in seeds}
    assert set(mine) == expected and len(mine) == len(seeds), (sorted(mine), sorted(expected), briefs(results))
    for name, record in mine.items():
        assert record["status"] == "ok", (name, brief(record))
        assert record["config_hash"] == reference[name]["config_hash"], (name, brief(record))
        assert _numbers(record) == _numbers(reference[name]), (name, brief(record), brief(reference[name]))


def _assert_killed_attempt_timed(attempt: dict) -> None:
    """A killed attempt is timed up to the last sign of life of its process: some time, never ending before it
    started."""
    assert attempt.get("outcome") == "killed", attempt
    assert (attempt.get("wall_time_s") or 0) > 0 and attempt.get("ended") and attempt.get("started"), attempt
    assert datetime.fromisoformat(attempt["ended"]) >= datetime.fromisoformat(attempt["started"]), attempt


def _here(argv: list[str], user_ops: Path, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    """``se-variants <argv>`` in this process (:func:`.conftest.run_here`): (exit code, stdout, stderr)."""
    done = run_here(argv, user_ops, env)
    return done.returncode, done.stdout, done.stderr


def _again_here(args: list[str], user_ops: Path) -> tuple[int, str, str]:
    """The same sweep as ``se-variants <args>`` again, in this process, one job after another: what the next run
    of the command does with the records and checkpoints a stopped run left."""
    argv = [a for a in args if not a.startswith(("hydra/launcher=", "hydra.launcher."))]
    return _here([*argv, "hydra/launcher=basic"], user_ops)


@pytest.mark.parametrize("launcher,seeds", [("workers", (0, 1, 2)), ("processes", (0, 1))],
                         ids=["workers", "processes"])
def test_same_numbers_whichever_launcher_runs_the_jobs(launcher, seeds, tmp_path, user_ops, reference_sweep):
    """SWEEP uninterrupted under ``workers`` (3 jobs on 2 worker processes) and ``processes`` (2 of its jobs, a
    fresh process each); the command itself in this process: the configs and numbers of the reference run
    (``basic``), the jobs trained elsewhere than in the command's process."""
    sweep = [o if not o.startswith("seed=") else "seed=" + ",".join(map(str, seeds)) for o in SWEEP]
    code, out, err = _here(["train", "-m", *sweep, f"hydra/launcher={launcher}", f"hydra.sweep.dir={tmp_path / 's'}"],
                           user_ops)
    assert code == 0, tail(err)
    results = sweep_results(tmp_path / "s")
    _assert_reference(results, reference_sweep, seeds)
    assert os.getpid() not in {r["attempts"][0]["pid"] for r in results.values()}, briefs(results)
    n = len(seeds)
    assert f"{n} of {n} jobs ok" in out and out.count("[ok]") == n, out
    assert f"at a time ({launcher})" in out, out  # the parallelism is stated
    if launcher == "processes":  # a process of its own per job
        assert len(list((tmp_path / "s" / ".submitit").glob("*/*_log.out"))) == n, briefs(results)
        assert len({r["attempts"][0]["pid"] for r in results.values()}) == n, briefs(results)
    assert (tmp_path / "s" / "report.png").is_file() and (tmp_path / "s" / "report.md").is_file()
    (submission,) = json.loads((tmp_path / "s" / "sweep.json").read_text())["submissions"]  # what status reads
    assert submission["launcher"] == launcher and len(submission["jobs"]) == n
    assert (tmp_path / "s" / submission["driver"]).is_dir() and not (tmp_path / "s" / submission["driver"] /
                                                                     "claim.json").exists()  # released at the end


def test_two_identical_sweeps_at_once_train_every_job_once(tmp_path, user_ops, reference_sweep):
    """Two identical commands at once on one sweep folder -- one started as a process of its own, the other run
    here as soon as the first has planned (its header printed: it is claiming its first job): every job trained
    once, by one of them (the other leaves it, waits for it and reads its result), both report 3 of 3 ok, no
    claim is left behind."""
    args = ["train", "-m", *SWEEP, "hydra/launcher=basic", f"hydra.sweep.dir={tmp_path / 's'}"]
    proc = start_cli(args, cwd=tmp_path, pythonpath=[user_ops])
    header = first_line(proc)
    here = run_here(args, user_ops, cwd=tmp_path) if header else None
    out, err = proc.communicate(timeout=600)  # (a guard against a hang only)
    assert header.startswith("Sweep of 3 jobs") and proc.returncode == 0, (header, proc.returncode, tail(err, 2000))
    assert here.returncode == 0, tail(here.stderr, 2000)
    assert "3 of 3 jobs ok" in out and "3 of 3 jobs ok" in here.stdout, (out, here.stdout)
    results = sweep_results(tmp_path / "s")
    _assert_reference(results, reference_sweep)
    for record in results.values():
        assert len(record["attempts"]) == 1, brief(record)  # trained once, by one of the two
        assert record["attempts"][0]["pid"] in {proc.pid, os.getpid()}, brief(record)
    assert not list((tmp_path / "s").glob("*/claim.json"))


def test_a_killed_worker_costs_only_its_job(tmp_path, user_ops, reference_sweep):
    """Six jobs on two workers: SWEEP's three (squeeze=fault) first, then three of squeeze=avg, whose op counts no
    training calls. The seed-1 job holds its worker until the kill (SV_HOLD_SEED), so the other worker trains the
    seed-0 job and then the third fault job -- its second -- and SIGKILLs itself in that job's second epoch
    (SECOND_JOB_EPOCH_2); no other process ever reaches that count, and every squeeze=avg job is still waiting when
    it dies. The killed job is recorded (Killed, its attempt timed), a fresh worker trains the squeeze=avg jobs,
    the command names the job on stderr and exits 1; the sweep run again resumes the killed job from its
    checkpoint to the numbers of the uninterrupted run."""
    sweep = tmp_path / "s"
    grid = ["squeeze=fault,avg" if o == "squeeze=fault" else o for o in SWEEP]
    args = ["train", "-m", *grid, "hydra/launcher=workers", "hydra.launcher.n_jobs=2", f"hydra.sweep.dir={sweep}"]
    code, out, err = _here(args, user_ops, env={  # (the command here: only its workers are killed)
        "SV_KILL_AT": str(SECOND_JOB_EPOCH_2), "SV_KILL_TARGET": "self", "SV_HOLD_SEED": "1",
        "SV_MARK": str(tmp_path / "killed")})
    assert code == 1, tail(err)
    assert "Traceback" not in err and "5 of 6 jobs ok" in out, (out, tail(err))
    _, _, listed = err.partition("1 job(s) failed or did not finish:\n")
    failed_lines = [line for line in listed.splitlines() if line.startswith("  ")]
    assert len(failed_lines) == 1, tail(err)
    (failed_line,) = failed_lines
    assert "squeeze=fault seed=2" in failed_line and "Killed: the worker process" in failed_line \
        and "SIGKILL" in failed_line, failed_line

    first = sweep_results(sweep)
    assert sorted(_by_seed(first)) == [0, 1, 2], briefs(first)
    lost = _by_seed(first)[2]
    assert lost["status"] == "failed" and error_type(lost) == "Killed", brief(lost)
    (attempt,) = lost["attempts"]
    _assert_killed_attempt_timed(attempt)
    assert lost["wall_time_s"] == attempt["wall_time_s"], brief(lost)
    others = [r for r in first.values() if r is not lost]
    assert len(others) == 5 and all(r["status"] == "ok" for r in others), briefs(others)
    initial = {_by_seed(first)[0]["attempts"][0]["pid"], _by_seed(first)[1]["attempts"][0]["pid"]}
    assert len(initial) == 2 and attempt["pid"] in initial, briefs(first)  # the two first workers; one died
    fresh = {r["attempts"][0]["pid"] for r in others} - initial
    assert len(fresh) == 1, briefs(first)  # a fresh worker took over the jobs still waiting

    code, out, err = _again_here(args, user_ops)
    assert code == 0, tail(err)
    assert "5 done before (skipped)" in out and "6 of 6 jobs ok" in out, out
    results = sweep_results(sweep)
    assert set(results) == set(first)  # the same folders
    _assert_reference(results, reference_sweep)
    resumed = _by_seed(results)[2]  # (all three are there: _assert_reference)
    assert [a["outcome"] for a in resumed["attempts"]] == ["killed", "ok"], brief(resumed)
    assert resumed["attempts"][1]["from_epoch"] == 1, brief(resumed)
    for name, record in results.items():
        if record is not resumed and first[name]["status"] == "ok":
            assert record["finished"] == first[name]["finished"], (name, brief(record))  # not trained again


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="lists processes through /proc")
def test_a_parallel_sweep_killed_as_a_whole_resumes_only_what_is_missing(tmp_path, user_ops, reference_sweep):
    """SIGKILL to the whole process group of a workers sweep (2 workers, 3 jobs) in the middle of its third job --
    sent by the worker that trains two jobs, in its second job's second epoch -- then the sweep again: jobs that
    had finished are not trained again, the others resume, and the numbers are the sequential ones."""
    args = ["train", "-m", *SWEEP, "hydra.launcher.n_jobs=2", f"hydra.sweep.dir={tmp_path / 's'}"]
    proc = start_cli(args, cwd=tmp_path, env={"SV_KILL_AT": str(SECOND_JOB_EPOCH_2), "SV_KILL_TARGET": "group"},
                     pythonpath=[user_ops])
    _, err = proc.communicate(timeout=600)  # (a guard against a hang only)
    assert proc.returncode == -signal.SIGKILL, (proc.returncode, tail(err))
    deadline = time.monotonic() + 600  # (a guard against a hang only)
    while workers_in_group(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.05)  # until the killed workers have ended too (the kernel may still be tearing one down)
    before = sweep_results(tmp_path / "s")
    assert [r["status"] for r in before.values()].count("running") >= 1, briefs(before)  # killed mid-training
    code, _, err = _again_here(args, user_ops)
    assert code == 0, tail(err)
    results = sweep_results(tmp_path / "s")
    _assert_reference(results, reference_sweep)
    for name, record in results.items():
        if before.get(name, {}).get("status") == "ok":
            assert record["finished"] == before[name]["finished"], (name, brief(record))  # not trained again
        else:
            _assert_killed_attempt_timed(record["attempts"][0])
            assert record["attempts"][-1]["outcome"] == "ok", (name, brief(record))


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="lists processes through /proc")
def test_a_terminated_parallel_sweep_stops_its_workers_and_resumes(tmp_path, user_ops, reference_sweep):
    """SIGTERM to the sweep command alone (as `kill <pid>` or `timeout` send it) -- from a worker, in its second
    job, which then trains no further until the command stops it (SV_KILL_WAIT) -- stops the sweep as Ctrl-C
    does: exit 130, the report written, every worker ended before the command exits (none left training
    unattended), every job not finished recorded as Interrupted; the sweep run again finishes with the sequential
    numbers."""
    args = ["train", "-m", *SWEEP, "hydra.launcher.n_jobs=2", f"hydra.sweep.dir={tmp_path / 's'}"]
    proc = start_cli(args, cwd=tmp_path, pythonpath=[user_ops], env={
        "SV_KILL_AT": str(SECOND_JOB_EPOCH_2), "SV_KILL_SIGNAL": "TERM", "SV_KILL_TARGET": "parent",
        "SV_KILL_WAIT": "1"})
    _, err = proc.communicate(timeout=600)  # (a guard against a hang only)
    assert proc.returncode == 130 and "Interrupted." in err, (proc.returncode, tail(err))
    assert "Traceback" not in err, tail(err)
    assert (tmp_path / "s" / "report.md").is_file()
    # the command joins its workers before it exits: none may be left once it has
    assert not workers_in_group(proc.pid), "a worker outlived the sweep command"
    records = sweep_results(tmp_path / "s")
    stopped = [r for r in records.values() if r["status"] != "ok"]
    assert stopped, ("the sweep was stopped in a job", briefs(records))  # the sender's (and any other in training)
    for record in stopped:
        assert error_type(record) == "Interrupted" and record["attempts"][-1]["outcome"] == "interrupted", \
            brief(record)
    code, _, err = _again_here(args, user_ops)
    assert code == 0, tail(err)
    _assert_reference(sweep_results(tmp_path / "s"), reference_sweep)


#: one-epoch jobs with the test ops imported (squeeze=fault: its holds and its SV_STOP_AT_RESULT fault)
ONE_EPOCH = ["squeeze=fault", "trainer=smoke", "imports=[sv_test_ops]"]


def _assert_stopped_as_it_finished(record: dict, job: Path) -> None:
    """The record of a job stopped as it wrote its result: Interrupted (its attempt too, timed), not ``running``,
    its claim released and its last checkpoint kept for the next run."""
    assert record["status"] == "failed" and error_type(record) == "Interrupted", brief(record)
    assert "stopped before it finished" in error_message(record), brief(record)
    (attempt,) = record["attempts"]
    assert attempt["outcome"] == "interrupted" and attempt["wall_time_s"] is not None, brief(record)
    assert not (job / "claim.json").exists() and (job / "checkpoints" / "last.ckpt").is_file()


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="lists processes through /proc")
def test_a_sweep_whose_output_is_closed_stops_its_workers(tmp_path, user_ops):
    """`se-variants train -m ... | head -1`: once the reader is gone, the next progress line fails
    (BrokenPipeError). The command still stops its workers and exits -- it never waits for them forever -- and the
    job the other worker had not finished is recorded as interrupted, never left ``running``, even when the stop
    lands as that job writes its result (the race this test once lost): here it always does -- the seed-1 job
    waits at its result, unwritten, until it is stopped (SV_STOP_AT_RESULT), and the seed-0 job, whose progress
    line breaks the pipe, starts training only once it waits there (SV_HOLD_SEED). The next run finishes the
    interrupted job from its last checkpoint and trains the job never started."""
    sweep = tmp_path / "s"
    args = ["train", "-m", *ONE_EPOCH, "seed=0,1,2", "hydra/launcher=workers", "hydra.launcher.n_jobs=2",
            f"hydra.sweep.dir={sweep}"]
    proc = start_cli(args, cwd=tmp_path, pythonpath=[user_ops], env={
        "SV_STOP_AT_RESULT": "1", "SV_HOLD_SEED": "0", "SV_MARK": str(tmp_path / "at-result")})
    try:
        header = first_line(proc)
        assert header.startswith("Sweep of 3 jobs"), header
        proc.stdout.close()  # as `head -1` does once it has its line
        proc.wait(timeout=600)  # (a guard against a hang only)
    finally:
        if proc.poll() is None:  # hung: clean up, the test has failed
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    err = proc.stderr.read()
    proc.stderr.close()
    assert proc.returncode != 0 and "BrokenPipeError" in err, (proc.returncode, tail(err))
    assert not workers_in_group(proc.pid), "a worker outlived the sweep command"
    records = {r["seed"]: (name, r) for name, r in sweep_results(sweep).items()}
    assert sorted(records) == [0, 1], (briefs(sweep_results(sweep)), tail(err))  # seed 2 never started
    assert records[0][1]["status"] == "ok", brief(records[0][1])  # its progress line broke the pipe
    name, stopped = records[1]
    _assert_stopped_as_it_finished(stopped, sweep / name)

    code, out, err = _again_here(args, user_ops)
    assert code == 0 and "1 done before (skipped)" in out and "3 of 3 jobs ok" in out, (out, tail(err))
    record = json.loads((sweep / name / "metrics.json").read_text())
    assert [a["outcome"] for a in record["attempts"]] == ["interrupted", "ok"], brief(record)
    assert record["attempts"][1]["from_epoch"] == 1 and record["status"] == "ok", brief(record)


def test_a_job_interrupted_as_it_writes_its_result_in_this_process_is_recorded_interrupted(tmp_path, user_ops,
                                                                                         monkeypatch):
    """The same race on the basic launcher (the job in the command's own process): Ctrl-C as the job writes its
    result (the write raises KeyboardInterrupt before anything is written). Exit 130; the record says
    Interrupted, never ``running``."""
    from se_variants.runner import job as job_module

    write_json = job_module.write_json

    def interrupted_at_the_result(path, data, *args, **kwargs):
        if isinstance(data, dict) and data.get("status") == "ok":
            raise KeyboardInterrupt
        return write_json(path, data, *args, **kwargs)

    monkeypatch.setattr(job_module, "write_json", interrupted_at_the_result)
    sweep = tmp_path / "s"
    with ops_in_process(user_ops):
        code, _, err = in_process(["train", "-m", *ONE_EPOCH, "seed=0", "hydra/launcher=basic",
                                   f"hydra.sweep.dir={sweep}"])
    assert code == 130 and "Interrupted." in err, (code, tail(err))
    records = sweep_results(sweep)
    assert len(records) == 1, briefs(records)
    ((name, record),) = records.items()
    _assert_stopped_as_it_finished(record, sweep / name)


def test_run_knobs_never_enter_job_folders_or_counts(tmp_path, user_ops, reference_sweep):
    """rerun=true and resume=false re-run the jobs into the same folders; the report keeps one record per config."""
    import csv

    from se_variants.runner.identity import job_name

    sweep = tmp_path / "s"
    shutil.copytree(reference_sweep.folder, sweep)
    with ops_in_process(user_ops):
        code, _, err = in_process(["train", "-m", *SWEEP, "rerun=true", "resume=false", "hydra/launcher=basic",
                                   f"hydra.sweep.dir={sweep}"])
    assert code == 0, tail(err)
    results = sweep_results(sweep)
    assert set(results) == set(reference_sweep), briefs(results)  # no new folders
    for name, record in results.items():
        assert record["finished"] != reference_sweep[name]["finished"], (name, brief(record))  # trained again ...
        assert _numbers(record) == _numbers(reference_sweep[name]), (name, brief(record))  # ... to the same numbers
    with open(sweep / "report.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 1 and rows[0]["n"] == "3" and rows[0]["seeds"] == "0 1 2", rows
    assert job_name(["seed=0", "rerun=true", "resume=false", "ckpt_path=/x.ckpt", "checkpoint_every_s=0",
                     "trainer.enable_progress_bar=false"]) == "seed=0"


def test_slurm_as_far_as_it_goes_without_a_cluster(tmp_path, monkeypatch):
    """hydra/launcher=slurm composes with its packaged defaults, the plan passes (a GPU trainer, though this
    machine -- a login node, say -- has no GPU: the jobs' nodes will), and the launcher hands submitit one job
    array whose sbatch script carries the partition, time, GPUs, CPUs, memory, array limit and setup lines, and
    the requeue limit (the submission itself is intercepted: there is no cluster here)."""
    import shutil as shutil_module

    import submitit

    from se_variants.runner.launchers import Submitit, open_launcher, slurm_parameters
    from se_variants.runner.args import parse_args
    from se_variants.runner.plan import make_plan

    monkeypatch.chdir(tmp_path)
    argv = ["-m", "seed=0,1", "trainer=gpu", "trainer.max_epochs=1", "hydra/launcher=slurm",
            "hydra.launcher.partition=gpu", "hydra.launcher.setup=[module load cuda]",
            "hydra.launcher.array_parallelism=8", "hydra.launcher.max_num_timeout=5", f"hydra.sweep.dir={tmp_path / 's'}"]
    plan = make_plan(parse_args(argv))
    assert plan.launcher["name"] == "slurm" and len(plan.jobs) == 2 and plan.parallel is None
    params = slurm_parameters(plan.launcher)
    assert params["slurm_partition"] == "gpu" and params["slurm_setup"] == ["module load cuda"]
    assert "slurm_account" not in params  # unset options are left to the cluster
    scripts = []

    class Submitted(Exception):
        pass

    def submit(self, command):
        scripts.append(self._make_submission_file_text(command, "0"))
        raise Submitted

    which = shutil_module.which
    monkeypatch.setattr(shutil_module, "which",
                        lambda name, *a, **k: f"/usr/bin/{name}" if name == "srun" else which(name, *a, **k))
    monkeypatch.setattr(submitit.SlurmExecutor, "_submit_command", submit)
    launcher = open_launcher(plan.launcher["name"], plan.launcher, plan.out_dir, plan.parallel)
    assert isinstance(launcher, Submitit)
    assert launcher.executor._executor.max_num_timeout == 5  # requeues after a time limit or a preemption
    with pytest.raises(Submitted):
        list(launcher.run(plan.jobs))
    (script,) = scripts  # one array job; submitit caps its parallelism (8) at the 2 jobs there are
    for line in ("#SBATCH --partition=gpu", "#SBATCH --time=240", "#SBATCH --gpus-per-node=1",
                 "#SBATCH --cpus-per-task=4", "#SBATCH --mem=16GB", "#SBATCH --array=0-1%2", "module load cuda",
                 "submitit.core._submit"):
        assert line in script, (line, script)


def _blas_threads_after_serving(conn, threads):
    from threadpoolctl import threadpool_info

    from se_variants.runner.launchers import _serve

    _serve(conn, dict(os.environ), threads)  # (returns when it is sent None)
    conn.send(sorted({info["num_threads"] for info in threadpool_info() if info["user_api"] == "blas"}))


def test_a_worker_runs_numpys_blas_on_its_threads():
    """A worker whose BLAS was loaded with every core (as a forked worker's was, in its fork server; here a
    spawned one, so that nothing of this test's process is inherited) runs BLAS on the threads it was given, as
    its jobs run torch."""
    import multiprocessing

    pytest.importorskip("threadpoolctl")
    if (os.cpu_count() or 1) < 2:
        pytest.skip("needs 2 cores: with one, every BLAS runs on one thread anyway")
    ctx = multiprocessing.get_context("spawn")
    ours, theirs = ctx.Pipe()
    env = {k: os.environ.pop(k) for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
           if k in os.environ}
    try:
        worker = ctx.Process(target=_blas_threads_after_serving, args=(theirs, 1))
        worker.start()
    finally:
        os.environ.update(env)
    ours.send(None)
    assert ours.poll(300), "the worker sent nothing"
    assert ours.recv() == [1]
    worker.join(60)
