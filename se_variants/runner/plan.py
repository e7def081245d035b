"""The job planner behind ``se-variants train`` (one run, or a ``-m`` sweep), ``se-variants ablate`` and searches:
a command line in, checked jobs out -- every job's overrides, resolved config, folder and config hash.

:func:`open_planner` makes a :class:`Planner` for a command line (:mod:`.args` parsed it): user modules imported,
the base config composed, the command line's group options and keys checked (with "did you mean"). The command
then asks for a grid (:meth:`Planner.grid`: the cartesian product of the sweep overrides ``a=1,2 b=x,y`` and
``hydra.sweeper.params``, times an experiment's ``ablation.variants`` and ``ablation.seeds``) or hands the planner
to a search (:func:`.search.plan_search`), which plans each trial with :meth:`Planner.jobs`. Either way each
variant is composed once (:meth:`.configs.Composer.jobs`) and its seeds derived; each variant's config is checked
against the schema and the registries, each distinct network is built once on the meta device; the trainer against
the launcher and the machine; ``ckpt_path``; the trackers' stores (reachable, not corrupt, locked or
half-migrated: :mod:`.mlflow_store`); every job gets its own folder inside the output folder; the output folder can
be written. Any problem is a :class:`~.validate.ConfigError` naming the key and the fix (the commands
exit 2). Nothing here imports Lightning (unless a strategy is named) or trains anything.
"""

from __future__ import annotations

import copy
import functools
import itertools
import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from ..registry import spec_to_dict, suggest
from .args import Args
from .checkpoints import CheckpointError, given_checkpoint
from .configs import CONFIG_DIR, Composer, apply_overrides, message, override_parser, parse_overrides
from .files import unwritable
from .gen import register_missing
from .identity import config_hashes, is_run_knob, job_name, safe_name
from .launcher_choice import REMOTE_LAUNCHERS, launcher_options, parallelism
from .plans import Job, Plan, report_settings_of
from .schema import TrainConfig
from .trackers import check_destinations, fix_destinations
from .validate import (ConfigError, check_config, check_devices, check_model, check_part_overrides, check_seed,
                       check_report, import_user_modules, model_key, own_op_hint)

__all__ = ["Planner", "open_planner", "make_plan", "expand", "DEFAULT_EXPERIMENT"]
#: what ``se-variants ablate`` runs when no experiment is named
DEFAULT_EXPERIMENT = "ablate_digits"
def expand(arguments: Sequence[str], params: Mapping[str, Any] | None = None, variants: Sequence[str] = (),
           seeds: Sequence[Any] = ()) -> list[list[str]]:
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
    parsed = parse_overrides([*(f"{k}={v}" for k, v in (params or {}).items()), *arguments])
    axes: dict[str, list[str]] = {}
    for o in parsed:
        key = o.get_key_element()
        if o.is_sweep_override():
            if not o.is_discrete_sweep():
                raise ConfigError(f"{o.input_line}: an interval sweep needs a search; list the values (a=1,2,3), a "
                                  f"range (a=range(1,4)), or search with hydra/sweeper=optuna.")
            values = list(o.sweep_string_iterator())
            if values == ["all"]:
                raise ConfigError(f"{o.input_line}: choice(all) takes every option of a group in a search "
                                  f"(hydra/sweeper=optuna), where refused combinations become failed trials; a grid "
                                  f"lists its values ({key}=a,b,c).")
            if not values:
                raise ConfigError(f"{o.input_line}: sweeps no value, so the sweep has no job; give at least one "
                                  f"(e.g. {key}=range(0,3)).")
            axes[key] = [f"{key}={v}" for v in values]
        else:
            axes[key] = [o.input_line]
    grid = [list(job) for job in itertools.product(*axes.values())]
    if not variants:
        return grid
    return [[*job, *str(variant).split(), f"seed={seed}"] for job in grid for variant in variants for seed in seeds]


