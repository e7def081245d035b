"""The planner: every job checked before any trains, and every mistake a clear, early error -- exit code 2, no
traceback, the fix named, nothing trained or created. Bad overrides (unknown options, keys, types, typos),
seeds, thread counts, precisions, strategies, launchers, missing extras, broken YAML, raising user modules,
output folders that cannot be written, sweep files whose place is taken, job folders that would collide or leave
the sweep, data and optimizer options torch would reject; and ``--dry-run``, which lists the jobs and trains
nothing."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import typing

import pytest
import torch

from se_variants.runner.commands import ablate_main, train_main as main

from .conftest import cli_env, write_imagefolder


def _refused(argv: list[str], capsys, *expected: str, command=main) -> str:
    code = command(argv)
    out, err = capsys.readouterr()
    assert code == 2, (code, out, err)
    for text in expected:
        assert text in err, f"{text!r} not in: {err}"
    assert "Traceback" not in err, err
    return err


@pytest.fixture
def cwd(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


OVERRIDES = [
    (["squeeze=maxx"], ["squeeze", "'maxx'", "Did you mean 'max'"]),  # unknown group option
    (["block=cbm"], ["block", "'cbm'", "Did you mean 'cbam'"]),
    (["squeez=max"], ["unknown key 'squeez'", "Did you mean 'squeeze'"]),  # a typo of a group, top level
    (["sed=1"], ["unknown key 'sed'", "Did you mean 'seed'"]),
    (["squeeze.axis=h"], ["squeeze.axis", "Did you mean 'axes'"]),  # misspelled key
    (["+squeeze.axis=h"], ["squeeze", "'axis'", "Did you mean 'axes'"]),
    (["trainer.max_epoch=3"], ["trainer.max_epoch", "Did you mean 'max_epochs'"]),
    (["seed=abc"], ["seed", "abc"]),  # wrong type, top level (schema)
    (["trainer.max_epochs=many"], ["trainer.max_epochs", "many"]),
    (["excite.reduction=abc"], ["excite", "'reduction'", "expected float"]),  # wrong type, part option
    (["squeeze.axes=3"], ["squeeze", "'axes'", "'hw'"]),
    (["block=cbam", "block.reduction=x"], ["block", "'reduction'", "expected float"]),
    (["model.placement=side"], ["model", "'placement'", "'standard'"]),
    (["block=cbam", "squeeze=max"], ["squeeze", "block=cbam", "block=parts"]),  # parts ignored by a preset
    (["block=multi_input"], ["block", "fusion"]),  # multi-input block cannot go into a model
    (["gate=softmax"], ["gate 'softmax'", "fusion"]),
    (["trainer.loggers=[csvv]"], ["trainer.loggers", "Did you mean 'csv'"]),
    (["squeeze=avg,max"], ["-m"]),  # several values without -m
    (["-m", "squeeze=avg,maxx"], ["'maxx'", "Did you mean 'max'"]),  # in a sweep: before the first job runs
    (["imports=[no_such_module_xyz]"], ["imports", "no_such_module_xyz"]),
    (["--dryrun"], ["unknown flag '--dryrun'", "Did you mean '--dry-run'"]),
    (["seed=-1"], ["seed", "[0, 2**32)"]),
    (["seed=4294967296"], ["seed", "[0, 2**32)"]),
    (["-m", "seed=0,abc"], ["seed", "abc"]),
    (["-m", "seed=0,1.5"], ["seed", "1.5"]),
    (["-m", "seed=0,null"], ["seed"]),
    (["-m", "seed=range(0,0)"], ["seed=range(0,0)", "no value"]),
    (["threads=-1"], ["threads", ">= 1"]),
    (["threads=0"], ["threads", ">= 1", "threads=null"]),
    (["trainer.precision=bogus"], ["trainer.precision", "'bogus'"]),
    (["trainer.precision=16mixed"], ["Did you mean '16-mixed'"]),
    (["trainer.accelerator=tpuu"], ["trainer.accelerator", "Did you mean 'tpu'"]),
    (["trainer.strategy=ddp"], ["trainer.strategy", "re-running the command line", "ddp_spawn"]),
    (["trainer.strategy=ddp_find_unused_parameters_true", "trainer.devices=2", "trainer.accelerator=cpu"],
     ["trainer.strategy", "re-running the command line"]),
    (["trainer.strategy=fsdp"], ["re-running the command line"]),
    (["trainer.strategy=dpp_spawn"], ["unknown strategy", "Did you mean 'ddp_spawn'"]),
    (["trainer.devices=2", "trainer.accelerator=cpu"], ["trainer.strategy", "'auto'", "ddp_fork"]),
    (["-m", "seed=0,1", "hydra.launcher.n_jobs=0"], ["hydra.launcher.n_jobs", ">= 1"]),
    # the front door (issue 18): refused in the plan, so in the dry run too, before anything trains
    (["report.alpha=2"], ["report.alpha", "(0, 1)"]),
    (["report.alpha=0", "--dry-run"], ["report.alpha", "(0, 1)"]),
    (["-m", "seed=0,1", "report.alpha=0.05,1.5", "--dry-run"], ["report.alpha", "(0, 1)"]),  # per job
    (["report.paired=maybe", "--dry-run"], ["report.paired"]),
    (["-m", "seed=0,1", "hydra/launcher=processes", "hydra.launcher.timeout_min=abc", "--dry-run"],
     ["hydra.launcher.timeout_min", "expected int", "timeout_min (int)"]),
    (["-m", "seed=0,1", "hydra/launcher=processes", "+hydra.launcher.timeout_mn=5", "--dry-run"],
     ["hydra.launcher.timeout_mn", "Did you mean 'timeout_min'"]),
    (["-m", "seed=0,1", "hydra/launcher=submitit_slurm", "hydra.launcher.nodes=0", "--dry-run"],
     ["hydra.launcher.nodes", ">= 1"]),
    (["-m", "seed=0,1", "hydra/launcher=slurm", "hydra.launcher.mem_gb=lots", "--dry-run"],
     ["hydra.launcher.mem_gb", "expected int | float"]),
    # an op that is not registered: how your own ops come in, "did you mean" kept
    (["squeeze=rms"], ["unknown squeeze option 'rms'", "imports=[my_ops]", "@SQUEEZE.register('rms')"]),
    (["squeeze.name=rms", "--dry-run"], ["Unknown squeeze 'rms'", "imports=[my_ops]"]),
    (["block=mine", "--dry-run"], ["unknown block option 'mine'", "@PRESET.register('mine')"]),
    (["excite=fcc", "--dry-run"], ["Did you mean 'fc'", "imports=[my_ops]"]),
    (["-m", "seed=0,1", "hydra.sweep.subdir=../../escape"], ["hydra.sweep.subdir", "outside the sweep folder"]),
    (["-m", "seed=0,1", "hydra.sweep.subdir=same"], ["would share the folder", "hydra.sweep.subdir"]),
]


@pytest.mark.parametrize("argv,expected", OVERRIDES, ids=[" ".join(a) for a, _ in OVERRIDES])
def test_bad_command_lines_name_the_key_and_the_fix(argv, expected, capsys, cwd):
    _refused(argv, capsys, *expected)
    assert not list(cwd.iterdir())  # nothing ran, nothing was created


def test_the_precisions_and_accelerators_are_lightnings():
    """The planner checks these names without importing Lightning; they must be Lightning's own."""
    from lightning.fabric.connector import _PRECISION_INPUT
    from lightning.pytorch.accelerators import AcceleratorRegistry

    from se_variants.runner.validate import ACCELERATORS, PRECISIONS

    lightning = {str(v) for literal in typing.get_args(_PRECISION_INPUT) for v in typing.get_args(literal)}
    assert set(PRECISIONS) == lightning
    assert set(AcceleratorRegistry.available_accelerators()) | {"gpu", "auto"} == set(ACCELERATORS)


