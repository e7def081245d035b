"""``se-variants <args>`` in a process of its own, forked from a process that has already imported the libraries.

A fresh ``python -m se_variants.cli`` spends seconds importing torch, Hydra and Lightning before it does anything,
and the runner tests start dozens of commands that must be processes of their own (a test signals or kills them,
or several run at once). Here each command is forked from the fork server the runner itself uses for its workers
(``launchers._worker_context``: a clean interpreter that imported the job's libraries and nothing else). The
forked command then becomes what ``python -u -m se_variants.cli <args>`` would be: a session and process group of
its own (``start_new_session``), the working folder, the exact environment and ``sys.path`` (the folder, then
``PYTHONPATH``), ``sys.argv``, stdin from /dev/null, stdout and stderr into pipes of this process, unbuffered; it
exits as Python would (``sys.exit(main())``: the code, 1 and a traceback for an error, atexit handlers run).

:class:`Command` is the part of :class:`subprocess.Popen` the tests use. The commands that must not import what
the fork server holds (e.g. a check that planning never imports Lightning) start a real interpreter instead.
"""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import threading
import time
from multiprocessing import reduction


def _command(args: list[str], cwd: str, env: dict[str, str], out: int, err: int) -> None:
    """In the forked process: become ``python -u -m se_variants.cli <args>`` and run it (never returns)."""
    os.setsid()
    for fd, target in ((out, 1), (err, 2)):
        os.dup2(fd, target)
        os.close(fd)
    sys.stdout = sys.__stdout__ = io.TextIOWrapper(io.FileIO(1, "w", closefd=False), encoding="utf-8",
                                                   write_through=True)
    sys.stderr = sys.__stderr__ = io.TextIOWrapper(io.FileIO(2, "w", closefd=False), encoding="utf-8",
                                                   errors="backslashreplace", write_through=True)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    os.chdir(cwd)
    os.environ.clear()
    os.environ.update(env)
    import se_variants.cli as cli

    extra = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    sys.path[:] = [cwd, *extra, *(p for p in sys.path if p not in ("", cwd, *extra))]
    sys.argv[:] = [cli.__file__, *args]
    _own_fork_server()
    code: int | str | None
    try:
        code = cli.main()
    except SystemExit as stop:
        code = stop.code
    except KeyboardInterrupt:  # (uncaught: Python ends the process by the signal itself)
        code = -signal.SIGINT
    except BaseException:  # noqa: BLE001  (printed as the interpreter would, exit 1)
        sys.excepthook(*sys.exc_info())
        code = 1
    import atexit

    atexit._run_exitfuncs()
    if isinstance(code, str):
        print(code, file=sys.stderr)
        code = 1
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    if code == -signal.SIGINT:
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGINT)
    os._exit(code or 0)


def _own_fork_server() -> None:
    """Start the command's fork server now, as a fork of this process, not as a fresh interpreter importing the
    runner's preload: this process is still what a fresh fork server is (it was forked from one, with those
    modules imported, and has run nothing since), and the server that multiprocessing then uses for the command's
    workers is its own, in its process group, ending with it, exactly as the one it would have started."""
    from multiprocessing import forkserver, util

    from se_variants.runner.launchers import _worker_context

    _worker_context()  # (the runner's preload list: already imported here)
    spawn = util.spawnv_passfds

    def fork_instead(path, args, passfds):
        if "multiprocessing.forkserver import main" not in args[-1]:
            return spawn(path, args, passfds)
        pid = os.fork()
        if pid:
            return pid
        try:
            for fd in map(int, os.listdir("/proc/self/fd")):  # (what spawning closes: all but these)
                if fd not in (0, 1, 2, *passfds):
                    try:
                        os.close(fd)
                    except OSError:
                        pass
            exec(args[-1], {"__name__": "__mp_main__"})
        finally:
            os._exit(0)

    util.spawnv_passfds = fork_instead
    try:
        forkserver.ensure_running()
    finally:
        util.spawnv_passfds = spawn


class _Fd:
    """A file descriptor handed to the forked process (the fork server passes it over its socket)."""

    def __init__(self, fd: int):
        self.fd = fd

    def __reduce__(self):
        return _detach, (reduction.DupFd(self.fd),)


def _detach(dup) -> int:
    return dup.detach()


class Command:
    """A command started by :func:`start`: ``pid``, ``stdout``/``stderr`` (text, read as it runs), ``poll``,
    ``wait``, ``communicate``, ``kill``/``terminate``/``send_signal`` and ``returncode`` (negative: the signal that
    ended it), as :class:`subprocess.Popen` has them."""

    def __init__(self, args: list[str], cwd: str, env: dict[str, str]):
        from se_variants.runner.launchers import _worker_context

        self.args = args
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        try:
            self._process = _worker_context().Process(
                target=_command, args=(list(args), str(cwd), dict(env), _Fd(out_w), _Fd(err_w)),
                name="se-variants-command")
            self._process.start()
        finally:
            os.close(out_w)
            os.close(err_w)
        self.pid = self._process.pid
        self.stdout = open(out_r, encoding="utf-8")
        self.stderr = open(err_r, encoding="utf-8")
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            self.returncode = self._process.exitcode
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        self._process.join(timeout)
        if self.poll() is None:
            raise subprocess.TimeoutExpired(self.args, timeout)
        return self.returncode

    def communicate(self, timeout: float | None = None) -> tuple[str, str]:
        """Read stdout and stderr to their ends (every process holding them has exited), then wait."""
        deadline = None if timeout is None else time.monotonic() + timeout
        texts = {}

        def read(stream):
            texts[stream] = "" if stream.closed else stream.read()

        readers = [threading.Thread(target=read, args=(s,), daemon=True) for s in (self.stdout, self.stderr)]
        for reader in readers:
            reader.start()
        for reader in readers:
            reader.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
            if reader.is_alive():
                raise subprocess.TimeoutExpired(self.args, timeout)
        self.wait(None if deadline is None else max(0.0, deadline - time.monotonic()))
        return texts[self.stdout], texts[self.stderr]

    def send_signal(self, sig: int) -> None:
        if self.poll() is None:
            os.kill(self.pid, sig)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)


def start(args: list[str], cwd, env: dict[str, str]) -> Command:
    """``se-variants <args>`` in ``cwd`` with exactly the environment ``env``, in a process of its own."""
    return Command(args, cwd, env)


def run(args: list[str], cwd, env: dict[str, str], timeout: float = 600) -> subprocess.CompletedProcess:
    """:func:`start`, then wait for it: its exit code and output, as :func:`subprocess.run` gives them."""
    command = start(args, cwd, env)
    try:
        out, err = command.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(command.pid, signal.SIGKILL)
        command.wait()
        raise
    return subprocess.CompletedProcess(command.args, command.returncode, out, err)