# ------------------------------------------------------------------------------------------------- checks


def _check_choices(parsed: Sequence[Any], composer: Composer) -> None:
    """Every ``group=option`` names an existing option ("did you mean"; a launcher names its extra)."""
    for o in parsed:
        if o.is_delete():
            continue
        group = o.get_key_element().lstrip("+").split("@", 1)[0]
        options = composer.options(group)
        if options is None:
            continue
        values = list(o.sweep_string_iterator()) if o.is_sweep_override() and o.is_discrete_sweep() \
            else [o.get_value_element_as_str()]
        for value in values:
            if value == "all" and o.is_sweep_override():
                continue  # choice(all): every option (a search; a grid refuses it in expand)
            if value in options or value == "null":
                continue
            short = group.rsplit("/", 1)[-1]
            raise ConfigError(f"unknown {short} option {value!r}.{suggest(value, options)} Available {short} "
                              f"options: {', '.join(options)}.{own_op_hint(group, value)}")


@functools.lru_cache(maxsize=1)
def _schema_keys() -> list[str]:
    return list(OmegaConf.structured(TrainConfig).keys())


def _check_top_keys(parsed: Sequence[Any], composer: Composer) -> None:
    """A top-level key that is neither a group nor a key of the schema is a typo: say which name was meant
    (Hydra would suggest adding it with ``+``)."""
    known = _schema_keys()
    for o in parsed:
        key = o.get_key_element()
        if o.is_add() or o.is_force_add() or key.startswith(("hydra", "~")) or "." in key or "/" in key:
            continue
        name = key.split("@", 1)[0]
        if name in known or composer.options(name) is not None:
            continue
        raise ConfigError(f"unknown key {name!r}.{suggest(name, known)} Top-level keys and groups: "
                          f"{', '.join(known)}. (To add a new key on purpose, write +{key}=...)")


def _check_keys(parsed: Sequence[Any], base: DictConfig, composer: Composer) -> None:
    """Every ``a.b=value`` names an existing key (``+a.b=value`` adds one on purpose)."""
    for o in parsed:
        key = o.get_key_element()
        if o.is_add() or o.is_force_add() or o.is_delete() or key.startswith("hydra") \
                or composer.options(key.split("@", 1)[0]) is not None:
            continue
        parent, _, leaf = key.rpartition(".")
        node = OmegaConf.select(base, parent, throw_on_missing=False) if parent else base
        if isinstance(node, DictConfig) and leaf not in node.keys():  # (`in node` is False for a ??? value)
            keys = [str(k) for k in node.keys()]
            raise ConfigError(f"unknown key {key!r}.{suggest(leaf, keys)} Keys of {parent or 'the top level'}: "
                              f"{', '.join(keys)}. (To add a new key on purpose, write +{key}=...)")


def _check_job_keys(jobs: list[list[str]], base: DictConfig, composer: Composer) -> None:
    """Every ``a.b=value`` of every job names an existing key of that job's config: a key under a group node is
    looked up in the option the job chooses for that group (``block=cbam block.reduction=8`` in a sweep over
    blocks), others in the command's base config."""
    default = base.hydra.runtime.choices
    seen: set[tuple[str, Any, str]] = set()
    for job in jobs:
        parsed = parse_overrides(job)
        chosen = {o.get_key_element(): o.get_value_element_as_str() for o in parsed
                  if composer.options(o.get_key_element()) is not None and not o.is_sweep_override()}
        for o in parsed:
            key = o.get_key_element()
            top = key.lstrip("+~").split(".", 1)[0]
            if "." not in key or o.is_add() or o.is_force_add() or o.is_delete() or key.startswith("hydra") \
                    or composer.options(top) is None:
                continue
            choice = chosen.get(top, default.get(top))
            if (top, choice, key) in seen:
                continue
            seen.add((top, choice, key))
            node = composer.node(top, choice) if choice is not None else None
            if node is None:  # not a plain option file: Hydra itself checks the key when it composes the job
                continue
            rest = key.split(".", 1)[1]
            parent, _, leaf = rest.rpartition(".")
            keys: list[Any] = []
            for source in (node, composer.schema_node(top),  # the option, the schema's keys (trainer), the overlay
                           OmegaConf.select(base, top, throw_on_missing=False) if top not in chosen else None):
                here = OmegaConf.select(source, parent, throw_on_missing=False) if parent and source is not None \
                    else source
                keys += list(here.keys()) if isinstance(here, DictConfig) else []
            here = OmegaConf.select(node, parent, throw_on_missing=False) if parent else node
            if isinstance(here, DictConfig) and leaf not in keys:
                names = list(dict.fromkeys(str(k) for k in keys))
                raise ConfigError(f"unknown key {key!r} for {top}={choice}.{suggest(leaf, names)} Keys of "
                                  f"{top}{'.' + parent if parent else ''}: {', '.join(names)}. (To add a new key on "
                                  f"purpose, write +{key}=...)")


