"""The runner's Hydra config tree and the compose API the planner, the tests and users call.

:class:`Composer` is one Hydra session (public API: ``initialize_config_dir``, ``compose``, the config loader's
group listing and config sources) for everything a command composes. Composing a whole ablation through Hydra
costs one composition per variant (~0.1 s each: YAML files read and merged over the schema); :meth:`Composer.jobs`
does what Hydra does with two compositions for the whole sweep instead:

1. the *template*: the command's common overrides, with every group that varies between jobs removed (``~G``),
   so each such node holds only what later configs (the primary config's body, the experiment) merge into it;
2. per job, each varying group's node is the option file's content merged with that overlay -- the order Hydra
   merges them in (the option, then the configs after it in the defaults list) -- and the key overrides
   (``a.b=value``, ``+a=...``, ``~a``, the seed) are applied in order, as Hydra applies them after composition.

This holds when each option involved is a leaf (no defaults list of its own, packaged at its group) and the
primary config is the runner's ``train``; any other job is composed by Hydra itself, as is any job the fast
path cannot derive. ``tests/runner/test_configs.py`` checks the two ways equal for every registered option.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf, open_dict

from .identity import job_name
from .schema import TrainConfig, register_schema
from .validate import ConfigError

__all__ = ["CONFIG_DIR", "CONFIG_NAME", "Composer", "compose", "compose_many", "searchpath_override", "message",
           "override_parser", "parse_overrides"]

#: the packaged config tree (top-level configs/ of the repository, installed as package data)
CONFIG_DIR = Path(__file__).resolve().parent / "configs"
CONFIG_NAME = "train"


def _register() -> None:
    """Resolvers the configs use, and the typed schema (run in every process that composes a config)."""
    if not OmegaConf.has_resolver("sv_job_name"):
        # a job folder's name: its overrides, run knobs (rerun, resume, ...) left out (identity.job_name)
        OmegaConf.register_new_resolver("sv_job_name", lambda overrides: job_name(list(overrides)))
    register_schema()


_register()


def searchpath_override(config_dirs: Sequence[str], searchpath: Sequence[str] = ()) -> list[str]:
    """The one ``hydra.searchpath=[...]`` override for ``--config-dir`` folders and a command line's own
    ``hydra.searchpath`` entries (Hydra reads only the first such override, so they must be one)."""
    entries = _searchpath_entries(config_dirs, searchpath)
    return [f"hydra.searchpath=[{','.join(entries)}]"] if entries else []


def _searchpath_entries(config_dirs: Sequence[str], searchpath: Sequence[str]) -> list[str]:
    return [*("file://" + str(Path(d).resolve()) for d in config_dirs), *searchpath]


def message(err: BaseException) -> str:
    """Hydra's or OmegaConf's message on one line, without its advice on environment variables, with its cause."""
    msg = str(err).strip()
    cause = err.__cause__
    if cause is not None and str(cause).strip() and str(cause).strip() not in msg:
        msg = f"{msg}: {str(cause).strip()}"
    return " ".join(line.strip() for line in msg.splitlines() if "HYDRA_FULL_ERROR" not in line
                    and "OC_CAUSE" not in line and line.strip())


def override_parser() -> Any:
    """Hydra's parser of command-line overrides (``key=value``, ``a=1,2``, ``choice(...)``, ``+a``, ``~a``)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    return OverridesParser.create()


def parse_overrides(overrides: Sequence[str]) -> list[Any]:
    """Hydra's ``Override`` objects of ``overrides``; ConfigError naming them when one cannot be parsed."""
    from hydra.errors import HydraException

    try:
        return override_parser().parse_overrides(list(overrides))
    except HydraException as err:
        raise ConfigError(f"cannot parse the overrides {' '.join(overrides)}: {message(err)}") from None


_HEADER = re.compile(r"^#\s*@package\s+(\S+)")


