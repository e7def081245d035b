"""Help where a user looks: ``se-variants train --help`` and ``ablate --help`` start with the command's own usage
(its flags, exit codes and examples), then list the config groups and their options -- not the whole config,
which ``--cfg job`` prints; a reader that stops early (``| head -n 20``) ends it quietly."""

from __future__ import annotations

import subprocess
import sys

import pytest

from se_variants.runner.commands import ablate_main, train_main

from .conftest import cli_env

FLAGS = {"train": ["-m, --multirun", "--dry-run", "-cd, --config-dir DIR", "--confirm K", "-h, --help"],
         "ablate": ["--dry-run", "-cd, --config-dir DIR", "-h, --help"]}
COMMANDS = {"train": train_main, "ablate": ablate_main}


@pytest.mark.parametrize("flag", ["--help", "-h"])
@pytest.mark.parametrize("name", ["train", "ablate"])
@pytest.mark.slow
def test_help_starts_with_the_commands_usage_then_lists_the_config_groups(name, flag, capsys):
    assert COMMANDS[name]([flag]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    first = "\n".join(lines[:20])
    assert lines[0].startswith(f"usage: se-variants {name} ")
    assert all(f in first for f in FLAGS[name]), first  # what `--help | head -n 20` shows
    assert "exit codes:" in out and "2    a bad command line or config: nothing was trained" in out
    groups = out.index("config groups (group=option")
    assert out.index("exit codes:") < out.index("examples:") < groups
    listed = {line.split(":")[0] for line in out[groups:].splitlines() if ": " in line}
    assert {"block", "squeeze", "excite", "gate", "model", "data", "experiment", "trainer", "hydra/launcher"} <= listed
    assert "deterministic: true" not in out and len(lines) < 80  # the groups, not the composed config


def test_cfg_job_still_prints_the_composed_config(capsys):
    assert train_main(["--cfg", "job"]) == 0
    assert "deterministic: true" in capsys.readouterr().out
    assert ablate_main(["--cfg", "job"]) == 0
    assert "name: digits" in capsys.readouterr().out  # the default experiment's


@pytest.mark.slow
def test_help_lists_the_options_a_config_dir_adds(tmp_path, capsys):
    (tmp_path / "experiment").mkdir()
    (tmp_path / "experiment" / "mine_for_help.yaml").write_text("# @package _global_\nseed: 1\n")
    assert train_main(["--config-dir", str(tmp_path), "--help"]) == 0
    experiments = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("experiment: "))
    assert "mine_for_help" in experiments and "ablate_digits" in experiments


@pytest.mark.slow
def test_help_into_a_closed_pipe_or_head_ends_quietly(tmp_path):
    """``se-variants train --help | head -n 20`` shows the command's flags and no broken-pipe traceback; with the
    reader gone before anything is written (deterministic), the command exits 0 and says nothing."""
    gone = subprocess.Popen([sys.executable, "-m", "se_variants.cli", "train", "--help"], cwd=tmp_path, env=cli_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    gone.stdout.close()  # the reader leaves at once: every write of the command meets a closed pipe
    _, err = gone.communicate(timeout=600)
    assert gone.returncode == 0 and err == b"", err.decode()[-2000:]
    head = subprocess.run(f"{sys.executable} -m se_variants.cli train --help | head -n 20", shell=True, cwd=tmp_path,
                          env=cli_env(), capture_output=True, text=True, timeout=600)
    assert head.stderr == "" and all(f in head.stdout for f in FLAGS["train"]), head.stdout + head.stderr
