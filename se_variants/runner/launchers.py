"""Where a sweep's jobs run (``hydra/launcher=<name>``): each launcher takes the planned jobs and yields each job's
summary as it finishes, whatever happens to the process that ran it.

* ``basic``: one job after another in this process.
* ``workers`` (the default): worker processes on this machine, started once (forked from a server that imported
  the libraries once) and fed one job at a time. A worker that dies -- killed by the system when memory runs out,
  or by hand -- costs only the job it was training: that job is recorded as killed (the next run resumes it from
  its checkpoint) and a fresh worker takes the next job. Workers stop when the command stops, and stop themselves
  if it dies.
* ``processes`` and ``slurm``: submitit's local and SLURM executors, a fresh process (or cluster job) per job;
  ``processes`` runs ``n_jobs`` at once, SLURM an array throttled by ``array_parallelism``; a SLURM job that hits
  its time limit or is preempted is requeued and resumes from its checkpoint. :meth:`Submitit.submit` hands jobs
  over without waiting for them (``--no-wait``); ``on_submit`` hears the ids of every job handed over.

Every launcher runs :func:`.task.execute`, so a job gives the same numbers wherever it runs.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace
from multiprocessing.connection import wait
from pathlib import Path
from typing import Any

from .tables import one_line
from .plans import Job
from .redact import join_secrets, split_secrets
from .task import execute, lost, stopped

__all__ = ["Launcher", "Basic", "Workers", "Submitit", "open_launcher"]


class _Feed:
    """The jobs to run, taken one at a time when a slot is free: a search asks for its next trial only then."""

    def __init__(self, jobs: Iterable[Job]):
        self._it = iter(jobs)
        self._back: list[Job] = []
        self.done = False

    def take(self) -> Job | None:
        if self._back:
            return self._back.pop()
        if self.done:
            return None
        job = next(self._it, None)
        self.done = job is None
        return job

    def put_back(self, job: Job) -> None:
        self._back.append(job)


class Launcher:
    """Runs jobs; :meth:`run` takes them lazily from any iterable (one when a slot is free) and yields
    ``(job, summary)`` as each finishes; :meth:`close` stops what is left. A launcher whose jobs have ids in a
    queue (submitit's) calls ``on_submit(jobs, ids)`` when it hands jobs over."""

    name = "basic"
    on_submit: Callable[[list[Job], list[str]], None] | None = None

    def run(self, jobs: Iterable[Job]) -> Iterator[tuple[Job, dict[str, Any]]]:
        raise NotImplementedError

    def close(self, interrupted: bool = False) -> str | None:
        """Stop (after an interrupt: at once); returns a note for the user, if any."""
        return None


class Basic(Launcher):
    """One job after another in this process (progress bars when the output is a terminal)."""

    def __init__(self, progress_bar: bool = False):
        self.progress_bar = progress_bar
        self.current: Job | None = None

    def run(self, jobs: Iterable[Job]) -> Iterator[tuple[Job, dict[str, Any]]]:
        for job in jobs:
            self.current = job
            result = execute(job, progress_bar=self.progress_bar)
            self.current = None
            yield job, result

    def close(self, interrupted: bool = False) -> str | None:
        if interrupted and self.current is not None:  # stopped in its job: the record says so
            stopped(self.current, _STOPPED)
        self.current = None
        return None


#: why a job stopped by an interrupt that could not record it itself is Interrupted (see :func:`.task.stopped`)
_STOPPED = "stopped before it finished; run the command again to resume it from its last checkpoint"
#: how long workers have to stop after an interrupt (after the end of a sweep) before they are killed
_STOP_S, _END_S = 30.0, 60.0

# ------------------------------------------------------------------------------------------------- workers


def _raise_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signal.Signals(signum).name}")


def _watch_parent(parent: int) -> None:
    """Stop this worker (as SIGTERM does: the job records the interrupt) once its parent is gone -- the command
    that started it, or the fork server, which ends with that command -- so that no worker trains on unattended."""
    while os.getppid() == parent:
        time.sleep(1.0)
    os.kill(os.getpid(), signal.SIGTERM)


def _limit_blas(threads: int) -> None:
    """numpy's BLAS read its thread count from the environment when it was loaded -- in a forked worker, that of
    the fork server -- so it is set here, as for the job's torch (scikit-learn's threadpoolctl; skipped without)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return
    threadpool_limits(limits=threads, user_api="blas")


def _serve(conn: Any, environ: dict[str, str], threads: int | None) -> None:
    """A worker: run the jobs it is sent, one at a time, and send back their summaries; None ends it. It runs in
    the command's environment as it was when the worker started (a forked worker would otherwise have its fork
    server's, from the first command of a Python session)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole process group: the command decides
    signal.signal(signal.SIGTERM, _raise_interrupt)
    try:  # (stopped while it starts, a worker has nothing to record: it ends quietly)
        threading.Thread(target=_watch_parent, args=(os.getppid(),), name="watch-parent", daemon=True).start()
        if environ != os.environ:
            os.environ.clear()
            os.environ.update(environ)
        if threads:  # (for the processes a job starts; torch's own threads are set by the job itself)
            os.environ.setdefault("OMP_NUM_THREADS", str(threads))
            _limit_blas(threads)
    except KeyboardInterrupt:
        return
    while True:
        try:
            job = conn.recv()
        except (EOFError, OSError, KeyboardInterrupt):
            return
        if job is None:
            return
        try:
            result = execute(job)
        except KeyboardInterrupt:  # the job recorded the interrupt; the command is stopping
            return
        finally:
            signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            conn.send(result)
        except (BrokenPipeError, OSError):
            return


