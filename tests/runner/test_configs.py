"""Configs: the generated option files match the registries; every option of every group composes, validates
and builds; and the planner's fast composition gives exactly Hydra's config for every option (parametrized over
the files, so a new op or preset is covered with no edit here)."""

from __future__ import annotations

from pathlib import Path

import pytest

from se_variants import GATE, PRESET
from se_variants.runner.data import DATA
from se_variants.runner.gen import GENERATED_MARK, generated_files
from omegaconf import OmegaConf

from se_variants.runner.configs import CONFIG_DIR, Composer, compose
from se_variants.runner.models import MODEL
from se_variants.runner.optim import OPTIM, SCHEDULE
from se_variants.runner.validate import ConfigError, check_config, check_devices, check_model

GROUPS = ("squeeze", "excite", "gate", "block", "model", "data", "optim", "schedule", "trainer", "experiment")
OPTIONS = [(g, p.stem) for g in GROUPS for p in sorted((CONFIG_DIR / g).glob("*.yaml"))]


def test_generated_files_match_the_registries():
    """configs/ holds exactly what scripts/gen_configs.py writes; rerun it after adding an op or preset."""
    files = generated_files()
    stale = [p.relative_to(CONFIG_DIR).as_posix() for p in sorted(CONFIG_DIR.glob("*/*.yaml"))
             if p.read_text().startswith(GENERATED_MARK) and p.relative_to(CONFIG_DIR).as_posix() not in files]
    drift = [rel for rel, text in files.items()
             if not (CONFIG_DIR / rel).is_file() or (CONFIG_DIR / rel).read_text() != text]
    assert not drift and not stale, (
        f"configs/ is out of date with the registries (drifted: {drift}, stale: {stale}); "
        f"run `python scripts/gen_configs.py`."
    )


@pytest.mark.parametrize("experiment", sorted(p.stem for p in (CONFIG_DIR / "experiment").glob("*.yaml")))
def test_every_shipped_experiment_runs_at_least_three_seeds(experiment):
    """3 seeds are the fewest that give a comparison a p-value: an experiment's ablation, its sweep over seeds, and
    the schema's default (an experiment that lists none) have at least 3."""
    cfg = compose([f"experiment={experiment}"])
    assert len(cfg.ablation.seeds) >= 3, (experiment, list(cfg.ablation.seeds))
    swept = OmegaConf.select(OmegaConf.load(CONFIG_DIR / "experiment" / f"{experiment}.yaml"),
                             "hydra.sweeper.params.seed")  # a sweep the experiment declares (placement_digits)
    assert swept is None or len(str(swept).split(",")) >= 3, (experiment, swept)


def test_every_registered_part_has_a_group_option(option_configs):
    """Every preset has its block option; every registered model, data set, optimizer and schedule is the name of
    some option of its group (the options' configs: ``option_configs``)."""
    for name in PRESET.names():
        assert (CONFIG_DIR / "block" / f"{name}.yaml").is_file(), name
    for group, registry in (("model", MODEL), ("data", DATA), ("optim", OPTIM), ("schedule", SCHEDULE)):
        # (a data option may name a dataset of an archive its entry serves: data=ucr is name: ItalyPowerDemand)
        used = {registry.split(cfg[group])[0] for (g, _), cfg in option_configs.items() if g == group}
        assert set(registry.names()) <= used, f"{group}: no config file for {set(registry.names()) - used}"


def _expected_refusal(group: str, option: str, cfg) -> str | None:
    """Options that compose but must be refused before training, with the word the message must contain."""
    if group == "gate" and GATE.entry(option).factory.across_branches:
        return "fusion"  # branch gates only work inside multi-input fusion blocks
    if group == "squeeze":
        from se_variants import SQUEEZE, SpecError

        try:
            SQUEEZE.build(option, 16, dims=2)
        except SpecError:
            return "3-D"  # a squeeze of 3-D inputs (e.g. d) with the 2-D default model and data
    if group == "block" and option in PRESET:
        from se_variants import build_block

        inputs = getattr(build_block(option, channels=16), "inputs", 1)
        if isinstance(inputs, int) and inputs > 1:
            return "fusion"  # multi-input blocks cannot go into a residual unit
    if group == "trainer":
        import torch

        accelerator = cfg.trainer.accelerator
        if accelerator in ("gpu", "cuda") and not torch.cuda.is_available():
            return "no usable CUDA GPU"  # GPU trainers are refused up front on machines without one
    return None


def _overrides(group: str, option: str, data_root: Path) -> list[str]:
    out = [f"{group}={option}"]
    if group == "data" and option not in ("digits", "mnist1d", "ucr"):  # embedded or generated: no root
        root = data_root / "imagefolder" if option == "imagefolder" else data_root
        out += [f"data.root={root}", "data.num_workers=0"]
        if "cifar" in option:  # the tiny releases of conftest.py: 200 (cifar10) / 300 (cifar100) training images
            out += ["data.download=false", f"data.val_size={20 if option == 'cifar10' else 100}"]
    if group == "model" and option.startswith(("timm", "tv")):
        out += ["data=cifar10", f"data.root={data_root}", "data.download=false", "data.val_size=20"]
    if (group, option) == ("model", "resnet1d"):
        out.append("data=mnist1d")  # 1-D convolutions need 1-D data
    if (group, option) == ("data", "mnist1d"):
        out.append("model=resnet1d")
    if (group, option) == ("data", "ucr"):
        out.append("model=fcn")  # (N, C, L) series: a 1-D model
    if group == "model" and option in ("fcn", "resnet_tsc"):
        out.append("data=ucr")
    return out


