"""Check a composed config before any training: every part node against its registry, the trainer's options
against Lightning's names (without importing Lightning unless a strategy is named), the block against the model
on the meta device. Errors name the config key and say what would work."""

from __future__ import annotations

import inspect
import json
from typing import Any

import torch
from torch import nn

from ..registry import (COMPOSE, EXCITE, GATE, PRESET, SQUEEZE, SpecError, UnknownName, import_registrations,
                        spec_to_dict, suggest)
from ..spec import PART_KEYS, PARTS, from_config, split_block
from . import data as _data  # noqa: F401  (importing these fills the registries)
from . import models as _models  # noqa: F401
from . import optim as _optim  # noqa: F401
from .data import DataError, data_meta, data_padded
from .identity import is_baseline
from .models.placement import make_block
from .reproduction import check_published
from .registries import DATA, MODEL, OPTIM, SCHEDULE
from .report import check_alpha, check_paired
from .schema import SELECTIONS
from .trackers import check_options as check_tracker_options

__all__ = ["ConfigError", "block_spec", "model_node", "check_config", "check_model", "model_key", "check_devices",
           "check_seed", "check_report", "check_strategy", "start_method", "check_part_overrides",
           "import_user_modules", "own_op_hint", "PRECISIONS", "ACCELERATORS"]


class ConfigError(ValueError):
    """A config that cannot run. The message starts with the config key at fault."""


def import_user_modules(modules: Any) -> None:
    """Import the modules of ``imports:`` (so their registrations run), found on the path or in the current
    folder (as ``python -m`` would); an import error names the module (:func:`.registry.import_registrations`)."""
    try:
        import_registrations([str(m) for m in modules or ()])
    except SpecError as err:
        raise ConfigError(f"imports: {err}") from None


#: the registry whose entries fill each group that takes a user's own ops (their decorator, in hints)
OWN_OPS = {"squeeze": "SQUEEZE", "excite": "EXCITE", "gate": "GATE", "block": "PRESET"}


def own_op_hint(group: str, name: str) -> str:
    """For a name a group does not have: how a user's own op of that group comes in, or "" for groups that take
    none (``model``, ``data``, ...). Registry kinds (``composition``, ``preset``) count as the ``block`` group."""
    group = "block" if group in ("composition", "preset") else group
    if group not in OWN_OPS:
        return ""
    return (f" If {name!r} is an op of your own, import the module that registers it "
            f"(@{OWN_OPS[group]}.register({name!r})) with imports=[<module>], e.g. imports=[my_ops].")


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


def model_node(cfg: dict[str, Any]) -> dict[str, Any]:
    """The ``model:`` node a job builds: the config's, with ``padded: true`` where the data are NaN-padded series
    (:func:`.data.data_padded`) and the model has that option (fcn, resnet_tsc), unless the config sets it (the
    model check then refuses ``padded: false`` for padded data). A model built without it does not look for
    padding, which would cost a wait on every batch."""
    node = dict(spec_to_dict(cfg["model"]))
    try:
        takes = "padded" not in node and "padded" in MODEL.resolve({"name": node["name"]})[0].options
    except SpecError:  # (an unknown model is reported where it is built)
        return node
    if takes and data_padded(cfg["data"]):
        node["padded"] = True
    return node


def check_part_overrides(overrides: list[str], cfg: Any) -> None:
    """Refuse squeeze/excite/gate overrides that the chosen block would ignore (block=none or a preset)."""
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
    except UnknownName as err:
        raise ConfigError(f"{key}: {err}{own_op_hint(err.kind, err.name)}") from None
    except (SpecError, TypeError, ValueError) as err:
        raise ConfigError(f"{key}: {err}") from None


#: torch's seeds, numpy's and Lightning's seed_everything take [0, 2**32): a seed outside is not reproducible
SEED_RANGE = (0, 2**32)
#: Lightning's precision names (lightning.fabric.connector._PRECISION_INPUT; a test compares the two)
PRECISIONS = ("transformer-engine", "transformer-engine-float16", "16-true", "16-mixed", "bf16-true", "bf16-mixed",
              "32-true", "64-true", "64", "32", "16", "bf16")
#: Lightning's accelerator names (its AcceleratorRegistry, plus gpu and auto; a test compares the two)
ACCELERATORS = ("auto", "cpu", "gpu", "cuda", "mps", "tpu")


def check_seed(seed: Any) -> int:
    """``seed`` as an int in [0, 2**32), or ConfigError naming the fix."""
    if isinstance(seed, bool) or not isinstance(seed, int) or not SEED_RANGE[0] <= seed < SEED_RANGE[1]:
        raise ConfigError(f"seed: {seed!r} is not a seed; give an integer in [0, 2**32), e.g. seed=0 or "
                          f"-m seed=0,1,2 (torch, numpy and Lightning take seeds in that range).")
    return seed


