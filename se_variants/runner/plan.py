"""The job planner behind ``se-variants train`` (one run, or a ``-m`` sweep) and ``se-variants ablate``.

:func:`expand` turns a command line into the list of jobs (each a list of overrides): the cartesian product of
the sweep overrides (``a=1,2 b=x,y``, and ``hydra.sweeper.params`` from the config), times the variants and seeds
of ``ablation`` when an experiment lists variants. The Hydra sweeper (``hydra/sweeper=se_variants``) launches
exactly this list through whichever launcher is chosen.

:func:`preflight` checks every job of a command before anything trains: the command-line overrides against
the config groups and keys (with "did you mean"), each job's config against the schema and the registries, its
model on a dummy batch, its checkpoint (``ckpt_path``), the launcher against the trainer, and the output folder
for writing. Any problem is a :class:`~.validate.ConfigError` naming the key and the fix (the commands exit 2).
"""

from __future__ import annotations

import copy
import itertools
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from ..registry import suggest
from .gen import register_missing
from .hydra_app import CONFIG_DIR, CONFIG_NAME, compose_many, local_jobs
from .identity import config_hashes, is_run_knob, safe_name
from .validate import ConfigError, check_config, check_devices, check_part_overrides, import_user_modules

__all__ = ["Args", "Plan", "parse_args", "expand", "preflight", "LAUNCHER_EXTRAS", "DEFAULT_EXPERIMENT"]

#: launcher options → (the Hydra plugin module they need, the se-variants extra that installs it)
LAUNCHER_EXTRAS = {
    "joblib": ("hydra_plugins.hydra_joblib_launcher", "train"),
    **{name: ("hydra_plugins.hydra_submitit_launcher", "cluster")
       for name in ("submitit_local", "submitit_slurm", "slurm", "processes")},
}
#: what ``se-variants ablate`` runs when no experiment is named
DEFAULT_EXPERIMENT = "ablate_digits"
# Hydra flags that only print something: no preflight, straight to Hydra
_PASSTHROUGH = {"--help", "-h", "--hydra-help", "--version", "--cfg", "-c", "--info", "-i", "--shell-completion",
                "-sc", "--package", "-p", "--resolve"}
_DDP = ("ddp", "ddp_spawn", "ddp_fork", "ddp_notebook", "ddp_find_unused_parameters_true")


@dataclass
class Args:
    """The parts of a ``train`` command line the planner needs."""

    overrides: list[str] = field(default_factory=list)
    multirun: bool = False
    config_dirs: list[str] = field(default_factory=list)
    config_name: str = CONFIG_NAME
    passthrough: bool = False


def parse_args(argv: list[str]) -> Args:
    args = Args()
    it = iter(argv)
    for a in it:
        if a in ("-m", "--multirun"):
            args.multirun = True
        elif a in ("-cd", "--config-dir"):
            args.config_dirs.append(next(it, ""))
        elif a.startswith("--config-dir="):
            args.config_dirs.append(a.split("=", 1)[1])
        elif a in ("-cn", "--config-name"):
            args.config_name = next(it, CONFIG_NAME)
        elif a.startswith("--config-name="):
            args.config_name = a.split("=", 1)[1]
        elif a in _PASSTHROUGH or a.split("=", 1)[0] in _PASSTHROUGH or a.startswith("-"):
            args.passthrough = True
        else:
            args.overrides.append(a)
    return args


@dataclass
class Plan:
    """What a command line will run: one entry per job, and where the results go."""

    jobs: list[tuple[list[str], dict[str, Any]]]  # (task overrides, resolved plain config)
    out_dir: Path  # the sweep folder (multirun) or the run folder
    multirun: bool
    added: list[str]  # overrides the planner adds to the command line (default experiment, output folder)
    launcher: str  # the Hydra launcher's name (basic, joblib, submitit_local, submitit_slurm, ...)
    parallel: int | None  # jobs at once under joblib (n_jobs), None for other launchers


def _parser():
    from hydra.core.override_parser.overrides_parser import OverridesParser

    return OverridesParser.create()