#: what a fork server imports once for all the workers it forks (the libraries a job needs: torch, Lightning; and
#: threadpoolctl, with which a worker sets its BLAS threads -- a module that is missing is skipped)
_PRELOAD = ["se_variants.runner.job", "se_variants.runner.lit", "threadpoolctl"]


def _worker_context() -> Any:
    """Where the platform has it, the fork server: workers are forked from a clean process that imported the job's
    libraries once (a worker then starts in a fraction of a second and shares those pages), never from this
    process (a fork of it would copy its threads and torch state); otherwise spawn, a fresh interpreter each."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(_PRELOAD)  # (read when this Python process starts its fork server, once)
    return context


class _Worker:
    def __init__(self, context: Any, threads: int | None):
        self.conn, child = context.Pipe()
        self.process = context.Process(target=_serve, args=(child, dict(os.environ), threads), daemon=False,
                                       name="se-variants-worker")
        self.process.start()
        child.close()

    def alive(self) -> bool:
        return self.process.is_alive()


def _death(exitcode: int | None) -> str:
    if exitcode is not None and exitcode < 0:
        name = signal.Signals(-exitcode).name
        why = " (killed: out of memory, or by hand)" if name == "SIGKILL" else ""
        return f"the worker process training this job died of {name}{why}"
    return f"the worker process training this job exited with code {exitcode}"


class Workers(Launcher):
    """``n`` worker processes on this machine (see the module doc)."""

    name = "workers"

    def __init__(self, n: int, threads: int | None = None):
        self.n = max(1, n)
        self.threads = threads
        self.context = _worker_context()
        self.idle: list[_Worker] = []
        self.busy: dict[_Worker, Job] = {}

    def run(self, jobs: Iterable[Job]) -> Iterator[tuple[Job, dict[str, Any]]]:
        feed = _Feed(jobs)
        while True:
            while len(self.busy) < self.n:
                job = feed.take()
                if job is None:
                    break
                worker = self.idle.pop() if self.idle else _Worker(self.context, self.threads)
                try:
                    worker.conn.send(job)
                except (BrokenPipeError, OSError):  # it died while idle: start another for this job
                    feed.put_back(job)
                    continue
                self.busy[worker] = job
            if not self.busy:
                return
            ready = set(wait([w.conn for w in self.busy] + [w.process.sentinel for w in self.busy]))
            for worker in list(self.busy):
                result = None
                if worker.conn in ready or worker.process.sentinel in ready:
                    try:
                        if worker.conn.poll():
                            result = worker.conn.recv()
                    except (EOFError, OSError):
                        result = None
                    if result is not None:
                        job = self.busy.pop(worker)
                        self.idle.append(worker)
                        yield job, result
                    elif not worker.alive():
                        job = self.busy.pop(worker)
                        worker.process.join()
                        yield job, lost(job, f"{_death(worker.process.exitcode)}; run the command again to resume "
                                             f"it from its last checkpoint")

    def close(self, interrupted: bool = False) -> str | None:
        workers = [*self.idle, *self.busy]
        for w in workers:
            if interrupted and w.alive():
                w.process.terminate()  # SIGTERM: the job records the interrupt, the worker exits
            else:
                try:
                    w.conn.send(None)
                except (BrokenPipeError, OSError):
                    pass
        deadline = time.monotonic() + (_STOP_S if interrupted else _END_S)
        killed = set()
        for w in workers:
            w.process.join(max(0.0, deadline - time.monotonic()))
            if w.alive():
                w.process.kill()
                w.process.join()
                killed.add(w)
        if interrupted:  # the jobs they were training, whose workers have ended now: closed, whenever they stopped
            for w, job in self.busy.items():
                stopped(job, _STOPPED if w not in killed else
                        f"{_STOPPED} (its worker did not stop within {_STOP_S:.0f} s of the interrupt and was killed)")
        self.idle, self.busy = [], {}
        return None


# ------------------------------------------------------------------------------------------------- submitit


#: the environment variable a submitit job finds the secrets of its config in (its pickle holds them redacted)
SECRETS_ENV = "SE_VARIANTS_SECRETS"


class _SubmititTask:
    """What submitit runs for a job (picklable); requeued with the same job when SLURM stops it early. The job
    comes redacted (submitit writes it to a file) and gets its credentials back from the environment."""

    def __call__(self, job: Job) -> dict[str, Any]:
        secrets = json.loads(os.environ.get(SECRETS_ENV) or "{}")
        return execute(replace(job, config=join_secrets(job.config, secrets),
                               overrides=join_secrets(job.overrides, secrets)))

    def checkpoint(self, job: Job) -> Any:  # submitit's hook on timeout / preemption: run the job again
        import submitit

        return submitit.helpers.DelayedSubmission(self, job)


#: submitit's own names for the generic options (the others are passed as slurm_<key>)
_GENERIC = ("timeout_min", "nodes", "tasks_per_node", "cpus_per_task", "gpus_per_node", "mem_gb", "name",
            "stderr_to_stdout")
#: options submitit's SlurmExecutor takes when it is created, not through ``update_parameters``
_AT_CREATION = ("max_num_timeout",)
#: the launcher node's own keys: which launcher (and which Hydra launcher it stands for), not sbatch options
_OURS = ("name", "alias", "n_jobs")


def slurm_parameters(options: dict[str, Any]) -> dict[str, Any]:
    """The launcher node of ``hydra/launcher=slurm`` as submitit's ``update_parameters`` keywords."""
    out: dict[str, Any] = {}
    for key, value in options.items():
        if key in _OURS or key in _AT_CREATION or value is None or value == {} or value == []:
            continue
        out[key if key in _GENERIC else f"slurm_{key}"] = value
    out.setdefault("name", "se-variants")
    return out


