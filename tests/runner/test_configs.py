"""Configs: the generated option files match the registries, and every option of every group composes,
validates and builds (parametrized over the files, so a new op or preset is covered with no edit here)."""

from __future__ import annotations

from pathlib import Path

import pytest

from se_variants import GATE, PRESET
from se_variants.runner.data import DATA
from se_variants.runner.gen import GENERATED_MARK, generated_files
from se_variants.runner.hydra_app import CONFIG_DIR, compose
from se_variants.runner.models import MODEL
from se_variants.runner.optim import OPTIM, SCHEDULE
from se_variants.runner.validate import ConfigError, check_config, check_devices

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


def test_every_registered_part_has_a_group_option():
    for name in PRESET.names():
        assert (CONFIG_DIR / "block" / f"{name}.yaml").is_file()
    for group, registry in (("model", MODEL), ("data", DATA), ("optim", OPTIM), ("schedule", SCHEDULE)):
        used = {compose([f"{group}={p.stem}"])[group]["name"] for p in (CONFIG_DIR / group).glob("*.yaml")}
        assert set(registry.names()) <= used, f"{group}: no config file for {set(registry.names()) - used}"


def _expected_refusal(group: str, option: str) -> str | None:
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

        accelerator = compose([f"trainer={option}"]).trainer.accelerator
        if accelerator in ("gpu", "cuda") and not torch.cuda.is_available():
            return "no usable CUDA GPU"  # GPU trainers are refused up front on machines without one
    return None


def _overrides(group: str, option: str, data_root: Path) -> list[str]:
    out = [f"{group}={option}"]
    if group == "data" and option not in ("digits", "mnist1d"):  # embedded or generated: no root
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
    return out


@pytest.mark.parametrize("group,option", OPTIONS, ids=[f"{g}={o}" for g, o in OPTIONS])
def test_option_composes_and_builds(group, option, data_root, tmp_path, cifar_checksums):
    cfg = compose(_overrides(group, option, data_root))
    refusal = _expected_refusal(group, option)
    if refusal:
        with pytest.raises(ConfigError, match=refusal):
            check_devices(check_config(cfg)["trainer"])
        return
    plain = check_config(cfg)  # registries + a forward pass of the model with the block on a dummy batch
    if group == "trainer":
        from se_variants.runner.job import _trainer

        assert _trainer(plain, tmp_path, [], []).max_epochs == plain["trainer"]["max_epochs"]
    if group == "data":
        splits = DATA.build(plain["data"])
        x, y = splits.train[0]
        assert x.shape == (splits.in_channels, *splits.image_size) and 0 <= y < splits.num_classes