def expand(arguments: Sequence[str], params: Mapping[str, Any] | None = None, variants: Sequence[str] = (),
           seeds: Sequence[int] = ()) -> list[list[str]]:
    """The jobs of a sweep, each a list of task overrides.

    Args:
        arguments: the command line's task overrides (``squeeze=avg,max seed=0,1 trainer.max_epochs=3``).
        params: ``hydra.sweeper.params`` (key → sweep string); the command line wins for a key in both.
        variants: ablation variants, each a space-separated override string (``"squeeze=max excite=fc"``).
        seeds: with ``variants``, every variant runs with every seed.

    The grid is the cartesian product of the sweep overrides (in order of first appearance; values in their
    given order, as Hydra's basic sweeper); with variants, each grid point × variant × seed is a job, the
    variant's overrides and the seed coming last (they win over the grid's).
    """
    parsed = _parser().parse_overrides([*(f"{k}={v}" for k, v in (params or {}).items()), *arguments])
    axes: dict[str, list[str]] = {}
    for o in parsed:
        key = o.get_key_element()
        if o.is_sweep_override():
            if not o.is_discrete_sweep():
                raise ConfigError(f"{o.input_line}: an interval sweep needs an optimising sweeper; list the values "
                                  f"(a=1,2,3) or a range (a=range(1,4)).")
            axes[key] = [f"{key}={v}" for v in o.sweep_string_iterator()]
        else:
            axes[key] = [f"{key}={o.get_value_element_as_str()}"]
    grid = [list(job) for job in itertools.product(*axes.values())]
    if not variants:
        return grid
    return [[*job, *str(variant).split(), f"seed={seed}"] for job in grid for variant in variants for seed in seeds]


# ------------------------------------------------------------------------------------------------- checks


class _Groups:
    """Config groups and their options (Hydra's config loader, with the --config-dir folders searched)."""

    def __init__(self, config_dirs: list[str], config_name: str):
        from .hydra_app import _searchpath

        self._extra = _searchpath(config_dirs)
        self._name = config_name
        self._cache: dict[str, list[str] | None] = {}

    def options(self, group: str) -> list[str] | None:
        """The options of ``group`` (``squeeze``, ``hydra/launcher``), or None when it is not a group."""
        if group not in self._cache:
            from hydra import initialize_config_dir
            from hydra.core.global_hydra import GlobalHydra
            from hydra.core.object_type import ObjectType

            with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3", job_name=CONFIG_NAME):
                loader = GlobalHydra.instance().config_loader()
                parent, _, name = group.rpartition("/")
                groups = loader.get_group_options(parent, ObjectType.GROUP, self._name, self._extra)
                self._cache[group] = sorted(loader.get_group_options(
                    group, ObjectType.CONFIG, self._name, self._extra)) if name in groups else None
        return self._cache[group]


def _check_choices(parsed: Sequence[Any], groups: _Groups) -> None:
    """Every ``group=option`` names an existing option ("did you mean"; a launcher plugin names its extra)."""
    for o in parsed:
        if o.is_delete():
            continue
        group = o.get_key_element().lstrip("+").split("@", 1)[0]
        options = groups.options(group)
        if options is None:
            continue
        values = list(o.sweep_string_iterator()) if o.is_sweep_override() and o.is_discrete_sweep() \
            else [o.get_value_element_as_str()]
        for value in values:
            plugin = LAUNCHER_EXTRAS.get(value) if group == "hydra/launcher" else None
            if plugin and not _importable(plugin[0]):
                raise ConfigError(f"{group}={value}: this launcher is a Hydra plugin that is not installed. "
                                  f"Install it with: pip install 'se-variants[{plugin[1]}]'.")
            if value in options or value == "null":
                continue
            short = group.rsplit("/", 1)[-1]
            raise ConfigError(f"unknown {short} option {value!r}.{suggest(value, options)} Available {short} "
                              f"options: {', '.join(options)}.")


