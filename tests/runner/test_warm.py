"""The tests' forked commands (tests/runner/warm.py) behave as ``python -m se_variants.cli`` does: the same exit
code and output, in the folder, environment and ``sys.path`` given, in a session of their own."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from . import warm
from .conftest import cli_env

pytestmark = pytest.mark.slow

COMMANDS = [
    ["train", "squeeze=maxx"],  # a bad option: exit 2 and the hint
    ["status", "missing"],  # a folder relative to the working folder
    ["train", "-m", "seed=0,1", "trainer=smoke", "hydra.sweep.dir=s", "--dry-run"],  # a plan, in the working folder
]


@pytest.mark.parametrize("args", COMMANDS, ids=lambda a: " ".join(a))
def test_a_forked_command_prints_and_exits_as_a_fresh_interpreter_does(args, tmp_path):
    env = cli_env({"SV_PROBE": "1"})
    fresh = subprocess.run([sys.executable, "-m", "se_variants.cli", *args], cwd=tmp_path, env=env,
                           capture_output=True, text=True, timeout=300)
    forked = warm.run(args, tmp_path, env)
    assert (forked.returncode, forked.stdout, forked.stderr) == (fresh.returncode, fresh.stdout, fresh.stderr)


PROBE = '''
import os, sys
print(os.getcwd(), os.getsid(0) == os.getpid(), os.environ.get("SV_PROBE"), os.environ.get("SV_OTHER"),
      sys.path.index(os.getcwd()), sys.path.index(os.environ["PROBE_PATH"]), sys.stdin.read() == "", flush=True)
'''


def test_a_forked_command_has_its_folder_environment_path_session_and_signals(tmp_path, monkeypatch):
    """What ``start_new_session`` and ``python -m`` give: its own session and process group, the working folder
    first on ``sys.path`` then ``PYTHONPATH``, exactly the environment given, an empty stdin; a signal that
    ends it is its exit code's negative, as :class:`subprocess.Popen` reports it."""
    ops = tmp_path / "ops"
    ops.mkdir()
    (ops / "sv_probe.py").write_text(PROBE)
    env = cli_env({"SV_PROBE": "yes", "PROBE_PATH": str(ops)}, [ops])
    monkeypatch.setenv("SV_OTHER", "not given")  # (in this process, after the environment was made)
    done = warm.run(["train", "imports=[sv_probe]", "trainer=smoke", "--dry-run"], tmp_path, env)
    assert done.stdout.splitlines()[0].split() == [str(tmp_path), "True", "yes", "None", "0", "1", "True"], \
        done.stdout + done.stderr[-2000:]
    (ops / "sv_hold.py").write_text("import time\nprint('holding', flush=True)\ntime.sleep(600)\n")
    hold = warm.start(["train", "imports=[sv_hold]", "trainer=smoke"], tmp_path, env)
    try:
        assert hold.stdout.readline() == "holding\n"
        assert hold.poll() is None and os.getpgid(hold.pid) == hold.pid
        os.killpg(hold.pid, signal.SIGKILL)
        assert hold.wait(timeout=60) == -signal.SIGKILL
    finally:
        if hold.poll() is None:
            hold.kill()