def test_every_strategy_of_lightning_works_or_is_refused():
    """Decided from Lightning's strategy registry: strategies that spawn or fork their ranks (or use one process)
    are accepted, those that re-run the command line (Lightning's subprocess launcher) are refused."""
    from lightning.pytorch.strategies import StrategyRegistry

    from se_variants.runner.validate import ConfigError, check_strategy, start_method

    for name in StrategyRegistry.available_strategies():
        method = start_method(name)
        if method in (None, "spawn", "fork"):
            check_strategy({"strategy": name})
        else:
            assert method == "popen", name
            with pytest.raises(ConfigError, match="re-running the command line"):
                check_strategy({"strategy": name})
    assert start_method("ddp_fork_find_unused_parameters_true") == "fork"
    assert start_method("ddp_find_unused_parameters_true") == "popen"


@pytest.mark.parametrize("optim,options", [
    ("sgd", {"lr": -1.0}), ("sgd", {"momentum": -0.5}), ("sgd", {"weight_decay": -1e-4}),
    ("sgd", {"nesterov": True, "momentum": 0.0}), ("sgd", {"lr": 0.0}), ("sgd", {"nesterov": True}),
    ("adamw", {"betas": (0.9, 1.5)}), ("adamw", {"betas": (-0.1, 0.9)}), ("adamw", {"lr": -1e-3}),
    ("adamw", {"weight_decay": -1.0}), ("adamw", {"betas": (0.0, 0.0)}),
])
def test_optimizer_checks_refuse_what_torch_refuses(optim, options):
    """The planner checks optimizer options without building torch's optimizer (its first call costs 1.4 s of
    imports): the check and torch must agree on every value."""
    from se_variants.registry import SpecError
    from se_variants.runner.optim import OPTIM

    params = [torch.nn.Parameter(torch.zeros(2))]
    full = {**OPTIM.entry(optim).default_options(), **options}  # our defaults, as the job passes them to torch
    try:
        (torch.optim.SGD if optim == "sgd" else torch.optim.AdamW)(params, **full)
        torch_refuses = False
    except ValueError:
        torch_refuses = True
    try:
        OPTIM.entry(optim).factory.check(**options)
        ours = False
    except SpecError:
        ours = True
    assert ours == torch_refuses, (optim, options)