def _check_output(folder: Path) -> None:
    """``folder`` can be created and written (nothing is created here: a dry run leaves no trace)."""
    why = unwritable(folder)
    if why:
        raise ConfigError(f"the output folder {folder} cannot be written (it {why}); choose a writable one with "
                          f"hydra.sweep.dir=<folder> (sweeps) or hydra.run.dir=<folder> (one run). Nothing was "
                          f"trained.")


def _check_checkpoint(cfg: dict[str, Any]) -> None:
    try:
        given_checkpoint(cfg)
    except CheckpointError as err:
        raise ConfigError(str(err) if str(err).startswith("ckpt_path") else f"ckpt_path: {err}") from None


def _folder_words(overrides: Sequence[str]) -> str:
    """Overrides as a folder name: sorted, ``=`` → ``-``, ``,`` → ``+``, joined with ``_``
    (``excite-fc+conv1d_seed-0+1+2_squeeze-avg+max``)."""
    return safe_name("_".join(sorted(overrides))).replace("=", "-").replace(",", "+")


def _sweep_dir(base: DictConfig, hydra_overrides: list[str], task_overrides: list[str], ablation: bool = False) -> Path:
    """The sweep folder, so that re-running the same command finds its jobs, and one folder holds one set of
    settings:

    * ``hydra.sweep.dir=...`` on the command line: that folder, as given;
    * else the folder the config names (an experiment's ``hydra.sweep.dir``), or ``outputs/ablate/<ablation.name>``
      for ``se-variants ablate``, or ``multirun/<the sweep's arguments>`` for a ``-m`` sweep -- and when the
      command line changes what the jobs compute (``trainer.max_epochs=3``, ``optim.lr=0.01,0.1``), the configured
      or ablation folder gets those overrides in its name (``outputs/ablate/digits_trainer.max_epochs-3``), so
      that jobs of other settings never land beside the experiment's own.

    Run knobs (``rerun=true``, ``ablation.seeds=[0,1,2,3]``, ``trainer.loggers=[mlflow]``:
    :func:`.identity.is_run_knob`) and the choice of launcher or sweeper never enter a name: a sweep re-run or
    extended with them goes on in the same folder. Nor does ``experiment=``, when the experiment names its folder."""
    if any(o.lstrip("+~").startswith("hydra.sweep.dir=") for o in hydra_overrides):
        return Path(str(base.hydra.sweep.dir))
    named = [o for o in task_overrides if not is_run_knob(o) and not o.lstrip("+~").startswith("hydra/")]
    raw = OmegaConf.to_container(base.hydra.sweep, resolve=False)["dir"]
    if "${now:" in str(raw) and not ablation:
        return Path("multirun") / _folder_words(named)
    if "${now:" in str(raw):
        folder = Path("outputs") / "ablate" / safe_name(str((base.get("ablation") or {}).get("name") or "ablation"))
    else:
        folder = Path(str(base.hydra.sweep.dir))
    settings = [o for o in named if o.lstrip("+~").split("=", 1)[0] != "experiment"]
    if not settings:
        return folder
    words = _folder_words(settings)
    return folder.with_name(f"{folder.name}_{words}") if folder.name else folder / words


