"""Errors that must be clear and early: exit code 2, no traceback, the fix named, nothing trained -- for a
missing extra or launcher plugin, broken YAML, a user module that raises, a missing config folder, an output
folder that cannot be written, a GPU trainer without a GPU, batch limits that test nothing, data and optimizer options
that torch would reject in the job, and image folders
with an empty class (found before any job) or a corrupt image (named when it is read)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch

from se_variants.runner.train_cmd import main

from .conftest import cli_env, write_imagefolder


def _refused(argv: list[str], capsys, *expected: str) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err
    for text in expected:
        assert text in err, f"{text!r} not in: {err}"
    assert "Traceback" not in err
    return err


@pytest.fixture
def cwd(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.parametrize("hidden,expected", [("hydra", "hydra-core"), ("lightning", "lightning")])
def test_runner_commands_without_the_train_extra(hidden, expected, tmp_path):
    code = (f"import sys; sys.modules[{hidden!r}] = None\n"
            "from se_variants.cli import main\nsys.exit(main(['train', 'trainer=smoke']))")
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=cli_env(), capture_output=True, text=True)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert expected in proc.stderr and "pip install 'se-variants[train]'" in proc.stderr


def test_a_launcher_plugin_that_is_not_installed(cwd, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "hydra_plugins.hydra_submitit_launcher", None)
    _refused(["-m", "seed=0,1", "hydra/launcher=submitit_slurm"], capsys, "pip install 'se-variants[cluster]'")
    _refused(["-m", "seed=0,1", "hydra/launcher=processes"], capsys, "pip install 'se-variants[cluster]'")


def test_config_folders_missing_or_with_broken_yaml(cwd, capsys):
    _refused(["--config-dir", str(cwd / "nope"), "trainer=smoke"], capsys, "--config-dir", "no such folder")
    (cwd / "mine" / "experiment").mkdir(parents=True)
    (cwd / "mine" / "experiment" / "bad.yaml").write_text("trainer: {max_epochs: 2\nseed: 1\n")
    _refused(["--config-dir", str(cwd / "mine"), "experiment=bad"], capsys, "not valid YAML", "bad.yaml", "line")


def test_user_modules_that_raise_or_do_not_parse(cwd, capsys, monkeypatch):
    (cwd / "raising_ops.py").write_text("raise RuntimeError('registry full')\n")
    (cwd / "broken_ops.py").write_text("def op(:\n    pass\n")
    monkeypatch.syspath_prepend(str(cwd))
    _refused(["imports=[raising_ops]"], capsys, "imports", "raising_ops", "RuntimeError: registry full")
    _refused(["imports=[broken_ops]"], capsys, "imports", "broken_ops", "syntax error", "line 1")


def test_an_output_folder_that_cannot_be_written(cwd, capsys):
    (cwd / "a_file").write_text("")
    _refused(["trainer=smoke", f"hydra.run.dir={cwd / 'a_file' / 'run'}"], capsys, "cannot be written",
             "hydra.run.dir", "Nothing was trained")
    _refused(["-m", "seed=0,1", "trainer=smoke", f"hydra.sweep.dir={cwd / 'a_file' / 'sweep'}"], capsys,
             "cannot be written", "hydra.sweep.dir")


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders; the file-as-folder case above "
                                              "covers the check")
def test_a_read_only_output_folder(cwd, capsys):
    (cwd / "ro").mkdir(mode=0o555)
    _refused(["trainer=smoke", f"hydra.run.dir={cwd / 'ro' / 'run'}"], capsys, "cannot be written")


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU: trainer.accelerator=gpu is valid")
def test_a_gpu_trainer_without_a_gpu(cwd, capsys):
    _refused(["trainer.accelerator=gpu"], capsys, "trainer.accelerator", "no usable CUDA GPU", "accelerator=cpu")
    _refused(["trainer=gpu"], capsys, "no usable CUDA GPU")


@pytest.mark.parametrize("limit", ["trainer.limit_test_batches=0", "trainer.limit_train_batches=0",
                                   "trainer.limit_test_batches=0.0"])
def test_batch_limits_that_would_train_or_test_nothing(limit, cwd, capsys):
    _refused(["trainer=smoke", limit], capsys, limit.split("=")[0], "positive number")


@pytest.mark.parametrize("override,expected", [
    ("data.batch_size=0", "batch_size must be >= 1"),
    ("data.num_workers=-1", "num_workers must be >= 0"),
    ("data.val_fraction=1.5", "val_fraction must be in (0, 1)"),
    ("data.test_fraction=0.9", "leaves no training images"),
    ("optim.lr=-1", "Invalid learning rate"),
    ("optim.momentum=-0.5", "momentum"),
    ("optim=adamw optim.betas=[0.9,1.5]", "beta"),
    ("schedule.warmup_epochs=-3", "warmup_epochs must be >= 0"),
    ("schedule=multistep schedule.gamma=0", "gamma"),
    ("schedule.min_factor=2", "min_factor"),
])
def test_data_and_optimizer_options_that_fail_at_job_time_are_refused_first(override, expected, cwd, capsys):
    """Options that torch or the data loader would reject inside a job: exit 2 before anything trains."""
    err = _refused(["trainer=smoke", *override.split()], capsys, expected)
    assert err.splitlines()[-1].startswith("se-variants train: error: " + override.split()[-1].split(".")[0])
    assert not (cwd / "outputs").exists()


def test_an_image_folder_with_an_empty_class_is_refused_before_training(cwd, capsys):
    root = write_imagefolder(cwd / "images", classes=2, per_class=4)
    (root / "train" / "class_9").mkdir()
    (root / "val" / "class_9").mkdir()
    _refused(["data=imagefolder", f"data.root={root}", "trainer=smoke"], capsys, "class_9", "holds no image")
    assert not (cwd / "outputs").exists()


def test_a_corrupt_image_is_named_when_it_is_read(tmp_path):
    from se_variants.runner.data import DATA, DataError

    root = write_imagefolder(tmp_path / "images", classes=2, per_class=10, split=False)
    bad = root / "class_1" / "img_2.png"
    bad.write_bytes(b"not a png")
    splits = DATA.build("imagefolder", root=str(root), image_size=16, num_workers=0)
    with pytest.raises(DataError, match=str(bad)):
        for dataset in (splits.train, splits.val, splits.test):
            for i in range(len(dataset)):
                dataset[i]
