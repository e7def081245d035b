"""Fixtures for the runner tests: small datasets in the real on-disk formats (nothing downloads), a helper
module with a user-registered op that injects faults, the runner's entry points in a process of their own (forked
warm: warm.py) or in this process, and a reference sweep run once per session."""

from __future__ import annotations

import contextlib
import io
import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from . import warm

REPO = Path(__file__).resolve().parents[2]


def write_cifar(root: Path, which: str, n_train: int = 40, n_test: int = 20, seed: int = 0) -> Path:
    """A small CIFAR release in the python-pickle format (``data`` (N, 3072) uint8, ``labels``/``fine_labels``)."""
    rng = np.random.default_rng(seed)
    classes = 10 if which == "cifar10" else 100
    if which == "cifar10":
        files = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
        folder, key = root / "cifar-10-batches-py", "labels"
    else:
        folder, files, key = root / "cifar-100-python", ["train", "test"], "fine_labels"
    folder.mkdir(parents=True, exist_ok=True)
    for name in files:
        n = n_test if "test" in name else n_train
        batch = {"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
                 key: [int(i % classes) for i in range(n)], "batch_label": name}
        with open(folder / name, "wb") as f:
            pickle.dump(batch, f)
    return root


def write_imagefolder(root: Path, classes: int = 3, per_class: int = 10, size: int = 20, split: bool = True) -> Path:
    """A class-per-folder tree of PNG images: ``root/{train,val}/<class>/*.png`` (or ``root/<class>/*.png``)."""
    from PIL import Image

    rng = np.random.default_rng(0)
    parts = [("train", per_class), ("val", max(per_class // 2, 2))] if split else [(".", per_class)]
    for part, count in parts:
        for c in range(classes):
            d = root / part / f"class_{c}"
            d.mkdir(parents=True, exist_ok=True)
            for i in range(count):
                pixels = rng.integers(0, 256, (size, size + 4, 3), dtype=np.uint8)
                Image.fromarray(pixels).save(d / f"img_{i}.png")
    return root


@pytest.fixture(scope="session")
def data_root(tmp_path_factory) -> Path:
    """One folder holding tiny cifar10, cifar100 and imagefolder trees."""
    root = tmp_path_factory.mktemp("data")
    write_cifar(root, "cifar10")
    write_cifar(root, "cifar100", n_train=300)  # one train file: 3 images per class
    write_imagefolder(root / "imagefolder")
    return root


@pytest.fixture(autouse=True)
def _one_thread(single_thread):
    """The test machine is shared and the models are tiny: one torch thread (tests/conftest.py)."""


FAULT_MODULE = '''
"""A user op and a user sampler for the runner tests, with faults injected by environment variables, so that a
job's config (and folder) is the same with and without them.

Squeeze ``fault`` is average pooling (like squeeze=avg):

* SV_FAIL_SEED=<seed>: training raises while the job's seed is <seed>;
* SV_KILL_AT=<n>: at this process's n-th training call, send SV_KILL_SIGNAL (KILL, TERM or INT; default KILL) to
  SV_KILL_TARGET: ``self`` (default: the process training the job), ``group`` (its whole process group: a sweep and
  its workers) or ``parent`` (from a worker: the sweep command alone, as `kill <pid>` or `timeout` would); with
  SV_MARK=<path>, the file <path> is created just before the signal is sent; with SV_KILL_WAIT=1 the sender then
  trains no further until it is stopped itself (its stop comes from the signal's receiver);
* SV_HOLD_SEED=<seed>: the job of that seed waits at its first training call until the file SV_MARK exists;
* SV_HOLD_AT=<n> and SV_HOLD_FILE=<path>: at this process's n-th training call, wait until <path> exists (a test
  releases the job by creating it);
* SV_STOP_AT_RESULT=<seed>: in a worker process, the job of that seed, as it is about to write its finished
  result, creates the file SV_MARK and waits -- its result unwritten -- until the command's launcher stops it;
* SV_KILL_AT_CHECK=<n>: at this process's n-th call in a planner's check of a model (a no-grad forward in training
  mode: only the command that plans does that), SIGKILL the process group.
Every wait is for an event of the run under test; GUARD_S only keeps a broken run from hanging the test session
(the fault then raises, and the test fails). No fault fires in no-grad passes unless SV_KILL_AT_CHECK says so, so
the planner's check of the model passes.

Sampler ``fault`` is TPE (``hydra.sweeper.sampler.name=fault``, with TPE's seed and n_startup_trials):

* SV_KILL_IN_ASK=<n>: at this process's n-th trial asked or taken over (before any parameter is drawn), SIGKILL
  the process group;
* SV_KILL_IN_TELL=<n>: at this process's n-th trial told (before the study stores it), SIGKILL the process group;
* SV_RAISE_IN_ASK=<n>: raise RuntimeError at this process's n-th trial asked.
"""
import multiprocessing
import os
import signal
import time
from pathlib import Path

import torch

from se_variants import SQUEEZE, Descriptor
from se_variants.runner.registries import SAMPLER
from se_variants.squeeze import Squeeze

CALLS = [0]
HOLDS = [0]
CHECK_CALLS = [0]
SAMPLER_CALLS = {"ask": 0, "tell": 0}
GUARD_S = 600.0


def _wait(done, what):
    deadline = time.monotonic() + GUARD_S
    while not done():
        if time.monotonic() > deadline:
            raise RuntimeError(f"sv_test_ops: gave up waiting for {what}")
        time.sleep(0.02)


def _mark():
    if os.environ.get("SV_MARK"):
        Path(os.environ["SV_MARK"]).touch()


def _kill(signum=signal.SIGKILL, target="group"):
    _mark()
    if target == "group":
        os.killpg(os.getpgid(0), signum)
    else:
        parent = multiprocessing.parent_process()  # (a forked worker's own parent is its fork server)
        os.kill((parent.pid if parent else os.getppid()) if target == "parent" else os.getpid(), signum)


@SQUEEZE.register("fault")
class Fault(Squeeze):
    """Average pooling that fails or kills on request (tests only). Shapes: (N, C, H, W) -> (N, 1, C, 1, 1)."""

    def __init__(self, channels: int):
        super().__init__(channels)
        self.descriptor = Descriptor(channels, 1, ("c",))
        self.seed = torch.initial_seed()  # the job's seed: models are built right after seeding

    def forward(self, x):
        if torch.is_grad_enabled() and self.training:
            if os.environ.get("SV_FAIL_SEED") == str(self.seed):
                raise RuntimeError(f"injected failure (SV_FAIL_SEED={self.seed})")
            if os.environ.get("SV_HOLD_SEED") == str(self.seed):
                _wait(lambda: Path(os.environ["SV_MARK"]).exists(), "SV_MARK")
            if os.environ.get("SV_KILL_AT"):
                CALLS[0] += 1
                if CALLS[0] == int(os.environ["SV_KILL_AT"]):
                    _kill(getattr(signal, "SIG" + os.environ.get("SV_KILL_SIGNAL", "KILL")),
                          os.environ.get("SV_KILL_TARGET", "self"))
                    if os.environ.get("SV_KILL_WAIT"):
                        _wait(lambda: False, "this process to be stopped")
            if os.environ.get("SV_HOLD_AT"):
                HOLDS[0] += 1
                if HOLDS[0] == int(os.environ["SV_HOLD_AT"]):
                    _wait(lambda: os.path.exists(os.environ["SV_HOLD_FILE"]), "SV_HOLD_FILE")
        elif self.training and os.environ.get("SV_KILL_AT_CHECK"):
            CHECK_CALLS[0] += 1
            if CHECK_CALLS[0] == int(os.environ["SV_KILL_AT_CHECK"]):
                _kill()
        return x.mean((2, 3), keepdim=True).unsqueeze(1)


def _at(event):
    SAMPLER_CALLS[event] += 1
    return SAMPLER_CALLS[event]


@SAMPLER.register("fault")
def fault(space, *, seed: int | None = None, n_startup_trials: int = 10):
    """TPE that kills or raises on request (tests only)."""
    import optuna

    class FaultTPE(optuna.samplers.TPESampler):
        def before_trial(self, study, trial):
            n = _at("ask")
            if os.environ.get("SV_KILL_IN_ASK") == str(n):
                _kill()
            if os.environ.get("SV_RAISE_IN_ASK") == str(n):
                raise RuntimeError(f"injected sampler failure (SV_RAISE_IN_ASK={n})")
            super().before_trial(study, trial)

        def after_trial(self, study, trial, state, values):
            if os.environ.get("SV_KILL_IN_TELL") == str(_at("tell")):
                _kill()
            super().after_trial(study, trial, state, values)

    return FaultTPE(seed=seed, n_startup_trials=n_startup_trials)


if os.environ.get("SV_STOP_AT_RESULT") and multiprocessing.parent_process() is not None:
    from se_variants.runner import job as _job

    _write_json = _job.write_json

    def _write_json_or_wait(path, data, *args, **kwargs):
        if isinstance(data, dict) and data.get("status") == "ok" and \
                str(data.get("seed")) == os.environ["SV_STOP_AT_RESULT"]:
            _mark()
            _wait(lambda: False, "the launcher to stop this worker")
        return _write_json(path, data, *args, **kwargs)

    _job.write_json = _write_json_or_wait
'''


@pytest.fixture(scope="session")
def user_ops(tmp_path_factory) -> Path:
    """A folder holding ``sv_test_ops.py`` (registers squeeze ``fault`` and sampler ``fault``), to put on
    PYTHONPATH."""
    folder = tmp_path_factory.mktemp("user_ops")
    (folder / "sv_test_ops.py").write_text(FAULT_MODULE)
    return folder


def _registries() -> list:
    from se_variants import registry as parts
    from se_variants.runner import registries as runner

    return [r for module in (parts, runner) for r in vars(module).values() if isinstance(r, parts.Registry)]


@contextlib.contextmanager
def ops_in_process(user_ops: Path, env: dict[str, str] | None = None):
    """The modules of the folder ``user_ops`` importable in this process (for sweeps run in-process, e.g.
    ``imports=[sv_test_ops]``) and the fault variables in ``env`` set; afterwards every entry they registered is
    unregistered and the modules are forgotten, so that the registries of later tests are the library's own (a
    later import registers them again)."""

    def from_folder(module) -> bool:
        return Path(getattr(module, "__file__", None) or "/").parent == user_ops

    with pytest.MonkeyPatch.context() as mp:
        mp.syspath_prepend(str(user_ops))
        for key, value in (env or {}).items():
            mp.setenv(key, value)
        try:
            yield
        finally:
            for registry in _registries():
                for name in registry.names():
                    if from_folder(sys.modules.get(getattr(registry.entry(name).factory, "__module__", ""))):
                        registry.unregister(name)
            for name, module in list(sys.modules.items()):
                if from_folder(module):
                    del sys.modules[name]


def in_process(argv: list[str]) -> tuple[int, str, str]:
    """``se-variants <argv>`` in this process: (exit code, stdout, stderr)."""
    from se_variants.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv))
    return code, out.getvalue(), err.getvalue()


class Done:
    """A finished command, as subprocess.CompletedProcess names its parts."""

    def __init__(self, returncode: int, stdout: str, stderr: str):
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr


def run_here(args: list[str], user_ops: Path | None = None, env: dict[str, str] | None = None,
             cwd: Path | None = None) -> Done:
    """``se-variants <args>`` in this process, as :func:`run_cli` runs it in a process of its own: with the test
    ops importable (here and in the processes the command starts: workers, submitit jobs), the fault variables in
    ``env`` set, in ``cwd``. For the commands a test does not signal: a signal that stops a command must reach a
    process of its own (:func:`run_cli`, :func:`start_cli`)."""
    extra = dict(env or {})
    if user_ops is not None:
        extra["PYTHONPATH"] = os.pathsep.join(filter(None, [str(user_ops), os.environ.get("PYTHONPATH")]))
    with contextlib.ExitStack() as stack:
        if user_ops is not None:
            stack.enter_context(ops_in_process(user_ops, extra))
        else:
            mp = stack.enter_context(pytest.MonkeyPatch.context())
            for key, value in extra.items():
                mp.setenv(key, value)
        if cwd is not None:
            stack.enter_context(pytest.MonkeyPatch.context()).chdir(cwd)
        return Done(*in_process(args))


def workers_in_group(pgid: int) -> list[int]:
    """The pids of the worker processes (and their fork server) alive in process group ``pgid``."""
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            cmdline = (proc / "cmdline").read_bytes()
            worker = b"spawn_main" in cmdline or b"multiprocessing.forkserver" in cmdline
            if worker and int(proc.name) != pgid and os.getpgid(int(proc.name)) == pgid:
                found.append(int(proc.name))
        except (OSError, ValueError):
            pass
    return found


def cli_env(env: dict[str, str] | None = None, pythonpath: list[Path] | None = None) -> dict[str, str]:
    full_env = {**os.environ, **(env or {}), "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}
    if pythonpath:
        full_env["PYTHONPATH"] = os.pathsep.join([*map(str, pythonpath), full_env.get("PYTHONPATH", "")])
    return full_env


def run_cli(args: list[str], cwd: Path, env: dict[str, str] | None = None,
            pythonpath: list[Path] | None = None) -> subprocess.CompletedProcess:
    """``se-variants <args>`` in ``cwd`` (a fresh folder, not the repo), in a process of its own forked from one
    that imported its libraries (:mod:`.warm`), and its output."""
    return warm.run(args, cwd, cli_env(env, pythonpath))


def start_cli(args: list[str], cwd: Path, env: dict[str, str] | None = None,
              pythonpath: list[Path] | None = None) -> warm.Command:
    """Start ``se-variants <args>`` in the background, in a process group of its own (so a test can kill the
    whole group, as a terminal's Ctrl-\\ or a cluster's scheduler would); forked as :func:`run_cli` is."""
    return warm.start(args, cwd, cli_env(env, pythonpath))


def first_line(proc: warm.Command, guard_s: float = 600.0) -> str:
    """The first line ``proc`` prints (its header: planning is over), "" if it exits first; ``guard_s`` only keeps
    a command that hangs silently from hanging the test session."""
    import select

    ready, _, _ = select.select([proc.stdout], [], [], guard_s)
    return proc.stdout.readline() if ready else ""


@pytest.fixture
def cifar_checksums(data_root, monkeypatch):
    """The generated CIFAR files stand in for the real release: their MD5s replace the published ones."""
    import hashlib

    from se_variants.runner.data import cifar

    sums = {which: {name: hashlib.md5((data_root / folder / name).read_bytes()).hexdigest() for name in names}
            for which, (folder, names) in {"cifar10": ("cifar-10-batches-py", cifar.CHECKSUMS["cifar10"]),
                                           "cifar100": ("cifar-100-python", cifar.CHECKSUMS["cifar100"])}.items()}
    monkeypatch.setattr(cifar, "CHECKSUMS", sums)
    return sums


#: a small sweep (3 jobs, 3 epochs of 3 batches) every launcher and resume test runs, and compares to one
#: uninterrupted sequential run of it (``reference_sweep``)
SWEEP = ["squeeze=fault", "seed=0,1,2", "imports=[sv_test_ops]", "trainer.max_epochs=3",
         "trainer.limit_train_batches=3", "trainer.limit_val_batches=2", "trainer.limit_test_batches=2",
         "checkpoint_every_s=0"]
#: training calls of the fault op per epoch of SWEEP (3 batches × 3 blocks of the depth-8 ResNet)
CALLS_PER_EPOCH = 9


def sweep_results(sweep: Path) -> dict[str, dict]:
    """job folder name → its metrics.json, for every job of a sweep folder."""
    import json

    return {p.parent.name: json.loads(p.read_text()) for p in sorted(sweep.glob("*/metrics.json"))}


#: the parts of a job record an assertion message shows (the whole record holds its config and history)
BRIEF = ("job", "status", "error", "attempts", "epochs", "metrics", "wall_time_s", "finished")


def brief(record) -> dict | object:
    """What an assertion on a job record shows when it fails: the record's status, error, attempts and metrics
    (the error without its traceback); anything that is not a record, as it is."""
    if not isinstance(record, dict):
        return record
    out = {k: record.get(k) for k in BRIEF if k in record}
    if isinstance(out.get("error"), dict):
        out["error"] = {k: v for k, v in out["error"].items() if k != "traceback"}
    return out


def briefs(records) -> list:
    """:func:`brief` of every record of a dict or list of them."""
    return [brief(r) for r in (records.values() if isinstance(records, dict) else records)]


def error_type(record: dict) -> str | None:
    """The type of a record's error, None when it has none (never a TypeError on an unexpected record)."""
    error = record.get("error") if isinstance(record, dict) else None
    return error.get("type") if isinstance(error, dict) else None


def error_message(record: dict) -> str:
    """The message of a record's error, "" when it has none."""
    error = record.get("error") if isinstance(record, dict) else None
    return str(error.get("message") or "") if isinstance(error, dict) else ""


def tail(text: str, n: int = 3000) -> str:
    """The end of a command's output, for an assertion message."""
    return (text or "")[-n:]


class Reference(dict):
    """job folder name → metrics.json of the reference sweep; ``folder`` is its sweep folder (read only)."""

    folder: Path


@pytest.fixture(scope="session")
def reference_sweep(user_ops, once) -> Reference:
    """SWEEP run once per test session, uninterrupted, one job after another (hydra/launcher=basic), in this
    process -- or read from the folder where another process of the session ran it (``once``)."""

    def make(folder: Path) -> Path:
        with ops_in_process(user_ops):
            code, _, err = in_process(["train", "-m", *SWEEP, "hydra/launcher=basic",
                                       f"hydra.sweep.dir={folder / 'sweep'}"])
        assert code == 0, tail(err)
        return folder / "sweep"

    sweep = once("reference", make, lambda folder: folder / "sweep")
    results = Reference(sweep_results(sweep))
    results.folder = sweep
    assert len(results) == 3 and all(r["status"] == "ok" for r in results.values()), briefs(results)
    return results


@pytest.fixture
def sv(capsys):
    """``sv("train", "seed=0", ...)`` runs a se-variants command in this process; returns (exit code, stdout,
    stderr)."""
    from se_variants.cli import main

    def run(*argv: str) -> tuple[int, str, str]:
        code = main(list(argv))
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run