_DEFAULT_SUBDIR = "${sv_job_name:${hydra.overrides.task}}"


def _subdirs(base: DictConfig, jobs: list[list[str]]) -> list[str]:
    """Each job's folder inside the sweep folder: ``hydra.sweep.subdir`` resolved for the job (by default its
    overrides without run knobs, :func:`.identity.job_name`)."""
    raw = OmegaConf.to_container(base.hydra.sweep, resolve=False).get("subdir")
    if raw == _DEFAULT_SUBDIR:
        return [job_name(job) for job in jobs]
    out = []
    hydra = copy.deepcopy(base.hydra)
    OmegaConf.set_readonly(hydra, False)
    for i, job in enumerate(jobs):
        with_job = OmegaConf.create({"hydra": hydra})
        with_job.hydra.overrides.task = job
        with_job.hydra.job.num = i
        with_job.hydra.job.override_dirname = ",".join(sorted(o for o in job if not is_run_knob(o)))
        try:
            out.append(str(with_job.hydra.sweep.subdir))
        except Exception as err:
            raise ConfigError(f"hydra.sweep.subdir: {raw!r} cannot be resolved for a job: {message(err)}") from None
    return out


def _job_folders(out_dir: Path, subdirs: list[str]) -> list[Path]:
    folders = []
    for sub in subdirs:
        path = Path(sub)
        if not sub or path.is_absolute() or ".." in path.parts:
            raise ConfigError(f"hydra.sweep.subdir: {sub!r} would put a job outside the sweep folder {out_dir}; a job "
                              f"folder is a relative path inside it (the default is the job's overrides).")
        folders.append(out_dir / path)
    return folders


# ------------------------------------------------------------------------------------------------- configs


_SEED_REF = re.compile(r"\$\{[^}]*seed")


def _mentions_seed(cfg: DictConfig) -> bool:
    """Whether an interpolation anywhere in ``cfg`` (unresolved) names the seed."""
    return bool(_SEED_REF.search(json.dumps(OmegaConf.to_container(cfg, resolve=False), default=str)))


def _resolve(cfg: DictConfig) -> dict[str, Any]:
    from omegaconf.errors import OmegaConfBaseException

    try:
        return OmegaConf.to_container(cfg, resolve=True, throw_on_missing=True)
    except OmegaConfBaseException as err:
        raise ConfigError(message(err)) from None


def _seed_value(override: Any) -> Any:
    value = override.value()
    check_seed(value)
    return value


def _configs(composer: Composer, jobs: list[list[str]], hydra_overrides: list[str]) -> list[dict[str, Any]]:
    """Every job's resolved config. Jobs that differ only in ``seed=`` are one variant: composed once, the others
    derived by setting the seed (what Hydra does with a ``seed=`` override of a plain key) -- on the resolved
    config, unless an interpolation names the seed (then on the unresolved one, and resolved again)."""
    parser = override_parser()
    groups: dict[tuple[str, ...], list[int]] = {}
    seeds: list[Any] = []
    for i, job in enumerate(jobs):
        seed = [o for o in job if o.split("=", 1)[0] == "seed"]
        seeds.append(parser.parse_override(seed[-1]) if seed else None)
        groups.setdefault(tuple(o for o in job if o.split("=", 1)[0] != "seed"), []).append(i)
    variants = list(groups)
    composed = composer.jobs([list(v) for v in variants], hydra_overrides)
    out: list[dict[str, Any] | None] = [None] * len(jobs)
    for variant, cfg in zip(variants, composed):
        plain = _resolve(cfg)
        per_seed = _mentions_seed(cfg)
        for i in groups[variant]:
            if seeds[i] is None:
                out[i] = plain if i == groups[variant][0] else copy.deepcopy(plain)
            elif per_seed:
                one = copy.deepcopy(cfg)
                try:
                    apply_overrides(one, [seeds[i]])
                except Exception as err:
                    raise ConfigError(f"seed: {message(err)}") from None
                out[i] = _resolve(one)
            else:
                one = copy.deepcopy(plain)
                one["seed"] = _seed_value(seeds[i])
                out[i] = one
    return out  # type: ignore[return-value]


