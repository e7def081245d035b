"""Exact resume: a job killed (SIGKILL, SIGTERM, SIGINT) after epoch k and re-run ends with exactly the metrics
of an uninterrupted run; one killed after its last epoch records complete metrics and every attempt; corrupt
checkpoints and records are set aside, named, and never block a job."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from se_variants.runner.hydra_app import compose
from se_variants.runner.job import run_job
from se_variants.runner.validate import check_config

from .conftest import CALLS_PER_EPOCH, SWEEP, run_cli, sweep_results

STAGES = ("train", "val", "test")


def _cfg(*overrides: str) -> dict:
    return check_config(compose(["trainer=smoke", "trainer.max_epochs=3", *overrides]), build=False)


def _same_numbers(a: dict, b: dict) -> None:
    """Every metric and every epoch of the history equal, bit for bit (latency and times are measurements)."""
    assert a["metrics"] == b["metrics"]
    assert a["history"] == b["history"]
    assert a["per_class"] == b["per_class"] and a["epochs"] == b["epochs"]


def test_a_sweep_killed_again_and_again_ends_with_the_uninterrupted_numbers(tmp_path, user_ops, reference_sweep):
    """SIGKILL of the whole sweep process at its 20th training call, then the same command again, until it
    finishes: job 1 dies in epoch 2 (resumes from epoch 2), job 2 in epoch 1 (resumes from epoch 1)."""
    two_jobs = [o if not o.startswith("seed=") else "seed=0,1" for o in SWEEP]
    args = ["train", "-m", *two_jobs, "hydra/launcher=basic", f"hydra.sweep.dir={tmp_path / 'sweep'}"]
    codes = []
    for _ in range(4):
        proc = run_cli(args, cwd=tmp_path, env={"SV_KILL_AT": "20"}, pythonpath=[user_ops])
        codes.append(proc.returncode)
        if proc.returncode == 0:
            break
    assert codes == [-signal.SIGKILL, -signal.SIGKILL, 0], codes
    results = sweep_results(tmp_path / "sweep")
    assert len(results) == 2 and set(results) <= set(reference_sweep)
    for name, record in results.items():
        _same_numbers(record, reference_sweep[name])
        outcomes = [a["outcome"] for a in record["attempts"]]
        assert outcomes == ["killed", "ok"], (name, outcomes)
        assert record["wall_time_s"] >= record["attempts"][1]["wall_time_s"] > 0
    resumed_at = sorted(r["attempts"][1]["from_epoch"] for r in results.values())
    assert resumed_at == [1, 2]
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
    done = run_job(cfg, tmp_path / "job", quiet=True)
    started = done["attempts"][0]["started"]
    running = {**done, "status": "running", "metrics": {}, "finished": None, "wall_time_s": None,
               "attempts": [{**done["attempts"][0], "outcome": "running", "ended": None, "wall_time_s": None}]}
    for key in ("history", "per_class", "latency_ms", "world_size", "time_s"):
        running.pop(key, None)
    (tmp_path / "job" / "metrics.json").write_text(json.dumps(running))
    claim = {"host": socket.gethostname(), "pid": _dead_pid(), "started": 0.0, "token": "dead", "process_start": None}
    (tmp_path / "job" / "claim.json").write_text(json.dumps(claim))
    again = run_job(cfg, tmp_path / "job", quiet=True)
    assert again["status"] == "ok" and set(again["metrics"]) == set(STAGES)
    _same_numbers(again, done)
    assert [a["outcome"] for a in again["attempts"]] == ["killed", "ok"]
    assert again["attempts"][1]["from_epoch"] == 3 and again["started"] == started
    assert again["wall_time_s"] == pytest.approx(sum(a["wall_time_s"] or 0 for a in again["attempts"]), abs=1e-3)
    assert not (tmp_path / "job" / "claim.json").exists()  # released at the end


class _Signal:
    """Average pooling that sends its own process ``signum`` at training call ``at`` (once)."""

    calls = 0
    at = -1
    signum = signal.SIGTERM


@pytest.fixture
def signal_op():
    from se_variants import SQUEEZE, Descriptor
    from se_variants.squeeze import Squeeze

    class SignalPool(Squeeze):
        """Average pooling that signals its process once. Shapes: (N, C, H, W) → (N, 1, C, 1, 1)."""

        def __init__(self, channels: int):
            super().__init__(channels)
            self.descriptor = Descriptor(channels, 1, ("c",))

        def forward(self, x):
            if self.training and torch.is_grad_enabled():
                _Signal.calls += 1
                if _Signal.calls == _Signal.at:
                    os.kill(os.getpid(), _Signal.signum)
            return x.mean((2, 3), keepdim=True).unsqueeze(1)

    SQUEEZE.register("signal_pool")(SignalPool)
    handler = signal.getsignal(signal.SIGINT)
    yield
    SQUEEZE.unregister("signal_pool")
    signal.signal(signal.SIGINT, handler)  # Lightning ignores Ctrl-C for the rest of a process it saw one in


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_terminated_or_interrupted_job_resumes_exactly(signum, tmp_path, signal_op):
    cfg = {**_cfg(), "squeeze": {"name": "signal_pool"}}
    _Signal.calls, _Signal.at = 0, -1
    reference = run_job(cfg, tmp_path / "reference", quiet=True)
    _Signal.calls, _Signal.at, _Signal.signum = 0, 2 * 6 + 2, signum  # in epoch 2 (2 batches × 3 blocks each)
    with pytest.raises((SystemExit, KeyboardInterrupt)):
        run_job(cfg, tmp_path / "job", quiet=True)
    stopped = json.loads((tmp_path / "job" / "metrics.json").read_text())
    assert stopped["status"] == "failed" and stopped["attempts"][0]["outcome"] == "interrupted"
    _Signal.at = -1
    again = run_job(cfg, tmp_path / "job", quiet=True)
    assert again["status"] == "ok" and [a["outcome"] for a in again["attempts"]] == ["interrupted", "ok"]
    _same_numbers(again, reference)


def test_an_interrupted_single_run_says_how_to_resume_it(tmp_path, user_ops, reference_sweep):
    """`se-variants train` stopped by SIGTERM (as `kill` or `timeout` send; Ctrl-C takes the same path) in its second
    epoch: exit 130, the record says Interrupted, and the command it prints (its time-stamped folder as
    hydra.run.dir) resumes the job from epoch 1 to the numbers of the uninterrupted seed-0 job of the reference
    sweep."""
    argv = ["train", *[o if not o.startswith("seed=") else "seed=0" for o in SWEEP]]
    stopped = run_cli(argv, cwd=tmp_path, pythonpath=[user_ops],
                      env={"SV_KILL_AT": str(CALLS_PER_EPOCH + 2), "SV_KILL_SIGNAL": "TERM"})
    assert stopped.returncode == 130, stopped.stderr[-3000:]
    last = stopped.stderr.strip().splitlines()[-1]
    assert last.startswith("Interrupted.") and "Traceback" not in stopped.stderr
    resume = Path(last.split("hydra.run.dir=")[-1])
    assert resume.parent == tmp_path / "outputs" / "train"
    record = json.loads((resume / "metrics.json").read_text())
    assert record["error"]["type"] == "Interrupted" and record["attempts"][0]["outcome"] == "interrupted"
    assert run_cli([*argv, f"hydra.run.dir={resume}"], cwd=tmp_path, pythonpath=[user_ops]).returncode == 0
    again = json.loads((resume / "metrics.json").read_text())
    assert [a["outcome"] for a in again["attempts"]] == ["interrupted", "ok"] and again["attempts"][1]["from_epoch"] == 1
    (reference,) = [r for r in reference_sweep.values() if r["seed"] == 0]
    _same_numbers(again, reference)


def test_a_corrupt_checkpoint_is_set_aside_and_the_job_restarts(tmp_path):
    cfg = _cfg()
    reference = run_job(cfg, tmp_path / "reference", quiet=True)
    job = tmp_path / "job"
    first = run_job(cfg, job, quiet=True)
    record = json.loads((job / "metrics.json").read_text())
    (job / "metrics.json").write_text(json.dumps({**record, "status": "failed",
                                                  "error": {"type": "RuntimeError", "message": "crash"}}))
    ckpt = job / "checkpoints" / "last.ckpt"
    ckpt.write_bytes(ckpt.read_bytes()[:1000])  # truncated
    again = run_job(cfg, job, quiet=True)
    assert again["status"] == "ok" and first["status"] == "ok"
    note = " ".join(again["attempts"][-1]["notes"])
    assert "last.ckpt cannot be read" in note and "restarted from scratch" in note
    (moved,) = (job / "checkpoints").glob("last.ckpt.corrupt-*")
    assert moved.name in note and moved.stat().st_size == 1000
    _same_numbers(again, reference)  # from scratch, the same numbers


@pytest.mark.parametrize("text", ["", "[" * 100_000 + "]" * 100_000, '{"status": "ok", "started": 5}'],
                         ids=["empty", "nested", "wrong-types"])
def test_a_broken_record_never_blocks_a_job(text, tmp_path):
    """A broken metrics.json in the sweep (another job's, or this job's own) neither crashes nor blocks jobs: the
    job's own is moved aside (named in the new record), others are ignored when looking for finished results."""
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "metrics.json").write_text(text)
    (tmp_path / "job").mkdir()
    (tmp_path / "job" / "metrics.json").write_text(text)
    record = run_job(_cfg("trainer.max_epochs=1"), tmp_path / "job", results_root=tmp_path, quiet=True)
    assert record["status"] == "ok"
    assert "could not be trusted" in record["attempts"][0]["notes"][0]
    assert list((tmp_path / "job").glob("metrics.json.broken-*"))
