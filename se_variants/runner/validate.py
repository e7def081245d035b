"""Check a composed config before any training: every part node against its registry, the block against the
model, one forward pass on a dummy batch. Errors name the config key and say what would work."""

from __future__ import annotations

import importlib
from typing import Any

import torch

from ..registry import COMPOSE, EXCITE, GATE, PRESET, SQUEEZE, SpecError, spec_to_dict, suggest
from ..spec import PART_KEYS, PARTS, from_config, split_block
from .schema import LOGGERS

__all__ = ["ConfigError", "block_spec", "check_config", "check_devices", "check_part_overrides", "import_user_modules"]


class ConfigError(ValueError):
    """A config that cannot run. The message starts with the config key at fault."""


def import_user_modules(modules: Any) -> None:
    """Import the modules of ``imports:`` (so their registrations run); an import error names the module."""
    for name in modules or ():
        try:
            importlib.import_module(str(name))
        except ModuleNotFoundError as err:
            raise ConfigError(f"imports: cannot import {name!r} ({err}). Is it installed, or on PYTHONPATH?") from None
        except SyntaxError as err:
            raise ConfigError(f"imports: {name!r} has a syntax error: {err.msg} ({err.filename}, line {err.lineno}). "
                              f"Fix the module, or drop it from imports.") from None
        except Exception as err:  # the module raised while being imported
            raise ConfigError(f"imports: importing {name!r} raised {type(err).__name__}: {err}. Fix the module, or "
                              f"drop it from imports.") from None


def block_spec(cfg: dict[str, Any]) -> Any:
    """The :func:`se_variants.build_block` spec of a config, or None for ``block=none`` (the baseline).

    The block node is a block spec (``{name: cbam, reduction: 8}``); for ``block=parts`` the ``squeeze``,
    ``excite`` and ``gate`` nodes join it (:func:`se_variants.spec.from_config`, the one translation).
    """
    block = spec_to_dict(cfg.get("block"))
    if not isinstance(block, dict) or "name" not in block:
        raise ConfigError("block: the block node has no 'name' (pick block=none, block=parts or a preset).")
    try:
        return from_config(cfg)
    except SpecError as err:
        raise ConfigError(f"block: {err}") from None


def check_part_overrides(overrides: list[str], cfg: Any) -> None:
    """Refuse squeeze/excite/gate overrides that the chosen block would ignore (block=none or a preset)."""
    from .identity import is_baseline

    name = split_block(spec_to_dict(cfg.block))[0]
    if name == PARTS:
        return
    chosen = [o for o in overrides if o.lstrip("+~").split("=", 1)[0].split(".", 1)[0] in PART_KEYS]
    if chosen:
        raise ConfigError(
            f"{chosen[0].split('=', 1)[0]}: block={name} does not use the squeeze/excite/gate groups "
            f"({'no block' if is_baseline(cfg) else 'a preset or composition chooses its own parts'}), so "
            f"{' '.join(chosen)} would have no effect. Use block=parts to compose parts, or drop {chosen[0]}. "
            f"(In a sweep, run the baseline as its own command into the same folder: "
            f"se-variants train -m block=none seed=... hydra.sweep.dir=<folder>.)"
        )


def _check(key: str, fn: Any, *args: Any) -> Any:
    try:
        return fn(*args)
    except (SpecError, TypeError, ValueError) as err:
        raise ConfigError(f"{key}: {err}") from None


def _check_trainer(trainer: dict[str, Any]) -> None:
    """Trainer settings that would fail (or train nothing) only once a job runs."""
    for stage in ("train", "test"):
        limit = trainer.get(f"limit_{stage}_batches")
        if limit is not None and limit <= 0:
            raise ConfigError(f"trainer.limit_{stage}_batches: {limit} would {'train' if stage == 'train' else 'test'} "
                              f"on no batch, and the job's result is its test accuracy; give a positive number of "
                              f"batches or a fraction in (0, 1], or null for all.")


def check_devices(trainer: dict[str, Any]) -> None:
    """The accelerator a ``trainer`` node asks for exists on this machine (run where the jobs will run: the
    planner does for local launchers, not on a cluster's login node)."""
    accelerator = str(trainer.get("accelerator", "auto"))
    if accelerator in ("gpu", "cuda") and not torch.cuda.is_available():
        raise ConfigError(f"trainer.accelerator: {accelerator!r} but this machine has no usable CUDA GPU "
                          f"(torch.cuda.is_available() is False). Use trainer.accelerator=cpu (or auto), or "
                          f"trainer=default.")
    if accelerator == "mps" and not (hasattr(torch.backends, "mps") and torch.backends.mps.is_available()):
        raise ConfigError("trainer.accelerator: 'mps' but Apple's MPS backend is not available here; use "
                          "trainer.accelerator=cpu (or auto).")