# ------------------------------------------------------------------------------------------------- the planner


def open_planner(args: Args, *, ablation: bool = False) -> Planner:
    """A :class:`Planner` for the command line ``args``: user modules imported, config folders registered, the
    command's base config composed and its group options and keys checked. ``ablation``: the command is
    ``se-variants ablate`` (a sweep; ``experiment=ablate_digits`` unless one is named). Raises ConfigError naming
    the key at fault; the caller closes the planner (it holds a Hydra session)."""
    for folder in args.config_dirs:
        if not Path(folder).is_dir():
            raise ConfigError(f"--config-dir {folder}: no such folder (give a folder holding config groups, "
                              f"e.g. my_configs/experiment/mine.yaml).")
    overrides = list(args.overrides)
    if ablation:
        args.multirun = True
        if not any(o.lstrip("+").startswith("experiment=") for o in overrides):
            overrides.insert(0, f"experiment={DEFAULT_EXPERIMENT}")
    parsed = parse_overrides(overrides)
    searchpath: list[str] = []
    for o in parsed:  # user modules first: their ops are group options; hydra.searchpath joins --config-dir
        key = o.get_key_element().lstrip("+~")
        if key == "imports" and not o.is_delete():
            value = o.value()
            import_user_modules(value if isinstance(value, list) else [value])
        elif key == "hydra.searchpath":
            value = o.value()
            searchpath = [str(v) for v in (value if isinstance(value, list) else [value])]
    register_missing([CONFIG_DIR, *map(Path, args.config_dirs),
                      *(Path(p[len("file://"):]) for p in searchpath if p.startswith("file://"))])
    parsed = [o for o in parsed if o.get_key_element().lstrip("+~") != "hydra.searchpath"]
    composer = Composer(args.config_dirs, args.config_name, searchpath)
    try:
        return Planner(composer, parsed, args.multirun, ablation)
    except BaseException:
        composer.close()
        raise