class Composer:
    """One Hydra session over the runner's config tree (and ``config_dirs``, searched after it).

    Use as a context manager, or call :meth:`close`. Errors of composition are :class:`ConfigError` with Hydra's
    message.
    """

    def __init__(self, config_dirs: Sequence[str] = (), config_name: str = CONFIG_NAME,
                 searchpath: Sequence[str] = ()):
        from hydra import initialize_config_dir
        from hydra.core.global_hydra import GlobalHydra

        self.config_name = config_name
        self._entries = _searchpath_entries(config_dirs, searchpath)
        self.extra = searchpath_override(config_dirs, searchpath)
        self._context = initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3", job_name=CONFIG_NAME)
        self._context.__enter__()
        self._loader = GlobalHydra.instance().config_loader()
        self._options: dict[str, list[str] | None] = {}
        self._loaded: dict[str, Any] = {}
        self._sources: list[Any] | None = None
        self._schema: DictConfig | None = None
        self._composed: dict[tuple[tuple[str, ...], bool], DictConfig] = {}

    def close(self) -> None:
        self._context.__exit__(None, None, None)

    def __enter__(self) -> "Composer":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -------------------------------------------------------------------------------------------- Hydra itself

    def compose(self, overrides: Sequence[str], hydra_node: bool = False) -> DictConfig:
        """Hydra's composition of the primary config with ``overrides``."""
        from hydra import compose as hydra_compose
        from hydra.errors import HydraException
        from omegaconf.errors import OmegaConfBaseException
        from yaml import YAMLError

        key = (tuple(sorted(overrides)) if len({o.split("=", 1)[0] for o in overrides}) == len(overrides)
               else tuple(overrides))  # (the order of overrides of distinct keys does not matter to Hydra)
        if (key, hydra_node) in self._composed:  # the planner and the fast path ask for the same base
            return copy.deepcopy(self._composed[(key, hydra_node)])
        if not hydra_node and (key, True) in self._composed:  # the same composition, without its hydra node
            cfg = copy.deepcopy(self._composed[(key, True)])
            with open_dict(cfg):
                del cfg["hydra"]
            return cfg
        key = (key, hydra_node)
        try:
            cfg = hydra_compose(self.config_name, overrides=[*self.extra, *overrides], return_hydra_config=hydra_node)
            self._composed[key] = copy.deepcopy(cfg)
            return cfg
        except YAMLError as err:
            raise ConfigError(f"a config file is not valid YAML: {message(err)}") from None
        except (HydraException, OmegaConfBaseException) as err:
            raise ConfigError(message(err)) from None

    def options(self, group: str) -> list[str] | None:
        """The options of config group ``group`` (``squeeze``, ``hydra/launcher``), or None when it is none."""
        if group not in self._options:
            from hydra.core.object_type import ObjectType

            parent, _, name = group.rpartition("/")
            groups = self._loader.get_group_options(parent, ObjectType.GROUP, self.config_name, self.extra)
            self._options[group] = sorted(self._loader.get_group_options(
                group, ObjectType.CONFIG, self.config_name, self.extra)) if name in groups else None
        return self._options[group]

    # -------------------------------------------------------------------------------------------- the fast path

    def _config_sources(self) -> list[Any] | None:
        """Hydra's config sources in its search order: its own, the primary tree (and plugins'), the searchpath
        entries, the ConfigStore. None when an entry's scheme is not a file or package path."""
        if self._sources is None:
            base = list(self._loader.get_sources())
            kinds = {"file": type(base[1]), "pkg": type(base[0])}
            extra = []
            for entry in self._entries:
                scheme = entry.split("://", 1)[0]
                if scheme not in kinds:
                    return None
                extra.append(kinds[scheme]("searchpath", entry))
            self._sources = [*base[:-1], *extra, base[-1]]
        return self._sources

    def node(self, group: str, option: str) -> DictConfig | None:
        """The content of option ``group/option`` as its file holds it, when it is a leaf (a plain option file: no
        defaults list, packaged at its group); None otherwise. Do not change it."""
        key = f"{group}/{option}"
        if key not in self._loaded:
            found = None
            for source in self._config_sources() or ():
                if source.is_config(key):
                    result = source.load_config(key)
                    package = (result.header or {}).get("package")
                    config = result.config
                    if (package in (None, "_group_", group) and isinstance(config, DictConfig)
                            and "defaults" not in config):
                        found = config
                    break
            self._loaded[key] = found
        return self._loaded[key]

    def schema_node(self, group: str) -> DictConfig | None:
        """The node the typed schema gives ``group`` (``trainer``), or None for a group the schema leaves open."""
        self._typed(group)
        node = self._schema.get(group) if self._schema is not None else None
        return node if isinstance(node, DictConfig) else None

    def _typed(self, group: str) -> bool:
        """Whether the schema types the group's node (``trainer``): after ``~group`` such a node holds every schema
        default, so what later configs merge into it cannot be told apart -- it may not vary in a derived batch."""
        if self._schema is None:
            self._schema = OmegaConf.structured(TrainConfig)
        return isinstance(self._schema.get(group), DictConfig)

    def jobs(self, jobs: Sequence[Sequence[str]], hydra_overrides: Sequence[str] = ()) -> list[DictConfig]:
        """The config of every job (each a list of task overrides), as Hydra composes ``[*job, *hydra_overrides]``
        -- without the hydra node -- through the fast path where it applies (see the module doc)."""
        parser = override_parser()
        parsed = [parser.parse_overrides(list(job)) for job in jobs]
        fast = self.config_name == CONFIG_NAME and self._config_sources() is not None
        split = [self._split(p) for p in parsed] if fast else [None] * len(jobs)
        out: list[DictConfig | None] = [None] * len(jobs)
        # jobs are derived in batches that share the choices of groups that cannot vary within one (see _derive)
        batches: dict[tuple[tuple[str, str], ...], list[int]] = {}
        for i, sp in enumerate(split):
            if sp is not None:
                fixed = tuple(sorted((g, o) for g, o in sp[0].items() if self._typed(g) or self.node(g, o) is None))
                batches.setdefault(fixed, []).append(i)
        for members in batches.values():
            try:
                derived = self._derive([split[i] for i in members], hydra_overrides)
            except Exception:  # anything unexpected: Hydra composes these jobs itself, below
                derived = [None] * len(members)
            for i, cfg in zip(members, derived):
                out[i] = cfg
        for i, cfg in enumerate(out):
            if cfg is None:
                out[i] = self.compose([*jobs[i], *hydra_overrides])
        return out  # type: ignore[return-value]

    def _split(self, overrides: list[Any]) -> tuple[dict[str, str], list[Any]] | None:
        """({group: option}, [key overrides in order]) of one job, or None when the fast path does not apply."""
        groups: dict[str, str] = {}
        keys = []
        for o in overrides:
            key = o.get_key_element()
            if key.lstrip("+~").startswith("hydra") or o.is_sweep_override():
                return None
            base = key.lstrip("+~")
            if self.options(base.split("@", 1)[0]) is not None:
                if o.is_add() or o.is_force_add() or o.is_delete() or "@" in key or "/" in base:
                    return None
                value = o.value()
                if base in groups or not isinstance(value, str):
                    return None
                groups[base] = value
            else:
                keys.append(o)
        return groups, keys

    def _derive(self, splits: list[tuple[dict[str, str], list[Any]]], hydra_overrides: Sequence[str]) -> list[Any]:
        """The fast path for jobs already split into group choices and key overrides (None for a job it cannot
        derive)."""
        groups = sorted({g for choices, _ in splits for g in choices})
        common = {g: splits[0][0][g] for g in groups
                  if all(choices.get(g, object()) == splits[0][0].get(g) for choices, _ in splits)}
        varying = [g for g in groups if g not in common]
        base = [f"{g}={o}" for g, o in common.items()]
        defaults = {}
        if varying:  # what a job that does not name a varying group gets: the default choice in this context
            choices = self.compose([*base, *hydra_overrides], hydra_node=True).hydra.runtime.choices
            defaults = {g: choices.get(g) for g in varying}
            used = {(g, choices_.get(g, defaults[g])) for choices_, _ in splits for g in varying}
            if any(o is None or self.node(g, o) is None for g, o in used):
                return [None] * len(splits)
        if any(self._typed(g) for g in varying):
            return [None] * len(splits)
        template = self.compose([*base, *(f"~{g}" for g in varying), *hydra_overrides])
        overlays = {g: template.get(g) if isinstance(template.get(g), DictConfig) else None for g in varying}
        out = []
        for choices, keys in splits:
            cfg = copy.deepcopy(template)
            try:
                for g in varying:
                    option = self.node(g, choices.get(g, defaults[g]))
                    overlay = overlays[g]
                    cfg[g] = OmegaConf.merge(option, overlay) if overlay is not None else copy.deepcopy(option)
                apply_overrides(cfg, keys)
            except Exception:
                cfg = None
            out.append(cfg)
        return out