def _check_trainer(trainer: dict[str, Any]) -> None:
    """Trainer settings that would fail (or train nothing) only once a job runs."""
    for stage in ("train", "test"):
        limit = trainer.get(f"limit_{stage}_batches")
        if limit is not None and limit <= 0:
            raise ConfigError(f"trainer.limit_{stage}_batches: {limit} would {'train' if stage == 'train' else 'test'} "
                              f"on no batch, and the job's result is its test accuracy; give a positive number of "
                              f"batches or a fraction in (0, 1], or null for all.")
    select = trainer.get("select", "last")
    if select not in SELECTIONS:
        raise ConfigError(f"trainer.select: unknown selection {select!r}.{suggest(str(select), list(SELECTIONS))} "
                          f"Available: last (the final weights are tested), min_train_loss (the weights of the epoch "
                          f"with the lowest training loss, as Ismail Fawaz et al. 2019).")
    precision = str(trainer.get("precision", "32-true"))
    if precision not in PRECISIONS:
        raise ConfigError(f"trainer.precision: unknown precision {precision!r}.{suggest(precision, list(PRECISIONS))} "
                          f"Lightning's precisions: {', '.join(PRECISIONS[:8])}.")
    accelerator = str(trainer.get("accelerator", "auto"))
    if accelerator not in ACCELERATORS:
        raise ConfigError(f"trainer.accelerator: unknown accelerator {accelerator!r}."
                          f"{suggest(accelerator, list(ACCELERATORS))} Available: {', '.join(ACCELERATORS)}.")


def _several(devices: Any) -> bool:
    return (isinstance(devices, int) and not isinstance(devices, bool) and devices > 1) or \
        (isinstance(devices, (list, tuple)) and len(devices) > 1) or devices == -1


def start_method(strategy: str) -> str | None:
    """How Lightning's strategy ``strategy`` starts its processes: ``spawn``, ``fork``, ``popen`` (re-running the
    command line in a subprocess) or None (one process). From Lightning's strategy registry; ConfigError for a name
    it does not know."""
    from lightning.pytorch.strategies import ParallelStrategy, StrategyRegistry

    names = list(StrategyRegistry.available_strategies())
    if strategy not in names:
        raise ConfigError(f"trainer.strategy: unknown strategy {strategy!r}.{suggest(strategy, names)} Lightning's "
                          f"strategies: {', '.join(names)}.")
    entry = StrategyRegistry[strategy]
    cls, params = entry["strategy"], entry["init_params"]
    default = inspect.signature(cls.__init__).parameters.get("start_method")
    method = params.get("start_method", default.default if default is not None else None)
    if method is None and issubclass(cls, ParallelStrategy):
        return "popen"  # launched by Lightning's subprocess script launcher
    return method


def check_strategy(trainer: dict[str, Any]) -> None:
    """A strategy works in a job or is refused: strategies that start their ranks by re-running the command line
    (``ddp``, ``fsdp``, ``deepspeed``, ...) would re-run the whole sweep in every rank. Lightning is imported only
    when a strategy other than ``auto`` is named."""
    strategy = str(trainer.get("strategy", "auto"))
    if strategy == "auto":
        if _several(trainer.get("devices")) or (trainer.get("num_nodes") or 1) > 1:
            raise ConfigError(f"trainer.strategy: 'auto' with trainer.devices={trainer.get('devices')} would start "
                              f"DDP by re-running the command line in every rank (the whole sweep each time); name a "
                              f"strategy that spawns or forks its ranks: trainer.strategy=ddp_fork (CPU) or "
                              f"ddp_spawn (GPUs), or trainer=ddp_cpu / trainer=ddp.")
        return
    if start_method(strategy) == "popen":
        raise ConfigError(f"trainer.strategy: {strategy!r} starts its ranks by re-running the command line in a "
                          f"subprocess, which under se-variants would re-run the whole sweep in every rank. Use a "
                          f"strategy that spawns or forks its ranks: ddp_spawn, ddp_fork (or their "
                          f"_find_unused_parameters_true forms), or trainer=ddp / trainer=ddp_cpu.")


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


def check_config(cfg: Any) -> dict[str, Any]:
    """Validate a composed config (DictConfig or plain dict) without building anything; returns it as a plain dict.

    Checks every part node and the logger node against its registry, the trainer's options, the seed and the
    thread count.
    :func:`check_model` builds the network.
    """
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
    check_optim_options(cfg)
    try:
        check_published((cfg.get("report") or {}).get("published"))
    except ValueError as err:
        raise ConfigError(str(err)) from None
    check_seed(cfg.get("seed"))
    threads = cfg.get("threads")
    if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 1):
        raise ConfigError(f"threads: {threads!r} torch threads per job; give a number >= 1 (1 is fastest for small "
                          f"models and lets one job run per core), or threads=null for torch's default (every core).")
    trainer = cfg.get("trainer") or {}
    try:
        check_tracker_options(cfg)
    except ValueError as err:
        raise ConfigError(str(err)) from None
    if trainer.get("max_epochs", 1) < 1:
        raise ConfigError(f"trainer.max_epochs: must be >= 1, got {trainer.get('max_epochs')}.")
    _check_trainer(trainer)
    check_strategy(trainer)
    return cfg