def check_config(cfg: Any, *, build: bool = True) -> dict[str, Any]:
    """Validate a composed config (DictConfig or plain dict); returns it as a plain dict.

    With ``build`` the model is built with the block and run on a dummy batch of the data's image size, in train
    and eval mode, so shape errors show now rather than after the first epoch.
    """
    from .data import DATA, DataError, data_meta
    from .models import MODEL
    from .optim import OPTIM, SCHEDULE

    cfg = spec_to_dict(cfg)
    import_user_modules(cfg.get("imports"))
    spec = block_spec(cfg)
    block_name = split_block(cfg["block"])[0]
    if block_name == PARTS:
        for key, reg in zip(PART_KEYS, (SQUEEZE, EXCITE, GATE)):
            _check(key, reg.resolve, cfg.get(key))
        _check("block", COMPOSE.resolve, {k: v for k, v in spec.items() if k not in PART_KEYS})
    elif block_name in PRESET:
        _check("block", PRESET.resolve, spec)
    for key, reg in (("model", MODEL), ("data", DATA), ("optim", OPTIM), ("schedule", SCHEDULE)):
        _check(key, reg.resolve, cfg.get(key))
    trainer = cfg.get("trainer") or {}
    for name in trainer.get("loggers") or ():
        if name not in LOGGERS:
            raise ConfigError(f"trainer.loggers: unknown logger {name!r}.{suggest(name, list(LOGGERS))} "
                              f"Available: {', '.join(LOGGERS)}.")
    if "tensorboard" in (trainer.get("loggers") or ()):
        import importlib.util

        if not any(importlib.util.find_spec(m) for m in ("tensorboard", "tensorboardX")):
            raise ConfigError("trainer.loggers: tensorboard needs the tensorboard package: "
                              "pip install 'se-variants[tensorboard]' (or drop it: trainer.loggers=[csv]).")
    if trainer.get("strategy") == "ddp":
        raise ConfigError(
            "trainer.strategy: 'ddp' relaunches the command in every rank, which under Hydra re-runs the whole "
            "sweep in each child. Use trainer.strategy=ddp_spawn or ddp_fork (or trainer=ddp)."
        )
    if trainer.get("max_epochs", 1) < 1:
        raise ConfigError(f"trainer.max_epochs: must be >= 1, got {trainer.get('max_epochs')}.")
    _check_trainer(trainer)
    if not build:
        return cfg
    try:
        in_channels, num_classes, size = data_meta(cfg["data"])
    except DataError as err:
        raise ConfigError(f"data: {err}") from None
    dims = MODEL.resolve(cfg["model"])[1].get("dims", 2)  # models without a dims option take (N, C, H, W)
    if len(size) != dims:
        shape = ", ".join(str(s) for s in (2, in_channels, *size))
        raise ConfigError(
            f"model: {cfg['model'].get('name')} takes {dims}-D inputs (dims={dims}), but data="
            f"{cfg['data'].get('name')} gives {len(size)}-D ones ({shape}). Pick a model for {len(size)}-D inputs"
            + (" (model=resnet1d)" if len(size) == 1 else f" (model.dims={len(size)} for cifar_resnet)") + "."
        )
    if spec is not None:
        from .models.placement import make_block

        _check("squeeze/excite/gate" if block_name == PARTS else "block", make_block, spec, 16, dims)
    model = _check("model", MODEL.build, cfg["model"], in_channels, num_classes, spec)
    x = torch.randn(2, in_channels, *size)
    for train in (True, False):
        model.train(train)
        try:
            with torch.no_grad():
                out = model(x)
        except Exception as err:
            where = "block" if spec is not None else "model"
            shape = ", ".join(str(s) for s in (2, in_channels, *size))
            raise ConfigError(f"{where}: a forward pass of the model on a ({shape}) batch fails: "
                              f"{type(err).__name__}: {err}") from None
        if tuple(out.shape) != (2, num_classes):
            raise ConfigError(f"model: returns shape {tuple(out.shape)} for a batch of 2, expected (2, {num_classes}).")
    # the optimizer and schedule as the job builds them (torch checks lr, momentum, weight decay, betas)
    try:
        optimizer = OPTIM.build(cfg["optim"], model.parameters())
    except (SpecError, TypeError, ValueError) as err:
        options = ", ".join(f"{k}={v}" for k, v in cfg["optim"].items() if k != "name")
        raise ConfigError(f"optim: {cfg['optim'].get('name')} refuses its options ({options}): {err}. Change that "
                          f"option (optim.<option>=<value>).") from None
    _check("schedule", SCHEDULE.build, cfg["schedule"], optimizer, trainer.get("max_epochs", 1))
    return cfg

