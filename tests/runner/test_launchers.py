"""Sweeps under every launcher give the numbers of one plain sequential run: joblib (the default, parallel
workers), submitit_local (a fresh process per job), two identical sweeps started at once into one folder, a
parallel sweep killed as a whole and run again; run knobs never change job folders; SLURM is checked as far as
it can be without a cluster."""

from __future__ import annotations

import os
import shutil
import signal
import time
from pathlib import Path

import pytest

from .conftest import SWEEP, run_cli, start_cli, sweep_results


def _numbers(record: dict) -> tuple:
    return record["metrics"], record["history"], record["per_class"]


def _assert_reference(results: dict, reference: dict) -> None:
    assert set(results) == set(reference)
    for name, record in results.items():
        assert record["status"] == "ok", (name, record.get("error"))
        assert _numbers(record) == _numbers(reference[name]), name


@pytest.mark.parametrize("launcher", ["joblib", "processes"])
def test_same_numbers_whichever_launcher_runs_the_jobs(launcher, tmp_path, user_ops, reference_sweep):
    proc = run_cli(["train", "-m", *SWEEP, f"hydra/launcher={launcher}", f"hydra.sweep.dir={tmp_path / 's'}"],
                   cwd=tmp_path, pythonpath=[user_ops])
    assert proc.returncode == 0, proc.stderr[-3000:]
    _assert_reference(sweep_results(tmp_path / "s"), reference_sweep)
    assert "3 of 3 jobs ok" in proc.stdout
    if launcher == "joblib":  # parallel workers print as their jobs finish; the default parallelism is stated
        assert proc.stdout.count("[ok]") == 3 and "at a time (joblib)" in proc.stdout
    else:
        assert list((tmp_path / "s" / ".submitit").glob("*/*_log.out"))  # each job ran in a process of its own
    assert (tmp_path / "s" / "report.png").is_file() and (tmp_path / "s" / "report.md").is_file()


def test_two_identical_sweeps_at_once_train_every_job_once(tmp_path, user_ops, reference_sweep):
    args = ["train", "-m", *SWEEP, "hydra/launcher=basic", f"hydra.sweep.dir={tmp_path / 's'}"]
    procs = [start_cli(args, cwd=tmp_path, pythonpath=[user_ops]) for _ in range(2)]
    outs = [p.communicate(timeout=600) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [o[1][-2000:] for o in outs]
    results = sweep_results(tmp_path / "s")
    _assert_reference(results, reference_sweep)
    for record in results.values():
        assert len(record["attempts"]) == 1  # trained once, by one of the two
        assert record["attempts"][0]["pid"] in {p.pid for p in procs}
    assert not list((tmp_path / "s").glob("*/claim.json"))


def test_a_parallel_sweep_killed_as_a_whole_resumes_only_what_is_missing(tmp_path, user_ops, reference_sweep):
    """SIGKILL to the whole process group of a joblib sweep (2 workers, 3 jobs) in the middle of its third job --
    sent by the worker that runs two jobs, at its 40th training call (27 per job) -- then the same command: jobs
    that had finished are not trained again, the others resume, and the numbers are the sequential ones."""
    args = ["train", "-m", *SWEEP, "hydra.launcher.n_jobs=2", f"hydra.sweep.dir={tmp_path / 's'}"]
    proc = start_cli(args, cwd=tmp_path, env={"SV_KILL_AT": "40", "SV_KILL_GROUP": "1"}, pythonpath=[user_ops])
    proc.communicate(timeout=600)
    assert proc.returncode == -signal.SIGKILL
    before = sweep_results(tmp_path / "s")
    assert [r["status"] for r in before.values()].count("running") >= 1  # killed mid-training
    again = run_cli(args, cwd=tmp_path, pythonpath=[user_ops])
    assert again.returncode == 0, again.stderr[-3000:]
    results = sweep_results(tmp_path / "s")
    _assert_reference(results, reference_sweep)
    for name, record in results.items():
        if before.get(name, {}).get("status") == "ok":
            assert record["finished"] == before[name]["finished"]  # not trained again
        else:
            assert record["attempts"][0]["outcome"] == "killed"


def _processes_in_group(pgid: int, marker: str) -> list[int]:
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            if os.getpgid(int(proc.name)) == pgid and marker in (proc / "cmdline").read_bytes().decode(errors="replace"):
                found.append(int(proc.name))
        except (OSError, ValueError):
            pass
    return found


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="lists processes through /proc")
def test_a_terminated_parallel_sweep_stops_its_workers_and_resumes(tmp_path, user_ops, reference_sweep):
    """SIGTERM to the sweep command alone (as `kill <pid>` or `timeout` send it) -- from a worker, at its 40th
    training call -- stops the sweep as Ctrl-C does: exit 130, the report written, no worker left training
    unattended; the same command again finishes with the sequential numbers."""
    args = ["train", "-m", *SWEEP, "hydra.launcher.n_jobs=2", f"hydra.sweep.dir={tmp_path / 's'}"]
    proc = start_cli(args, cwd=tmp_path, env={"SV_KILL_AT": "40", "SV_KILL_SIGNAL": "TERM", "SV_KILL_PARENT": "1"},
                     pythonpath=[user_ops])
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 130 and "Interrupted." in err, err[-3000:]
    assert (tmp_path / "s" / "report.md").is_file()
    deadline = time.monotonic() + 20
    while _processes_in_group(proc.pid, "loky") and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not _processes_in_group(proc.pid, "popen_loky"), "a worker outlived the sweep command"
    again = run_cli(args, cwd=tmp_path, pythonpath=[user_ops])
    assert again.returncode == 0, again.stderr[-3000:]
    _assert_reference(sweep_results(tmp_path / "s"), reference_sweep)