class Planner:
    """One command line's planning, within one Hydra session: its base config (composed and checked when the
    planner is made), then checked jobs -- each variant composed once (seeds derived) and checked once, each
    distinct network built once. :meth:`grid` plans a grid (one run, a sweep, an ablation); a search
    (:attr:`searching`) plans its trials with :meth:`jobs` one at a time, with the same checks. :meth:`close` ends
    the session."""

    def __init__(self, composer: Composer, parsed: list[Any], multirun: bool, ablation: bool = False):
        self.composer, self.parsed, self.multirun, self.ablation = composer, parsed, multirun, ablation
        self.checked: set[str] = set()
        self.built: set[str] = set()
        self.destinations: set[str] = set()  # the trackers' stores checked
        # the command line: group options and keys exist ("did you mean"), sweeps only with -m
        self.check_top_keys(parsed)
        self.check_choices(parsed)
        sweeps = [o for o in parsed if o.is_sweep_override()]
        if sweeps and not multirun:
            raise ConfigError(f"{sweeps[0].input_line} lists several values: add -m to run a sweep over them "
                              f"(se-variants train -m ...).")
        plain = [o for o in parsed if not o.is_sweep_override()]
        structural = [o.input_line for o in plain if _is_hydra(o) or self._group(o) is not None]
        self.base = composer.compose(structural, hydra_node=True)
        # keys under a group node (block.reduction) depend on each job's choice of the group: checked per job
        top_level = [o for o in plain if o.input_line not in structural
                     and composer.options(o.get_key_element().lstrip("+~").split(".", 1)[0]) is None]
        self.check_keys(top_level)
        try:
            apply_overrides(self.base, top_level)
        except Exception as err:
            raise ConfigError(message(err)) from None
        check_report(self.base.get("report"))  # (and every job's: a sweep may set it per job)
        # hydra.* keys and hydra/* groups (the launcher, the sweeper) are Hydra's, not a job's
        self.task = [o.input_line for o in parsed if not _is_hydra(o)]
        self.hydra_overrides = [o.input_line for o in parsed if _is_hydra(o)]
        self.launcher = launcher_options(self.base.hydra) if multirun else {"name": "basic"}
        #: a search (``hydra/sweeper=optuna``) rather than a grid: :func:`.search.plan_search` plans it
        self.searching = multirun and self.base.hydra.sweeper.get("name") == "optuna"

    def _group(self, o: Any) -> list[str] | None:
        return self.composer.options(o.get_key_element().lstrip("+~").split("@", 1)[0])

    def close(self) -> None:
        self.composer.close()

    # -- the checks a command line and every job get (a search calls them on its space) ---------------------

    def check_choices(self, parsed: Sequence[Any]) -> None:
        """Every ``group=option`` names an existing option ("did you mean")."""
        _check_choices(parsed, self.composer)

    def check_top_keys(self, parsed: Sequence[Any]) -> None:
        """A top-level key that is neither a group nor a key of the schema is a typo ("did you mean")."""
        _check_top_keys(parsed, self.composer)

    def check_keys(self, parsed: Sequence[Any]) -> None:
        """Every ``a.b=value`` names an existing key of the base config (``+a.b=value`` adds one on purpose)."""
        _check_keys(parsed, self.base, self.composer)

    def check_output(self, folder: Path) -> None:
        """``folder`` can be created and written (nothing is created: a dry run leaves no trace)."""
        _check_output(folder)

    def parallelism(self, cfg: dict[str, Any]) -> int | None:
        """Jobs at once on this machine with this command's launcher (None: not a local launcher)."""
        return parallelism(self.launcher, cfg)

    def sweep_dir(self) -> Path:
        """The sweep folder of this command (see :func:`_sweep_dir`)."""
        return _sweep_dir(self.base, self.hydra_overrides, self.task, self.ablation)

    # -- jobs --------------------------------------------------------------------------------------------------

    def jobs(self, overrides: list[list[str]], folders: list[Path]) -> list[Job]:
        """A checked job per override list, in ``folders``; ConfigError naming the job for the first that fails."""
        jobs = []
        sweep = self.sweep_dir() if self.multirun else None
        for job_overrides, cfg, folder in zip(overrides, _configs(self.composer, overrides, self.hydra_overrides),
                                              folders):
            hashes = config_hashes(cfg)
            # (fixed here, where the command runs: the embedded store of this folder, the sweep's experiment)
            fix_destinations(cfg, sweep or folder.parent)
            try:
                self._check(job_overrides, cfg, hashes["variant_hash"])
            except ConfigError as err:
                shown = " ".join(o for o in job_overrides if not o.startswith("experiment="))
                raise ConfigError(f"job {shown}: {err}" if len(overrides) > 1 else str(err)) from None
            jobs.append(Job(job_overrides, cfg, folder, hashes["config_hash"], hashes["variant_hash"]))
        return jobs

    def _check(self, overrides: list[str], cfg: dict[str, Any], variant: str) -> None:
        check_seed(cfg.get("seed"))
        check_report(cfg.get("report"))
        if variant not in self.checked:
            check_part_overrides(overrides, OmegaConf.create({"block": cfg["block"]}))
            check_config(cfg)
            if self.launcher["name"] not in REMOTE_LAUNCHERS:
                check_devices(cfg["trainer"])
            key = model_key(cfg)
            if key not in self.built:
                check_model(cfg)
                self.built.add(key)
            self.checked.add(variant)
        try:  # the trackers' stores, each once: reachable, not corrupt, locked or half-migrated
            check_destinations(cfg, self.destinations)
        except ValueError as err:
            raise ConfigError(str(err)) from None
        _check_checkpoint(cfg)

    def grid(self) -> Plan:
        """The plan of a command line that is not a search: one run, a ``-m`` sweep (the cartesian product of the
        sweep overrides and ``hydra.sweeper.params``) or an ablation (× ``ablation.variants`` × ``ablation.seeds``),
        every job checked, each in its own folder."""
        base = self.base
        ab = base.get("ablation") or {}
        if self.multirun:
            if self.ablation and not ab.get("variants"):
                raise ConfigError("ablation.variants: the experiment lists no variants; give a list of override "
                                  "strings, e.g. ablation.variants: ['block=none', 'squeeze=avg excite=fc'].")
            if ab.get("variants") and not ab.get("seeds"):
                raise ConfigError("ablation.seeds: empty; give at least one seed, e.g. ablation.seeds=[0,1,2].")
            params = base.hydra.sweeper.get("params")
            overrides = expand(self.task, OmegaConf.to_container(params, resolve=False) if params else {},
                               list(ab.get("variants") or []), list(ab.get("seeds") or []))
        else:
            overrides = [self.task]
        more = sorted({o for job in overrides for o in job} - {o.input_line for o in self.parsed})
        if more:
            self.check_top_keys(parse_overrides(more))
            self.check_choices(parse_overrides(more))
        _check_job_keys(overrides, base, self.composer)
        if self.multirun:
            out_dir = self.sweep_dir()
            folders = _job_folders(out_dir, _subdirs(base, overrides))
        else:
            out_dir = Path(str(base.hydra.run.dir))
            folders = [out_dir]
        jobs, duplicates = _unique(self.jobs(overrides, folders))
        self.check_output(out_dir)
        first = jobs[0].config
        return Plan(jobs, out_dir, self.multirun, self.launcher, self.parallelism(first) if self.multirun else None,
                    duplicates, report_settings_of(first), spec_to_dict(ab) if self.ablation else None)


