"""Job claims: one live owner per job folder; a dead owner's claim is taken over by exactly one contender; the
owner is named to the others; a claim file that cannot be a claim never crashes or blocks; GPUs are handed out
one job at a time.

The tests with threads and processes wait for what the code does (a touched file, a job that looked for a GPU,
every contender having looked), never for a span of wall-clock time; a bound on such a wait only keeps a broken
run from hanging the session."""

from __future__ import annotations

import json
import multiprocessing
import os
import socket
import subprocess
import sys
import threading
import time

import pytest

from se_variants.runner import claims
from se_variants.runner.claims import CLAIM_FILE, Claim, ClaimError, Owner, acquire, owner_of


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _write_claim(folder, **fields):
    folder.mkdir(parents=True, exist_ok=True)
    data = {"host": socket.gethostname(), "pid": os.getpid(), "started": time.time(), "token": "t0",
            "process_start": None, **fields}
    (folder / CLAIM_FILE).write_text(json.dumps(data))


def test_claim_release_and_busy(tmp_path):
    claim = acquire(tmp_path / "job")
    assert isinstance(claim, Claim) and (tmp_path / "job" / CLAIM_FILE).is_file()
    data = json.loads((tmp_path / "job" / CLAIM_FILE).read_text())
    assert data["host"] == socket.gethostname() and data["pid"] == os.getpid()
    assert owner_of(tmp_path / "job").pid == os.getpid()
    other = acquire(tmp_path / "job")  # the owner (this process) is alive: busy
    assert isinstance(other, Owner) and other.token == claim.owner.token
    assert f"{socket.gethostname()}:{os.getpid()}" in other.describe()
    claim.release()
    assert not (tmp_path / "job" / CLAIM_FILE).exists() and owner_of(tmp_path / "job") is None


def test_a_dead_owner_is_taken_over(tmp_path):
    _write_claim(tmp_path / "job", pid=_dead_pid(), token="dead")
    assert owner_of(tmp_path / "job") is None
    claim = acquire(tmp_path / "job")
    assert isinstance(claim, Claim) and claim.stale is not None and claim.stale.token == "dead"
    claim.release()


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="reads process states from /proc")
def test_an_ended_owner_not_yet_reaped_is_dead(tmp_path):
    """A process that has ended but is not reaped yet (a zombie: a killed worker whose parent died with it waits
    for init) holds no claim: the next run takes its job over at once, instead of waiting for it."""
    def state(pid: int) -> bytes:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0]

    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    try:
        deadline = time.monotonic() + GUARD_S
        while state(proc.pid) != b"Z" and time.monotonic() < deadline:
            time.sleep(0.01)  # until it has exited (not reaped: nobody waits for it yet)
        assert state(proc.pid) == b"Z", "the child never ended"
        _write_claim(tmp_path / "job", pid=proc.pid, process_start=claims._process_start(proc.pid), token="zombie")
        assert owner_of(tmp_path / "job") is None
        claim = acquire(tmp_path / "job")
        assert isinstance(claim, Claim) and claim.stale.token == "zombie", claim
        claim.release()
    finally:
        proc.wait()


def test_a_recycled_pid_does_not_keep_a_claim_alive(tmp_path):
    """Same pid, but another process start time: the claim's owner is gone."""
    _write_claim(tmp_path / "job", pid=os.getpid(), process_start="1")
    assert isinstance(acquire(tmp_path / "job"), Claim)


def test_claims_of_other_hosts_live_by_heartbeat(tmp_path, monkeypatch):
    _write_claim(tmp_path / "job", host="node-that-is-not-here", pid=1)
    assert isinstance(acquire(tmp_path / "job"), Owner)  # touched just now: alive
    old = time.time() - claims.STALE_AFTER_S - 5
    os.utime(tmp_path / "job" / CLAIM_FILE, (old, old))
    claim = acquire(tmp_path / "job")
    assert isinstance(claim, Claim) and claim.stale.host == "node-that-is-not-here"
    claim.release()


#: the bound on a wait for something the code under test does (a guard against a hang, never a verdict)
GUARD_S = 120.0


def test_the_heartbeat_touches_the_claim(tmp_path, monkeypatch):
    """A held claim is touched again and again while its job runs (here every 0.05 s): its modification time,
    set far into the past, comes back to the present."""
    monkeypatch.setattr(claims, "HEARTBEAT_S", 0.05)
    claim = acquire(tmp_path / "job")
    path = tmp_path / "job" / CLAIM_FILE
    _age(path, 3600)
    old = path.stat().st_mtime
    deadline = time.monotonic() + GUARD_S
    while path.stat().st_mtime == old and time.monotonic() < deadline:
        time.sleep(0.01)  # until the heartbeat thread touches it
    assert path.stat().st_mtime > old + 3000
    claim.release()


def _contend(folder: str, start, looked, queue) -> None:
    start.wait(GUARD_S)  # all at once
    result = acquire(folder)
    queue.put(isinstance(result, Claim))
    looked.wait(GUARD_S)  # hold it (alive) until every contender has looked


def test_exactly_one_of_many_contenders_takes_over_a_stale_claim(tmp_path):
    """Six processes find the claim of a dead owner at once: exactly one takes it over, the others see it held
    (the winner lives until all six have looked, so no later look can find it dead again)."""
    _write_claim(tmp_path / "job", pid=_dead_pid(), token="dead")
    ctx = multiprocessing.get_context("fork")
    queue, start, looked = ctx.Queue(), ctx.Barrier(6), ctx.Event()
    procs = [ctx.Process(target=_contend, args=(str(tmp_path / "job"), start, looked, queue)) for _ in range(6)]
    for p in procs:
        p.start()
    try:
        won = [queue.get(timeout=GUARD_S) for _ in procs]
    finally:
        looked.set()
        for p in procs:
            p.join(GUARD_S)
    assert sum(won) == 1, won