@pytest.mark.slow
def test_each_distinct_network_is_built_once(capsys, cwd, monkeypatch):
    """A sweep over what does not change the network (seeds, learning rates, epochs) builds and checks it once;
    each other block is built once more."""
    from se_variants.runner import plan

    built = []
    monkeypatch.setattr(plan, "check_model", lambda cfg: built.append(cfg["block"]))
    argv = ["-m", "optim.lr=0.1,0.01", "trainer.max_epochs=2,3", "seed=0,1", "trainer=smoke", "--dry-run"]
    assert main(argv) == 0 and "Dry run: 8 jobs: 0 finished, 8 to run" in capsys.readouterr().out
    assert len(built) == 1
    assert main([*argv, "squeeze=avg,max"]) == 0 and "Dry run: 16 jobs: 0 finished" in capsys.readouterr().out
    assert len(built) == 3


@pytest.mark.parametrize("alias,ours", [("joblib", "workers"), ("submitit_local", "processes"),
                                        ("submitit_slurm", "slurm")])
def test_hydras_launcher_names_are_aliases_of_ours(alias, ours, tmp_path):
    """A Hydra user's launcher choice works unchanged: it runs as the se-variants launcher that does its job, with
    the Hydra plugin's option names (joblib's n_jobs=-1 is every core; submitit_slurm's sbatch keys reach
    submitit)."""
    from se_variants.runner.args import parse_args
    from se_variants.runner.launchers import slurm_parameters
    from se_variants.runner.plan import make_plan

    extra = {"joblib": ["hydra.launcher.n_jobs=-1"], "submitit_local": ["hydra.launcher.n_jobs=1"],
             "submitit_slurm": ["hydra.launcher.gres=gpu:a100:1", "hydra.launcher.mem_per_cpu=4G"]}[alias]
    plan = make_plan(parse_args(["-m", "seed=0,1", f"hydra/launcher={alias}", *extra, "trainer=smoke",
                                 f"hydra.sweep.dir={tmp_path / 's'}"]))
    assert plan.launcher["name"] == ours and plan.launcher["alias"] == alias, plan.launcher
    if ours == "slurm":
        params = slurm_parameters(plan.launcher)
        assert params["slurm_gres"] == "gpu:a100:1" and params["slurm_mem_per_cpu"] == "4G", params
        assert not any("alias" in k or "n_jobs" in k for k in params), params
    else:
        assert plan.parallel == (1 if ours == "processes" else len(os.sched_getaffinity(0))), plan.parallel


@pytest.mark.slow
def test_the_dry_run_lists_every_job_and_trains_nothing(capsys, cwd):
    """Planned and checked exactly as a run would be (same errors), one line a job, the count and the folder;
    no folder, no record. Overrides that would fold into one folder name get folders of their own."""
    assert main(["-m", "+tag=a/b,a_b", "seed=0,1", "trainer=smoke", "--dry-run"]) == 0
    out = capsys.readouterr().out
    lines = [line for line in out.splitlines() if line.startswith("[run ]")]
    folders = {line.split("→")[1].strip() for line in lines}
    assert len(lines) == 4 and len(folders) == 4, out
    assert "Dry run: 4 jobs: 0 finished, 4 to run" in out and "Nothing was trained." in out
    assert not list(cwd.iterdir())
    assert ablate_main(["--dry-run", "ablation.seeds=[0]"]) == 0
    out = capsys.readouterr().out
    assert "Dry run: 18 jobs: 0 finished, 18 to run" in out and "outputs/ablate/digits" in out
    _refused(["--dry-run", "squeeze=maxx"], capsys, "Did you mean 'max'")
    assert not list(cwd.iterdir())