def _is_hydra(o: Any) -> bool:
    """``hydra.*`` keys and ``hydra/*`` groups: the command's (launcher, sweeper, folders), not a job's."""
    return o.get_key_element().lstrip("+~").startswith("hydra")


def make_plan(args: Args, *, ablation: bool = False) -> Plan:
    """The checked grid :class:`Plan` of a command line that is not a search (scripts and tests; the commands
    choose between a grid and a search themselves). Raises ConfigError naming the key at fault."""
    planner = open_planner(args, ablation=ablation)
    try:
        if planner.searching:
            raise ConfigError("make_plan plans grids; a search (hydra/sweeper=optuna) is planned by "
                              "se_variants.runner.search.plan_search.")
        return planner.grid()
    finally:
        planner.close()


def _unique(jobs: list[Job]) -> tuple[list[Job], list[tuple[Job, Job]]]:
    """Jobs with a config another job already has run once (the first); two configs in one folder are an error."""
    by_hash: dict[str, Job] = {}
    by_folder: dict[Path, Job] = {}
    keep, duplicates = [], []
    for job in jobs:
        if job.config_hash in by_hash:
            duplicates.append((job, by_hash[job.config_hash]))
            continue
        other = by_folder.get(job.folder)
        if other is not None:
            raise ConfigError(f"jobs {other.label!r} and {job.label!r} would share the folder {job.folder} with "
                              f"different configs; change hydra.sweep.subdir (or the overrides) so that each job "
                              f"gets a folder of its own.")
        by_hash[job.config_hash] = by_folder[job.folder] = job
        keep.append(job)
    return keep, duplicates