def _importable(module: str) -> bool:
    import importlib.util

    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def _check_keys(parsed: Sequence[Any], base: DictConfig, groups: _Groups) -> None:
    """Every ``a.b=value`` names an existing key (``+a.b=value`` adds one on purpose)."""
    for o in parsed:
        key = o.get_key_element()
        if o.is_add() or o.is_force_add() or o.is_delete() or key.startswith("hydra") \
                or groups.options(key.split("@", 1)[0]) is not None:
            continue
        parent, _, leaf = key.rpartition(".")
        node = OmegaConf.select(base, parent, throw_on_missing=False) if parent else base
        if isinstance(node, DictConfig) and leaf not in node.keys():  # (`in node` is False for a ??? value)
            keys = [str(k) for k in node.keys()]
            raise ConfigError(f"unknown key {key!r}.{suggest(leaf, keys)} Keys of {parent or 'the top level'}: "
                              f"{', '.join(keys)}. (To add a new key on purpose, write +{key}=...)")


def _message(err: Exception) -> str:
    """Hydra's or OmegaConf's message without its advice on environment variables, with its cause."""
    msg = str(err).strip()
    cause = err.__cause__
    if cause is not None and str(cause).strip() and str(cause).strip() not in msg:
        msg = f"{msg}: {str(cause).strip()}"
    return " ".join(line for line in msg.splitlines() if "HYDRA_FULL_ERROR" not in line).strip()


def _compose(overrides: list[list[str]], args: Args, hydra_node: bool = False) -> list[DictConfig]:
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException
    from yaml import YAMLError

    try:
        return compose_many(overrides, args.config_dirs, args.config_name, hydra_node)
    except YAMLError as err:
        raise ConfigError(f"a config file is not valid YAML: {_message(err)}") from None
    except (HydraException, OmegaConfBaseException) as err:
        raise ConfigError(_message(err)) from None