@pytest.mark.slow
def test_your_own_config_folder_and_searchpath_in_train_and_ablate(capsys, cwd):
    """--config-dir and hydra.searchpath=[file://...] add options to the groups, for train and for ablate."""
    mine = cwd / "mine"
    (mine / "experiment").mkdir(parents=True)
    (mine / "experiment" / "tiny.yaml").write_text(
        "# @package _global_\nablation:\n  name: tiny\n  seeds: [0]\n  variants: ['block=none', 'squeeze=max']\n"
        "trainer:\n  max_epochs: 1\n")
    for flag in (["--config-dir", str(mine)], [f"hydra.searchpath=[file://{mine}]"]):
        assert ablate_main([*flag, "experiment=tiny", "--dry-run"]) == 0, capsys.readouterr().err
        assert "Dry run: 2 jobs: 0 finished, 2 to run" in capsys.readouterr().out
        assert main(["-m", *flag, "experiment=tiny", "seed=0,1", "--dry-run"]) == 0
        assert "Dry run: 2 jobs: 0 finished, 2 to run" in capsys.readouterr().out
    _refused(["--config-dir", str(mine), "experiment=tiyn"], capsys, "Did you mean 'tiny'", command=ablate_main)


@pytest.mark.parametrize("taken", ["report.md", "sweep.json", "report.csv"])
def test_a_folder_where_a_sweep_file_belongs_stops_the_sweep_before_it_trains(taken, capsys, cwd):
    (cwd / "s" / taken).mkdir(parents=True)
    assert main(["-m", "seed=0,1", "trainer=smoke", f"hydra.sweep.dir={cwd / 's'}"]) == 2
    err = capsys.readouterr().err
    assert taken in err and "move it away" in err and "Traceback" not in err
    assert sorted(p.name for p in (cwd / "s").iterdir()) == [taken]


def test_a_symlinked_report_lock_is_refused(capsys, cwd):
    (cwd / "s").mkdir()
    (cwd / "s" / ".report.lock").symlink_to(cwd / "elsewhere")
    assert main(["-m", "seed=0,1", "trainer=smoke", f"hydra.sweep.dir={cwd / 's'}"]) == 2
    assert ".report.lock" in capsys.readouterr().err
    assert not (cwd / "elsewhere").exists()


@pytest.mark.slow  # starts a se-variants process (one without the library, which this one has imported)
@pytest.mark.parametrize("hidden,expected", [("hydra", "hydra-core"), ("lightning", "lightning")])
def test_runner_commands_without_the_train_extra(hidden, expected, tmp_path):
    """Without hydra-core or lightning installed, a runner command exits 2 naming the extra to install."""
    code = (f"import sys; sys.modules[{hidden!r}] = None\n"
            "from se_variants.cli import main\nsys.exit(main(['train', 'trainer=smoke']))")
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=cli_env(), capture_output=True, text=True,
                          timeout=600)  # (a guard against a hang only)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, (proc.returncode, proc.stderr)
    assert expected in proc.stderr and "pip install 'se-variants[train]'" in proc.stderr, proc.stderr


def test_a_launcher_that_is_not_installed(cwd, capsys, monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "submitit" else real(name, *a))
    _refused(["-m", "seed=0,1", "hydra/launcher=slurm"], capsys, "pip install 'se-variants[cluster]'")
    _refused(["-m", "seed=0,1", "hydra/launcher=processes"], capsys, "pip install 'se-variants[cluster]'")


@pytest.mark.slow
def test_slurm_without_sbatch_is_refused_before_anything_runs_but_plans_in_a_dry_run(cwd, capsys, monkeypatch):
    """On a machine without SLURM (no sbatch on PATH) hydra/launcher=slurm is exit 2 naming what is missing, with
    nothing trained or created; --dry-run still plans and checks the sweep (a login node's check)."""
    from se_variants.runner.launcher_choice import check_can_launch

    monkeypatch.setenv("PATH", str(cwd / "bin"))
    argv = ["-m", "seed=0,1", "trainer=smoke", "hydra/launcher=slurm"]
    for command in (main, ablate_main):
        args = argv if command is main else ['ablation.variants=["block=none"]', "ablation.seeds=[0]", *argv[2:]]
        _refused(args, capsys, "hydra/launcher=slurm", "sbatch", "not on PATH", "--dry-run", command=command)
        assert not list(cwd.iterdir())
        assert command([*args, "--dry-run"]) == 0 and "Nothing was trained." in capsys.readouterr().out
    _refused([*argv[:-1], "hydra/launcher=submitit_slurm"], capsys, "hydra/launcher=submitit_slurm", "sbatch")
    (cwd / "bin").mkdir()
    (cwd / "bin" / "sbatch").write_text("#!/bin/sh\nexit 1\n")
    (cwd / "bin" / "sbatch").chmod(0o755)
    check_can_launch({"name": "slurm"})  # found: the submission itself is submitit's (tests/runner/test_launchers.py)
    check_can_launch({"name": "workers"})