class Submitit(Launcher):
    """submitit's local (``processes``) or SLURM (``slurm``) executor; jobs logs in ``<sweep>/.submitit/``."""

    def __init__(self, name: str, options: dict[str, Any], folder: Path, parallel: int | None):
        import submitit

        self.name = name
        self.folder = folder / ".submitit"
        cluster = "local" if name == "processes" else "slurm"
        at_creation = {f"slurm_{k}": options[k] for k in _AT_CREATION
                       if cluster == "slurm" and options.get(k) is not None}
        self.executor = submitit.AutoExecutor(folder=str(self.folder / "%j"), cluster=cluster, **at_creation)
        if cluster == "local":
            self.executor.update_parameters(timeout_min=options.get("timeout_min") or 1440)
        else:
            self.executor.update_parameters(**slurm_parameters(options))
        # local: n_jobs at once; SLURM: the whole sweep as one array (array_parallelism throttles it), unless a
        # search says how many trials run at once
        self.limit = parallel
        self.submitted: list[Any] = []
        self.secrets: dict[str, str] = {}

    def _submit(self, jobs: list[Job]) -> list[Any]:
        task = _SubmititTask()
        sealed = []
        for job in jobs:  # the files submitit writes hold no credential: they reach the job in its environment
            (config, overrides), secrets = split_secrets((job.config, job.overrides))
            self.secrets.update(secrets)
            sealed.append(replace(job, config=config, overrides=overrides))
        if self.secrets:
            os.environ[SECRETS_ENV] = json.dumps(self.secrets)
        if len(sealed) > 1 and self.limit is None:
            with self.executor.batch():  # one array job
                futures = [self.executor.submit(task, job) for job in sealed]
        else:
            futures = [self.executor.submit(task, job) for job in sealed]
        self.submitted += futures
        if self.on_submit is not None:
            self.on_submit(jobs, [str(f.job_id) for f in futures])
        return futures

    def submit(self, jobs: list[Job]) -> list[str]:
        """Hand every job over at once, without waiting for any (SLURM: one array, throttled by
        ``array_parallelism``); their ids (``12345_0``, ...)."""
        return [str(f.job_id) for f in self._submit(jobs)]

    def run(self, jobs: Iterable[Job]) -> Iterator[tuple[Job, dict[str, Any]]]:
        feed = _Feed(jobs)
        running: dict[Any, Job] = {}
        while True:
            batch = []
            while self.limit is None or len(running) + len(batch) < self.limit:
                job = feed.take()
                if job is None:
                    break
                batch.append(job)
            if batch:
                running.update(zip(self._submit(batch), batch))
            if not running:
                return
            done = [f for f in running if f.done()]
            if not done:
                time.sleep(0.5)
                continue
            for future in done:
                job = running.pop(future)
                try:
                    yield job, future.result()
                except Exception as err:  # the job's process failed or was killed: close its record
                    yield job, lost(job, f"submitit job {future.job_id} ended without a result ({type(err).__name__}: "
                                         f"{one_line(err, 400)}); run the command again to resume it; its log: "
                                         f"{self.folder}")

    def close(self, interrupted: bool = False) -> str | None:
        live = [f for f in self.submitted if not f.done()]
        if not interrupted or not live:
            return None
        ids = " ".join(str(f.job_id) for f in live)
        stop = (f"pkill -f '{self.folder.resolve()}'" if self.name == "processes" else f"scancel {ids}")
        return (f"{len(live)} job(s) already handed to submitit keep running (they are processes or cluster jobs of "
                f"their own); the next run of the command waits for them. To stop them: {stop}")


def open_launcher(name: str, options: dict[str, Any], folder: Path, parallel: int | None,
                  threads: int | None = None) -> Launcher:
    """The launcher ``name`` (``hydra/launcher=<name>``) with its options, for a sweep in ``folder``."""
    if name == "workers":
        return Workers(parallel or 1, threads)
    if name in ("processes", "slurm"):
        return Submitit(name, options, folder, parallel)
    return Basic(progress_bar=sys.stdout.isatty())