@pytest.fixture(scope="module")
def option_configs(data_root):
    """The config of every option of every group, composed in one session (Composer.jobs: equal to Hydra's
    composition, checked by test_the_fast_composition_equals_hydras)."""
    jobs = [_overrides(g, o, data_root) for g, o in OPTIONS]
    with Composer() as composer:
        return dict(zip(OPTIONS, composer.jobs(jobs)))


#: options whose build takes a second or more (timm's or torchvision's models imported, MNIST-1D generated): the
#: slow tier
SLOW_OPTIONS = {("model", "timm_resnet18"), ("model", "tv_resnet18"), ("data", "mnist1d")}


@pytest.mark.parametrize("group,option", [pytest.param(g, o, id=f"{g}={o}",
                                                       marks=[pytest.mark.slow] * ((g, o) in SLOW_OPTIONS))
                                          for g, o in OPTIONS])
def test_option_composes_and_builds(group, option, option_configs, tmp_path, cifar_checksums):
    cfg = option_configs[group, option]
    refusal = _expected_refusal(group, option, cfg)
    if refusal:
        with pytest.raises(ConfigError, match=refusal):
            plain = check_config(cfg)
            check_model(plain)
            check_devices(plain["trainer"])
        return
    plain = check_config(cfg)  # registries, trainer, seed
    check_model(plain)  # a forward pass of the model with the block on a dummy batch
    if group == "trainer":
        from se_variants.runner.job import _trainer

        assert _trainer(plain, tmp_path, [], []).max_epochs == plain["trainer"]["max_epochs"]
    if group == "data":
        splits = DATA.build(plain["data"])
        x, y = splits.train[0]
        assert x.shape == (splits.in_channels, *splits.image_size) and 0 <= y < splits.num_classes


def _text(cfg) -> str:
    """A config as Hydra's tests would compare it: resolved, keys in order."""
    return OmegaConf.to_yaml(cfg, resolve=True)


USER_EXPERIMENT = """# @package _global_
defaults:
  - override /model: resnet_small
excite:
  reduction: 8
threads: 1
"""


FAST_GROUPS = ("squeeze", "excite", "gate", "block", "model", "data", "optim", "schedule")


def _jobs(context: list[str]) -> list[list[str]]:
    """Jobs in which every option of every part group, and of model/data/optim/schedule, appears at least once,
    several groups varying together, with key overrides on the varying nodes and a default left in place."""
    options = {g: sorted(p.stem for p in (CONFIG_DIR / g).glob("*.yaml")) for g in FAST_GROUPS}
    longest = max(len(v) for v in options.values())
    jobs = [[*context, *(f"{g}={v[i % len(v)]}" for g, v in options.items() if g in ("squeeze", "excite", "gate"))]
            for i in range(longest)]
    jobs += [[*context, f"block={b}"] for b in options["block"]]
    jobs += [[*context, f"{g}={o}"] for g in ("model", "data", "optim", "schedule") for o in options[g]]
    jobs += [[*context, "squeeze=max", "squeeze.axes=spatial", "excite=conv1d", "+excite.extra_key=1", "seed=5"],
             [*context, "seed=7"], [*context, "model.depth=14", "~imports"]]
    return jobs


@pytest.mark.parametrize("context", [pytest.param([], id="plain"),
                                     pytest.param(["experiment=mine", "seed=3"], id="user-experiment",
                                                  marks=pytest.mark.slow)])
@pytest.mark.slow
def test_the_fast_composition_equals_hydras(context, tmp_path):
    """Composer.jobs (two Hydra compositions for a whole sweep, the rest derived) gives, job by job, exactly the
    config Hydra composes for that job -- every option of every group, several groups varying at once, key
    overrides on varying nodes, an experiment of the user's that merges into a part node -- and composes through
    Hydra only a few times (the fast path is really taken)."""
    (tmp_path / "experiment").mkdir()
    (tmp_path / "experiment" / "mine.yaml").write_text(USER_EXPERIMENT)
    jobs = _jobs(context)
    if context:  # (every option is checked without one: with a user's experiment, every third job and the last)
        jobs = [*jobs[::3], jobs[-1]]
    with Composer([str(tmp_path)]) as composer:
        calls = []
        hydra_compose = composer.compose
        composer.compose = lambda overrides, hydra_node=False: calls.append(overrides) or hydra_compose(
            overrides, hydra_node)
        fast = composer.jobs(jobs)
        composer.compose = hydra_compose
        assert len(calls) <= 4, f"the fast path composed {len(calls)} times through Hydra for {len(jobs)} jobs"
        for job, cfg in zip(jobs, fast):
            assert _text(cfg) == _text(composer.compose(job)), job


def test_groups_the_fast_path_cannot_derive_are_composed_by_hydra(tmp_path):
    """A varying trainer (typed by the schema), a varying experiment (not a leaf) and a group given twice are
    composed by Hydra itself: still exactly Hydra's configs."""
    jobs = [["trainer=smoke"], ["trainer=default", "squeeze=max"], ["experiment=ablate_digits", "squeeze=h"],
            ["experiment=ablate_mnist1d"], ["squeeze=max", "squeeze=h"]]
    with Composer() as composer:
        for job, cfg in zip(jobs, composer.jobs(jobs)):
            assert _text(cfg) == _text(composer.compose(job)), job