@pytest.mark.slow
def test_one_folder_holds_one_set_of_settings(cwd):
    """``ablate`` with overrides that change what its jobs compute writes into a folder named by them, beside the
    experiment's own; run knobs (more seeds, loggers, rerun, report settings, the launcher) and naming the default
    experiment keep the folder, so a sweep extended with them goes on where it was; hydra.sweep.dir is taken as
    given. ``train -m`` of an experiment that names its folder follows the same rule."""
    from pathlib import Path

    from se_variants.runner.args import parse_args
    from se_variants.runner.plan import make_plan, open_planner

    def folder(*argv: str, ablation: bool = True) -> Path:
        planner = open_planner(parse_args(list(argv)), ablation=ablation)
        try:
            return planner.sweep_dir()
        finally:
            planner.close()

    small = parse_args(['ablation.variants=["block=none","squeeze=max"]', "ablation.seeds=[0]", "trainer.max_epochs=3"])
    assert make_plan(small, ablation=True).out_dir == folder("trainer.max_epochs=3")  # what the plan uses

    default, three = Path("outputs/ablate/digits"), Path("outputs/ablate/digits_trainer.max_epochs-3")
    assert folder() == default
    assert folder("trainer.max_epochs=3") == three
    knobs = ["ablation.seeds=[0,1,2,3]", "rerun=true", "hydra/launcher=processes", "trainer.loggers=[csv]",
             "report.alpha=0.01", "checkpoint_every_s=0", "hydra.launcher.n_jobs=1", "experiment=ablate_digits"]
    assert folder(*knobs) == default
    assert folder(*knobs, "trainer.max_epochs=3") == three
    assert folder("optim.lr=0.1,0.01", "trainer.max_epochs=3") == Path(
        "outputs/ablate/digits_optim.lr-0.1+0.01_trainer.max_epochs-3")
    assert folder("trainer.max_epochs=3", "hydra.sweep.dir=mine") == Path("mine")
    assert folder("-m", "experiment=ablate_digits", "optim.lr=0.1", ablation=False) == Path(
        "outputs/ablate/digits_optim.lr-0.1")
    assert folder("experiment=ablate_mnist1d") == Path("outputs/ablate/mnist1d")
    assert not list(cwd.iterdir())


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
    ("data.val_fraction=1.5", "val_fraction must be in [0, 1)"),
    ("data.test_fraction=0.9", "leaves no training images"),
    ("optim.lr=-1", "lr must be >= 0"),
    ("optim.momentum=-0.5", "momentum"),
    ("optim=adamw optim.betas=[0.9,1.5]", "beta"),
    ("schedule.warmup_epochs=-3", "warmup_epochs must be >= 0"),
    ("schedule=multistep schedule.gamma=0", "gamma"),
    ("schedule.min_factor=2", "min_factor"),
])
@pytest.mark.slow
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


@pytest.mark.parametrize("argv,module,extra", [
    (["trainer.loggers=[mlflow]"], "mlflow", "track"), (["trainer.loggers=[csv,wandb]"], "wandb", "track"),
    (["-m", "hydra/sweeper=optuna", "squeeze=choice(avg,max)"], "optuna", "search"),
])
def test_a_missing_tracker_or_search_library_is_one_line_naming_the_extra(argv, module, extra, cwd, capsys,
                                                                         monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == module else real(name, *a))
    _refused([*argv, "--dry-run"], capsys, f"pip install 'se-variants[{extra}]'")


def test_an_op_unregistered_in_this_process_is_no_longer_an_option(cwd, capsys):
    """A throwaway op (an interactive session's, a test's) leaves the config options once it is unregistered."""
    from se_variants import SQUEEZE
    from se_variants.squeeze.pool import Pool

    SQUEEZE.register("throwaway")(Pool)
    try:
        assert main(["squeeze=throwaway", "trainer=smoke", "--dry-run"]) == 0
    finally:
        SQUEEZE.unregister("throwaway")
    capsys.readouterr()
    assert main(["squeeze=throwaway", "trainer=smoke", "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert "unknown squeeze option 'throwaway'" in err and "throwaway," not in err, err
