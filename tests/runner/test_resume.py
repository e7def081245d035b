"""Exact resume: a job killed (SIGKILL) or stopped (SIGTERM, SIGINT) in an epoch and run again ends with exactly
the metrics of an uninterrupted run, every attempt recorded and timed; one killed after its last epoch records
complete metrics; corrupt checkpoints and records are set aside, named, and never block a job.

A command that is killed or stopped runs in a process of its own (the fault op signals it at a training call it
counts); the run that resumes it runs in this process."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
from datetime import datetime

import pytest

from se_variants.runner.configs import compose
from se_variants.runner.job import run_job
from se_variants.runner.validate import check_config

from .conftest import CALLS_PER_EPOCH, SWEEP, brief, briefs, error_type, run_cli, run_here, sweep_results, tail

pytestmark = pytest.mark.slow

STAGES = ("train", "val", "test")
#: SWEEP's seed-0 job as a single run (its numbers are the reference sweep's seed-0 job's)
SEED_0 = [o if not o.startswith("seed=") else "seed=0" for o in SWEEP]


def _cfg(*overrides: str) -> dict:
    return check_config(compose(["trainer=smoke", "trainer.max_epochs=3", *overrides]))


def _same_numbers(a: dict, b: dict) -> None:
    """Every metric and every epoch of the history equal, bit for bit (latency and times are measurements)."""
    assert a.get("metrics") == b.get("metrics"), (brief(a), brief(b))
    assert a.get("history") == b.get("history"), (a.get("history"), b.get("history"))
    assert a.get("per_class") == b.get("per_class") and a.get("epochs") == b.get("epochs"), (brief(a), brief(b))


def _timed(attempt: dict) -> None:
    """An attempt that ended -- killed ones included -- took some time and did not end before it started."""
    assert attempt.get("wall_time_s") is not None and attempt["wall_time_s"] > 0, attempt
    assert attempt.get("ended") and attempt.get("started"), attempt
    assert datetime.fromisoformat(attempt["ended"]) >= datetime.fromisoformat(attempt["started"]), attempt


def test_a_sweep_killed_again_and_again_ends_with_the_uninterrupted_numbers(tmp_path, user_ops, reference_sweep):
    """SIGKILL of the whole sweep process at its 20th training call, then the same command again: job 1 dies in
    epoch 3 (resumes from epoch 2), job 2 in epoch 2 (resumes from epoch 1); the third run finishes. Each killed
    attempt is timed up to the last sign of life of its process (here its last checkpoint): some time, never
    ending before it started."""
    two_jobs = [o if not o.startswith("seed=") else "seed=0,1" for o in SWEEP]
    args = ["train", "-m", *two_jobs, "hydra/launcher=basic", f"hydra.sweep.dir={tmp_path / 'sweep'}"]
    for _ in range(2):
        proc = run_cli(args, cwd=tmp_path, env={"SV_KILL_AT": "20"}, pythonpath=[user_ops])
        assert proc.returncode == -signal.SIGKILL, (proc.returncode, tail(proc.stderr),
                                                    briefs(sweep_results(tmp_path / "sweep")))
    done = run_here(args, user_ops)  # (killed no more: finishes)
    assert done.returncode == 0, tail(done.stderr)
    results = sweep_results(tmp_path / "sweep")
    assert len(results) == 2 and set(results) <= set(reference_sweep), briefs(results)
    for name, record in results.items():
        _same_numbers(record, reference_sweep[name])
        outcomes = [a["outcome"] for a in record["attempts"]]
        assert outcomes == ["killed", "ok"], (name, brief(record))
        killed, ok = record["attempts"]
        _timed(killed)
        _timed(ok)
        assert datetime.fromisoformat(killed["ended"]) <= datetime.fromisoformat(ok["started"]), brief(record)
        assert record["wall_time_s"] == pytest.approx(killed["wall_time_s"] + ok["wall_time_s"], abs=1e-3), \
            brief(record)
    resumed_at = sorted(r["attempts"][1]["from_epoch"] for r in results.values())
    assert resumed_at == [1, 2], briefs(results)
    assert 20 % CALLS_PER_EPOCH == 2  # the kills fall inside epochs, after the previous epoch's checkpoint


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_killed_after_the_last_epoch_records_complete_metrics(tmp_path):
    """The state a kill leaves after the last epoch's checkpoint and before the final record -- a running record,
    a claim of a dead process, a finished last.ckpt -- is resumed: complete train/val/test metrics, equal to the
    uninterrupted run, both attempts listed, wall time summed."""
    cfg = _cfg()
    done = run_job(cfg, tmp_path / "job")
    started = done["attempts"][0]["started"]
    running = {**done, "status": "running", "metrics": {}, "finished": None, "wall_time_s": None,
               "attempts": [{**done["attempts"][0], "outcome": "running", "ended": None, "wall_time_s": None}]}
    for key in ("history", "per_class", "latency_ms", "world_size", "time_s"):
        running.pop(key, None)
    (tmp_path / "job" / "metrics.json").write_text(json.dumps(running))
    claim = {"host": socket.gethostname(), "pid": _dead_pid(), "started": 0.0, "token": "dead", "process_start": None}
    (tmp_path / "job" / "claim.json").write_text(json.dumps(claim))
    again = run_job(cfg, tmp_path / "job")
    assert again["status"] == "ok" and set(again["metrics"]) == set(STAGES), brief(again)
    _same_numbers(again, done)
    assert [a["outcome"] for a in again["attempts"]] == ["killed", "ok"], brief(again)
    _timed(again["attempts"][0])
    assert again["attempts"][1]["from_epoch"] == 3 and again["started"] == started, brief(again)
    assert again["wall_time_s"] == pytest.approx(sum(a["wall_time_s"] or 0 for a in again["attempts"]), abs=1e-3), \
        brief(again)
    assert not (tmp_path / "job" / "claim.json").exists()  # released at the end


@pytest.mark.parametrize("signame", ["TERM", "INT"], ids=["SIGTERM", "SIGINT"])
def test_terminated_or_interrupted_job_resumes_exactly(signame, tmp_path, user_ops, reference_sweep):
    """`se-variants train` stopped in its second epoch by SIGTERM (as `kill` or `timeout` send it) or SIGINT
    (Ctrl-C): exit 130, no traceback, the record says Interrupted (its attempt timed), and the command it prints
    (its time-stamped folder as hydra.run.dir; run here, in the same folder) resumes the job from epoch 1 to the
    numbers of the uninterrupted seed-0 job of the reference sweep."""
    # (with Python's own Ctrl-C handler, however the test session was started: a shell starts background jobs,
    # `pytest &`, with SIGINT ignored, and a command then gets no handler -- tests/runner/warm.py installs it)
    stopped = run_cli(["train", *SEED_0], cwd=tmp_path, pythonpath=[user_ops], env={
        "SV_KILL_AT": str(CALLS_PER_EPOCH + 2), "SV_KILL_SIGNAL": signame, "SV_KILL_TARGET": "self"})
    assert stopped.returncode == 130, (stopped.returncode, tail(stopped.stderr))
    lines = stopped.stderr.strip().splitlines()
    assert lines and lines[-1].startswith("Interrupted.") and "Traceback" not in stopped.stderr, tail(stopped.stderr)
    printed = lines[-1].split("hydra.run.dir=")[-1]
    resume = tmp_path / printed  # (relative to the folder the command ran in, or absolute)
    assert resume.parent == tmp_path / "outputs" / "train", printed
    record = json.loads((resume / "metrics.json").read_text())
    assert record["status"] == "failed" and error_type(record) == "Interrupted", brief(record)
    assert record["attempts"][0]["outcome"] == "interrupted", brief(record)
    _timed(record["attempts"][0])
    assert not (resume / "claim.json").exists()  # released: the next run takes the job at once

    again = run_here(["train", *SEED_0, f"hydra.run.dir={printed}"], user_ops, cwd=tmp_path)  # the command it printed
    assert again.returncode == 0, tail(again.stderr)
    record = json.loads((resume / "metrics.json").read_text())
    assert [a["outcome"] for a in record["attempts"]] == ["interrupted", "ok"], brief(record)
    assert record["attempts"][1]["from_epoch"] == 1, brief(record)
    (reference,) = [r for r in reference_sweep.values() if r["seed"] == 0]
    assert record["config_hash"] == reference["config_hash"], (brief(record), brief(reference))
    _same_numbers(record, reference)


def test_a_corrupt_checkpoint_is_set_aside_and_the_job_restarts(tmp_path):
    cfg = _cfg()
    reference = run_job(cfg, tmp_path / "reference")
    job = tmp_path / "job"
    first = run_job(cfg, job)
    record = json.loads((job / "metrics.json").read_text())
    (job / "metrics.json").write_text(json.dumps({**record, "status": "failed",
                                                  "error": {"type": "RuntimeError", "message": "crash"}}))
    ckpt = job / "checkpoints" / "last.ckpt"
    ckpt.write_bytes(ckpt.read_bytes()[:1000])  # truncated
    again = run_job(cfg, job)
    assert again["status"] == "ok" and first["status"] == "ok", (brief(again), brief(first))
    note = " ".join(again["attempts"][-1]["notes"])
    assert "last.ckpt cannot be read" in note and "restarted from scratch" in note
    (moved,) = (job / "checkpoints").glob("last.ckpt.corrupt-*")
    assert moved.name in note and moved.stat().st_size == 1000
    _same_numbers(again, reference)  # from scratch, the same numbers


@pytest.mark.parametrize("text", ["", "[" * 100_000 + "]" * 100_000, '{"status": "ok", "started": 5}'],
                         ids=["empty", "nested", "wrong-types"])
def test_a_broken_record_never_blocks_a_job(text, tmp_path, monkeypatch, sv):
    """A broken metrics.json in the sweep folder (another job's, or this job's own) neither crashes nor blocks the
    sweep: the job's own is moved aside (named in the new record), another's is left alone and named as not
    counted."""
    from se_variants.runner.args import parse_args
    from se_variants.runner.plan import make_plan

    monkeypatch.chdir(tmp_path)
    argv = ["-m", "seed=0", "trainer=smoke", "hydra/launcher=basic", f"hydra.sweep.dir={tmp_path / 's'}"]
    (job,) = make_plan(parse_args(argv)).jobs
    for folder in (tmp_path / "s" / "other", job.folder):
        folder.mkdir(parents=True)
        (folder / "metrics.json").write_text(text)
    code, out, err = sv("train", *argv)
    assert code == 0 and "1 of 1 jobs ok" in out, (out, tail(err, 2000))
    record = json.loads((job.folder / "metrics.json").read_text())
    assert record["status"] == "ok", brief(record)
    assert "could not be trusted" in record["attempts"][0]["notes"][0], brief(record)
    (moved,) = job.folder.glob("metrics.json.broken-*")
    assert moved.read_text() == text and moved.name in record["attempts"][0]["notes"][0]
    assert (tmp_path / "s" / "other" / "metrics.json").read_text() == text
    assert f"broken record, not counted: {tmp_path / 's' / 'other' / 'metrics.json'}" in err