def test_gpus_are_handed_out_one_job_each(tmp_path, monkeypatch):
    """Without GPUs here, the device each job would get: two jobs on a 2-GPU machine get GPU 0 and GPU 1; a third
    waits until one ends; CPU jobs hold nothing."""
    import torch

    from se_variants.runner import devices

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    monkeypatch.setattr(devices, "LOCK_DIR", tmp_path / "locks")
    waiting = threading.Event()

    class Clock:
        """The devices module's time: tells the test when a job, having found no free GPU, waits for one."""

        @staticmethod
        def sleep(seconds: float) -> None:
            waiting.set()
            time.sleep(seconds)

    monkeypatch.setattr(devices, "time", Clock)
    gpu = {"trainer": {"accelerator": "gpu", "devices": 1}}
    with devices.claim_gpus(gpu) as first, devices.claim_gpus(gpu) as second:
        assert (first, second) == ([0], [1])
        got = []

        def third_job():
            with devices.claim_gpus(gpu, poll_s=0.05) as ids:
                got.append(ids)

        third = threading.Thread(target=third_job)
        third.start()
        assert waiting.wait(GUARD_S), "the third job never waited"
        assert got == []  # it looked, found both GPUs held, and waits
    third.join(GUARD_S)
    assert not third.is_alive() and got and got[0] in ([0], [1]), got
    with devices.claim_gpus({"trainer": {"accelerator": "cpu", "devices": 2}}) as none:
        assert none == []
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3,5")
    assert devices.visible_gpus() == ["3", "5"]


def test_local_parallelism(monkeypatch):
    import torch

    from se_variants.runner.launcher_choice import local_jobs

    cores = len(os.sched_getaffinity(0))
    assert local_jobs(1, "cpu", 1) == cores and local_jobs(None, "cpu", 1) == 1
    assert local_jobs(cores, "cpu", 1) == 1
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 4)
    assert local_jobs(1, "gpu", 1) == 4 and local_jobs(1, "gpu", 2) == 2 and local_jobs(1, "auto", "auto") == 4


def test_a_requeued_slurm_job_takes_its_own_claim_over_at_once(tmp_path, monkeypatch):
    """A claim from another node with a fresh heartbeat is alive -- unless it was made by this very SLURM job
    before a requeue (a lower SLURM_RESTART_COUNT): the first run has ended."""
    _write_claim(tmp_path / "job", host="node-7", pid=1, job=["slurm:41_3", 0])
    monkeypatch.setenv("SLURM_ARRAY_JOB_ID", "41")
    monkeypatch.setenv("SLURM_ARRAY_TASK_ID", "3")
    monkeypatch.setenv("SLURM_RESTART_COUNT", "0")
    assert isinstance(acquire(tmp_path / "job"), Owner)  # the same run: alive
    monkeypatch.setenv("SLURM_ARRAY_TASK_ID", "4")
    monkeypatch.setenv("SLURM_RESTART_COUNT", "1")
    assert isinstance(acquire(tmp_path / "job"), Owner)  # another task of the array: alive
    monkeypatch.setenv("SLURM_ARRAY_TASK_ID", "3")
    claim = acquire(tmp_path / "job")  # task 3, requeued once
    assert isinstance(claim, Claim) and claim.stale.host == "node-7"
    assert json.loads((tmp_path / "job" / CLAIM_FILE).read_text())["job"] == ["slurm:41_3", 1]
    claim.release()


def _age(path, seconds: float) -> None:
    old = time.time() - seconds
    os.utime(path, (old, old))


def test_a_claim_file_that_is_not_a_claim_never_crashes(tmp_path):
    """Deeply nested, huge or malformed JSON in claim.json: young, it is taken as being written (alive); old,
    nobody holds it and it is taken over -- never a RecursionError in the report or after every job."""
    job = tmp_path / "job"
    job.mkdir()
    for content in ("[" * 100000 + "]" * 100000, '{"host": "x"}', '"a string"', '{"host": "h", "pid": "nope"}'):
        (job / CLAIM_FILE).write_text(content)
        assert owner_of(job) is not None  # just written: its owner may still be writing it
        _age(job / CLAIM_FILE, 120)
        assert owner_of(job) is None
        claim = acquire(job)
        assert isinstance(claim, Claim)
        claim.release()


def test_a_folder_where_the_claim_belongs_is_named(tmp_path):
    (tmp_path / "job" / CLAIM_FILE).mkdir(parents=True)
    with pytest.raises(ClaimError, match="claim.json is a folder"):
        acquire(tmp_path / "job")
    with pytest.raises(ClaimError, match="remove it"):
        owner_of(tmp_path / "job")


def test_without_process_start_times_a_live_pid_holds_its_claim_by_heartbeat(tmp_path, monkeypatch):
    """Where /proc gives no start time, a pid that exists could be a recycled one: it holds the claim while the
    heartbeat is fresh, not forever."""
    monkeypatch.setattr(claims, "_process_start", lambda pid: None)
    _write_claim(tmp_path / "job", pid=os.getpid(), process_start=None)
    assert isinstance(acquire(tmp_path / "job"), Owner)  # fresh heartbeat: alive
    _age(tmp_path / "job" / CLAIM_FILE, claims.STALE_AFTER_S + 60)
    claim = acquire(tmp_path / "job")
    assert isinstance(claim, Claim) and claim.stale.pid == os.getpid()
    claim.release()