def test_run_knobs_never_enter_job_folders_or_counts(tmp_path, user_ops, reference_sweep):
    """rerun=true and resume=false re-run the jobs into the same folders; the report keeps one record per config."""
    import csv

    from se_variants.runner.identity import job_name

    sweep = tmp_path / "s"
    shutil.copytree(reference_sweep.folder, sweep)
    proc = run_cli(["train", "-m", *SWEEP, "rerun=true", "resume=false", "hydra/launcher=basic",
                    f"hydra.sweep.dir={sweep}"], cwd=tmp_path, pythonpath=[user_ops])
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = sweep_results(sweep)
    assert set(results) == set(reference_sweep)  # no new folders
    for name, record in results.items():
        assert record["finished"] != reference_sweep[name]["finished"]  # trained again ...
        assert _numbers(record) == _numbers(reference_sweep[name])  # ... to the same numbers
    with open(sweep / "report.csv") as f:
        (row,) = list(csv.DictReader(f))
    assert row["n"] == "3" and row["seeds"] == "0 1 2"
    assert job_name(["seed=0", "rerun=true", "resume=false", "ckpt_path=/x.ckpt", "trainer.enable_progress_bar=false"]) \
        == "seed=0"


def test_ddp_is_never_combined_with_joblib(tmp_path, capsys, monkeypatch):
    from se_variants.runner.train_cmd import main

    monkeypatch.chdir(tmp_path)
    assert main(["-m", "seed=0,1", "trainer=ddp_cpu"]) == 2
    err = capsys.readouterr().err
    assert "joblib" in err and "hydra/launcher=basic" in err and "Traceback" not in err


def test_slurm_as_far_as_it_goes_without_a_cluster(tmp_path, monkeypatch, capsys):
    """hydra/launcher=slurm composes with its packaged defaults, the preflight passes (a GPU trainer, though this
    machine -- a login node, say -- has no GPU: the jobs' nodes will), and the launcher hands
    submitit a job array whose sbatch script carries the partition, time, GPUs, CPUs, memory, array limit and
    setup lines (the submission itself is intercepted: there is no cluster here)."""
    import shutil as shutil_module

    import submitit

    from se_variants.runner.plan import parse_args, preflight
    from se_variants.runner.hydra_app import launch

    monkeypatch.chdir(tmp_path)
    argv = ["-m", "seed=0,1", "trainer=gpu", "trainer.max_epochs=1", "hydra/launcher=slurm", "hydra.launcher.partition=gpu",
            "hydra.launcher.setup=[module load cuda]", "hydra.launcher.array_parallelism=8",
            f"hydra.sweep.dir={tmp_path / 's'}"]
    plan = preflight(parse_args(argv))
    assert plan.launcher == "submitit_slurm" and len(plan.jobs) == 2 and plan.parallel is None
    scripts = []

    class Submitted(Exception):
        pass

    def submit(self, command):
        scripts.append(self._make_submission_file_text(command, "0"))
        raise Submitted

    which = shutil_module.which
    monkeypatch.setattr(shutil_module, "which", lambda name, *a, **k: f"/usr/bin/{name}" if name == "srun" else which(name, *a, **k))
    monkeypatch.setattr(submitit.SlurmExecutor, "_submit_command", submit)
    assert launch(argv) == 1  # the intercepted submission stops the sweep
    (script,) = scripts  # one array job; submitit caps its parallelism (8) at the 2 jobs there are
    for line in ("#SBATCH --partition=gpu", "#SBATCH --time=240", "#SBATCH --gpus-per-node=1",
                 "#SBATCH --cpus-per-task=4", "#SBATCH --mem=16GB", "#SBATCH --array=0-1%2", "module load cuda",
                 "submitit.core._submit"):
        assert line in script, (line, script)