def _writable(folder: Path) -> None:
    """Create ``folder`` and a file in it, or raise ConfigError saying why and how to choose another."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as err:
        raise ConfigError(f"the output folder {folder} cannot be written ({err.strerror or err}); choose a writable "
                          f"one with hydra.sweep.dir=<folder> (sweeps) or hydra.run.dir=<folder> (one run). "
                          f"Nothing was trained.") from None


def _launcher(hydra_cfg: DictConfig) -> str:
    target = str(OmegaConf.select(hydra_cfg, "launcher._target_", default="") or "")
    for name, marker in (("joblib", "JoblibLauncher"), ("submitit_slurm", "SlurmLauncher"),
                         ("submitit_local", "LocalLauncher"), ("basic", "BasicLauncher")):
        if target.endswith(marker):
            return name
    return target.rsplit(".", 1)[-1] or "basic"


#: launchers whose jobs run on other machines (a cluster): the devices there are not this machine's
REMOTE_LAUNCHERS = ("submitit_slurm",)


def _check_launcher(launcher: str, cfg: dict[str, Any]) -> None:
    if launcher not in REMOTE_LAUNCHERS:
        check_devices(cfg["trainer"])
    strategy = str(cfg["trainer"].get("strategy", "auto"))
    if launcher == "joblib" and strategy in _DDP:
        raise ConfigError(f"trainer.strategy={strategy}: DDP starts its own processes, which joblib's worker "
                          f"processes cannot host. Run DDP jobs with hydra/launcher=basic (one after another) or "
                          f"submitit_local / submitit_slurm (a fresh process per job).")


def _check_checkpoint(cfg: dict[str, Any]) -> None:
    from .job import CheckpointError, check_checkpoint

    if cfg.get("ckpt_path"):
        path = Path(cfg["ckpt_path"]).expanduser()
        if not path.is_file():
            raise ConfigError(f"ckpt_path: {cfg['ckpt_path']!r} is not a file; pass a checkpoint such as "
                              f"<job folder>/checkpoints/last.ckpt.")
        try:
            check_checkpoint(path, cfg)
        except CheckpointError as err:
            raise ConfigError(f"ckpt_path: {err}") from None


def _sweep_dir(base: DictConfig, hydra_overrides: list[str], task_overrides: list[str]) -> tuple[Path, list[str]]:
    """The sweep folder and the hydra override that fixes it: given on the command line or by the config (an
    experiment), else ``multirun/<the sweep's arguments>`` -- so re-running the same command finds its jobs. Run
    knobs (``rerun=true``, ``resume=false``, ...) and the choice of launcher or sweeper (``hydra/launcher=basic``)
    do not enter the name: a sweep re-run with them, or on another launcher, goes on in the same folder."""
    raw = OmegaConf.to_container(base.hydra.sweep, resolve=False)["dir"]
    if any(o.startswith("hydra.sweep.dir=") for o in hydra_overrides) or "${now:" not in str(raw):
        return Path(str(base.hydra.sweep.dir)), []
    named = [o for o in task_overrides if not is_run_knob(o) and not o.lstrip("+~").startswith("hydra/")]
    name = safe_name("_".join(sorted(named))).replace("=", "-").replace(",", "+")
    out = Path("multirun") / name
    return out, [f"hydra.sweep.dir='{out}'"]


def _parse(overrides: list[str]) -> list[Any]:
    from hydra.errors import HydraException

    try:
        return _parser().parse_overrides(overrides)
    except HydraException as err:
        raise ConfigError(f"cannot parse the overrides {' '.join(overrides)}: {_message(err)}") from None


def _job_overrides(args: Args, base: DictConfig, task: list[str], ablation: bool) -> list[list[str]]:
    """The override list of every job: one for a single run; the expanded grid × ablation for a sweep."""
    if not args.multirun:
        return [task]
    params = base.hydra.sweeper.get("params")
    ab = base.get("ablation") or {}
    if ablation and not ab.get("variants"):
        raise ConfigError("ablation.variants: the experiment lists no variants; give a list of override strings, "
                          "e.g. ablation.variants: ['block=none', 'squeeze=avg excite=fc'].")
    if ab.get("variants") and not ab.get("seeds"):
        raise ConfigError("ablation.seeds: empty; give at least one seed, e.g. ablation.seeds=[0,1].")
    return expand(task, OmegaConf.to_container(params, resolve=False) if params else {},
                  list(ab.get("variants") or []), list(ab.get("seeds") or []))


def _compose_jobs(args: Args, jobs_overrides: list[list[str]], hydra_overrides: list[str]) -> list[DictConfig]:
    """Every job's config. Jobs that differ only in ``seed=`` are composed once by Hydra (its YAML loading is
    most of a plan's time: ~0.2 s a job) and the others derived by setting ``seed`` on a copy -- what Hydra does
    with a ``seed=`` override of a plain key; interpolations of ``${seed}`` follow, since nothing is resolved yet.
    """
    def seedless(job: list[str]) -> tuple[str, ...]:
        return tuple(o for o in job if not o.startswith("seed="))

    firsts: dict[tuple[str, ...], int] = {}
    for i, job in enumerate(jobs_overrides):
        firsts.setdefault(seedless(job), i)
    order = sorted(set(firsts.values()))
    composed = dict(zip(order, _compose([jobs_overrides[i] + hydra_overrides for i in order], args)))
    out = []
    for i, job in enumerate(jobs_overrides):
        first = firsts[seedless(job)]
        if i == first:
            out.append(composed[i])
            continue
        cfg = copy.deepcopy(composed[first])
        seeds = [o for o in job if o.startswith("seed=")]
        if seeds:
            cfg.seed = _parse(seeds[-1:])[0].value()
        else:  # the group's first job set a seed that this one leaves at the config's value
            cfg = _compose([job + hydra_overrides], args)[0]
        out.append(cfg)
    return out


def _check_jobs(args: Args, jobs_overrides: list[list[str]], hydra_overrides: list[str],
                launcher: str) -> list[tuple[list[str], dict[str, Any]]]:
    """Compose every job and check it (schema, registries, launcher, checkpoint; the model once per variant)."""
    composed = _compose_jobs(args, jobs_overrides, hydra_overrides)
    jobs, built = [], set()
    for overrides, cfg in zip(jobs_overrides, composed):
        try:
            check_part_overrides(overrides, cfg)
            plain = check_config(cfg, build=False)
            _check_launcher(launcher, plain)
            _check_checkpoint(plain)
            variant = config_hashes(plain)["variant_hash"]
            if variant not in built:  # build the model once per variant (seeds share it)
                check_config(plain, build=True)
                built.add(variant)
        except ConfigError as err:
            shown = " ".join(o for o in overrides if not o.startswith("experiment="))
            raise ConfigError(f"job {shown}: {err}" if len(jobs_overrides) > 1 else str(err)) from None
        jobs.append((overrides, plain))
    return jobs


def _parallelism(launcher: str, hydra_overrides: list[str], cfg: dict[str, Any]) -> tuple[int | None, list[str]]:
    """(jobs at once, the hydra override that sets it) for local launchers: as many as fit (cores ÷ threads per
    job, one per GPU) unless the command sets it; (None, []) for the others."""
    knob = {"joblib": "hydra.launcher.n_jobs", "submitit_local": "hydra.sweeper.max_batch_size"}.get(launcher)
    if knob is None:
        return None, []
    given = [o for o in hydra_overrides if o.startswith(knob + "=")]
    if given:
        return int(given[-1].split("=", 1)[1]), []
    t = cfg["trainer"]
    parallel = local_jobs(cfg.get("threads"), t.get("accelerator"), t.get("devices"))
    return parallel, [f"{knob}={parallel}"]


def preflight(args: Args, *, ablation: bool = False) -> Plan:
    """Compose and check every job of ``args`` (see the module doc); raises ConfigError naming the key at fault.

    ``ablation``: the command is ``se-variants ablate`` (a sweep; ``experiment=ablate_digits`` unless one is
    named).
    """
    for folder in args.config_dirs:
        if not Path(folder).is_dir():
            raise ConfigError(f"--config-dir {folder}: no such folder (give a folder holding config groups, "
                              f"e.g. my_configs/experiment/mine.yaml).")
    added: list[str] = []
    if ablation:
        args.multirun = True
        if not any(o.lstrip("+").startswith("experiment=") for o in args.overrides):
            added.append(f"experiment={DEFAULT_EXPERIMENT}")
    parsed = _parse([*added, *args.overrides])
    for o in parsed:  # user modules first: their ops are group options
        if o.get_key_element().lstrip("+~") == "imports" and not o.is_delete():
            value = o.value()
            import_user_modules(value if isinstance(value, list) else [value])
    register_missing([CONFIG_DIR, *map(Path, args.config_dirs)])

    # the command line: group options and keys exist ("did you mean"), sweeps only with -m
    groups = _Groups(args.config_dirs, args.config_name)
    _check_choices(parsed, groups)
    sweeps = [o.input_line for o in parsed if o.is_sweep_override()]
    if sweeps and not args.multirun:
        raise ConfigError(f"{sweeps[0]} lists several values: add -m to run a sweep over them "
                          f"(se-variants train -m ...).")
    plain = [o.input_line for o in parsed if not o.is_sweep_override()]
    (base,) = _compose([[o for o in plain if "." not in o.split("=", 1)[0] or o.startswith("hydra")]], args,
                       hydra_node=True)
    _check_keys(parsed, base, groups)
    (base,) = _compose([plain], args, hydra_node=True)

    # the jobs: what an experiment's ablation.variants or the sweep adds gets the same checks
    task = [o.input_line for o in parsed if not o.get_key_element().startswith("hydra.")]
    hydra_overrides = [o.input_line for o in parsed if o.get_key_element().startswith("hydra.")]
    jobs_overrides = _job_overrides(args, base, task, ablation)
    more = sorted({o for job in jobs_overrides for o in job} - set(plain) - set(sweeps))
    if more:
        _check_choices(_parse(more), groups)
        _check_keys(_parse(more), base, groups)
    launcher = _launcher(base.hydra) if args.multirun else "basic"
    jobs = _check_jobs(args, jobs_overrides, hydra_overrides, launcher)

    # where the results go, and how many jobs run at once
    if args.multirun:
        out_dir, extra = _sweep_dir(base, hydra_overrides, task)
    else:
        out_dir = Path(str(base.hydra.run.dir))
        given = any(o.startswith("hydra.run.dir=") for o in hydra_overrides)
        extra = [] if given else [f"hydra.run.dir='{out_dir}'"]  # the time stamp fixed now: the folder is known
    _writable(out_dir)
    parallel, knob = _parallelism(launcher, hydra_overrides, jobs[0][1])
    return Plan(jobs, out_dir, args.multirun, [*added, *extra, *knob], launcher, parallel)