def check_report(report: Any) -> None:
    """The ``report`` node's settings (how the sweep's report compares variants, once the jobs are done) can be
    used: ConfigError before anything trains, naming the key (``report.alpha=2`` would train every job and then
    fail to report)."""
    report = spec_to_dict(report) or {}
    for key, check in (("alpha", check_alpha), ("paired", check_paired)):
        if key in report:
            _check(f"report.{key}", check, report[key])


def model_key(cfg: dict[str, Any]) -> str:
    """What :func:`check_model` depends on (the model, its block, the data's shape): jobs with equal keys build the
    same network, checked once."""
    return json.dumps([cfg.get("model"), block_spec(cfg), cfg.get("data")], sort_keys=True, default=str)


def _forward(model: nn.Module, x: torch.Tensor, num_classes: int, where: str, shape: str) -> None:
    for train in (True, False):
        model.train(train)
        with torch.no_grad():
            try:
                out = model(x)
            except Exception as err:
                raise ConfigError(f"{where}: a forward pass of the model on a ({shape}) batch fails: "
                                  f"{type(err).__name__}: {err}") from None
        if tuple(out.shape) != (2, num_classes):
            raise ConfigError(f"model: returns shape {tuple(out.shape)} for a batch of 2, expected (2, {num_classes}).")


def check_model(cfg: dict[str, Any]) -> None:
    """Build the network of a checked config with its block and run a batch of 2 of the data's size through it, in
    train and eval mode (a few milliseconds for the digits network). Shape errors show now, not after the first
    epoch."""
    try:
        in_channels, num_classes, size = data_meta(cfg["data"])
    except DataError as err:
        raise ConfigError(f"data: {err}") from None
    spec = block_spec(cfg)
    entry, options = MODEL.resolve(cfg["model"])
    # a dims option, or the dims the factory declares; the others take (N, C, H, W)
    dims = options.get("dims", getattr(entry.factory, "dims", 2))
    shape = ", ".join(str(s) for s in (2, in_channels, *size))
    if len(size) != dims:
        raise ConfigError(
            f"model: {cfg['model'].get('name')} takes {dims}-D inputs (dims={dims}), but data="
            f"{cfg['data'].get('name')} gives {len(size)}-D ones ({shape}). Pick a model for {len(size)}-D inputs"
            + (" (model=fcn, resnet_tsc or resnet1d)" if len(size) == 1 else
               f" (model.dims={len(size)} for cifar_resnet)") + "."
        )
    block_name = split_block(cfg["block"])[0]
    if spec is not None:
        _check("squeeze/excite/gate" if block_name == PARTS else "block", make_block, spec, 16, dims)
    where = "block" if spec is not None else "model"
    model = _check("model", MODEL.build, model_node(cfg), in_channels, num_classes, spec)
    _forward(model, torch.randn(2, in_channels, *size), num_classes, where, shape)
    if len(size) == 1 and data_padded(cfg["data"]):
        _check_padded(model, (in_channels, size[0]), num_classes, cfg, where)


def _check_padded(model: nn.Module, item: tuple[int, int], num_classes: int, cfg: dict[str, Any], where: str) -> None:
    """A model fed NaN-padded series (data.variable_length=pad) must turn the padding into a mask: a batch whose
    second series ends halfway must run (its blocks must take the mask) and give finite logits in train and eval
    mode."""
    x = torch.randn(2, *item)
    x[1, :, max(1, item[1] // 2):] = float("nan")
    _forward(model, x, num_classes, where, f"2, {item[0]}, {item[1]}, the second NaN-padded")
    for train in (True, False):
        model.train(train)
        with torch.no_grad():
            finite = bool(torch.isfinite(model(x)).all())
        if not finite:
            raise ConfigError(
                f"model: {cfg['model'].get('name')} does not take NaN-padded series (data.variable_length=pad: "
                f"{cfg['data'].get('name')} has cases of different lengths); its outputs are NaN. Use a model that "
                f"masks the padding (model=fcn or model=resnet_tsc), or resample: data.variable_length=cubic or "
                f"linear.")


def check_optim_options(cfg: dict[str, Any]) -> None:
    """The optimizer's and schedule's options as the job would take them: each factory's ``check`` refuses what
    torch refuses, without torch's optimizer machinery (see :mod:`.optim`)."""
    epochs = (cfg.get("trainer") or {}).get("max_epochs", 1)
    for key, registry, context in (("optim", OPTIM, ()), ("schedule", SCHEDULE, (epochs,))):
        try:
            entry, options = registry.resolve(cfg[key])
            entry.factory.check(*context, **options)
        except (SpecError, TypeError, ValueError) as err:
            raise ConfigError(f"{key}: {err} Change that option ({key}.<option>=<value>).") from None