def apply_overrides(cfg: DictConfig, overrides: Sequence[Any]) -> None:
    """Apply key overrides (parsed) to ``cfg`` in order, with Hydra's rules: ``a=v`` sets an existing key (merging
    a mapping), ``+a=v`` adds a new one, ``++a=v`` adds or sets, ``~a`` (``~a=v``) deletes it."""
    for o in overrides:
        key, value = o.key_or_group, o.value()
        if o.is_delete():
            current = OmegaConf.select(cfg, key, throw_on_missing=False)
            if current is None or (value is not None and value != current):
                raise ConfigError(f"cannot delete {key!r}: {'no such key' if current is None else 'another value'}")
            parent, _, leaf = key.rpartition(".")
            with open_dict(cfg):
                del (OmegaConf.select(cfg, parent) if parent else cfg)[leaf]
        elif o.is_add():
            if OmegaConf.select(cfg, key, throw_on_missing=False) is not None and not isinstance(value, (dict, list)):
                raise ConfigError(f"cannot add {key!r}: it exists")
            OmegaConf.update(cfg, key, value, merge=True, force_add=True)
        elif o.is_force_add():
            OmegaConf.update(cfg, key, value, merge=True, force_add=True)
        else:
            OmegaConf.update(cfg, key, value, merge=True)


def compose_many(overrides: list[list[str]], config_dirs: Sequence[str] = (), config_name: str = CONFIG_NAME,
                 hydra_node: bool = False) -> list[DictConfig]:
    """Compose the runner's config once per override list, through Hydra (no job is run)."""
    with Composer(config_dirs, config_name) as composer:
        return [composer.compose(o, hydra_node) for o in overrides]


def compose(overrides: list[str], config_dirs: Sequence[str] = (), config_name: str = CONFIG_NAME,
            hydra_node: bool = False) -> DictConfig:
    """Compose the runner's config with ``overrides`` through Hydra (see :func:`compose_many`)."""
    return compose_many([overrides], config_dirs, config_name, hydra_node)[0]
