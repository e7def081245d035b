"""The runner's registries, declared in one place: datasets, models, optimizers, schedules, a search's samplers
and pruners, and a job's loggers, by name.

Each config group of the same name is validated against its registry (typed options, "did you mean"), as the
block parts are against ``SQUEEZE`` / ``EXCITE`` / ``GATE``; so are ``hydra.sweeper.sampler``,
``hydra.sweeper.pruner`` and the ``logger.<name>`` nodes. The implementations register themselves in :mod:`.data`,
:mod:`.models`, :mod:`.optim`, :mod:`.samplers` and :mod:`.trackers`; importing those modules fills the registries.
"""

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ..registry import Entry, Registry, SpecError, suggest

__all__ = ["DATA", "MODEL", "OPTIM", "SCHEDULE", "SAMPLER", "PRUNER", "LOGGER", "DataRegistry"]


class DataRegistry(Registry):
    """Datasets by name; besides one factory per name, a factory may serve a whole archive of named datasets.

    ``DATA.serve("ucr", "dataset", names)``: every name ``names()`` lists is a data name (``{name:
    ItalyPowerDemand, ...}``), built by the factory registered as ``ucr`` with its option ``dataset`` set to that
    name -- so ``data=ucr data.name=GunPoint`` reads as it means. ``names()`` may raise (a missing package): the
    archive's names are then unknown, and the registry's own names still work.
    """

    def __init__(self, kind: str):
        super().__init__(kind)
        self._archives: dict[str, tuple[str, Callable[[], Sequence[str]]]] = {}

    def serve(self, entry: str, option: str, names: Callable[[], Sequence[str]]) -> None:
        """Make every name ``names()`` lists a data name built by ``entry`` with ``option`` = that name."""
        if option not in self.entry(entry).options:
            raise SpecError(f"data '{entry}' has no option {option!r} to take an archive's dataset names.")
        self._archives[entry] = (option, names)

    def _archive_of(self, name: str) -> tuple[str, str, Exception | None]:
        """(entry, option, None) of the archive serving ``name``; ("", "", the first error an archive's list
        raised) when none does."""
        problem = None
        for entry, (option, names) in self._archives.items():
            try:
                if name in names():
                    return entry, option, None
            except Exception as err:  # the archive's package is missing: its names are unknown
                problem = problem or err
        return "", "", problem

    def split(self, spec: Any, options: Mapping[str, Any] | None = None) -> tuple[str, dict[str, Any]]:
        name, opts = super().split(spec, options)
        if name in self._archives and self._archives[name][0] not in opts:
            option = self._archives[name][0]
            raise SpecError(f"data '{name}' serves an archive: name the dataset, e.g. data={name} "
                            f"data.name=<dataset> (the name is the {option}).")
        if name in self._entries or not isinstance(name, str):
            return name, opts
        entry, option, _ = self._archive_of(name)
        if not entry:
            return name, opts  # entry() says it is unknown
        if option in opts:
            raise SpecError(f"data {name!r}: the dataset is the name; drop the option {option!r}.")
        foreign = sorted(set(opts) - set(self._entries[entry].options))
        if foreign:
            raise SpecError(f"{name!r} is a dataset of data={entry}, which has no option "
                            f"{foreign[0]!r}: choose the group option too, data={entry} data.name={name}.")
        return entry, {option: name, **opts}

    def entry(self, name: str) -> Entry:
        if isinstance(name, str) and name not in self._entries and self._archives:
            entry, _, problem = self._archive_of(name)
            if entry:
                return self._entries[entry]
            archive = [n for _, names in self._archives.values() for n in _safe(names)]
            served = "; ".join(f"data={e} takes any dataset of its archive by name (data={e} data.name=...)"
                               for e in self._archives)
            why = f" ({problem})" if problem is not None else ""
            raise SpecError(f"Unknown data {name!r}.{suggest(name, self.names() + archive)} Available: "
                            f"{', '.join(self.names())}; {served}{why}.")
        return super().entry(name)


def _safe(names: Callable[[], Sequence[str]]) -> list[str]:
    try:
        return list(names())
    except Exception:
        return []


#: dataset factories: ``factory(**options) -> data.Splits``
DATA = DataRegistry("data")
#: model factories: ``factory(in_channels, num_classes, block_spec_or_None, **options) -> nn.Module``
MODEL = Registry("model")
#: ``factory(parameters, **options) -> torch.optim.Optimizer``
OPTIM = Registry("optim")
#: ``factory(optimizer, epochs, **options) -> an LR scheduler`` stepped once per epoch: after the epoch's last
#: batch, or (``ReduceLROnPlateau``) with the epoch's training loss, by the module itself (see ``lit.py``)
SCHEDULE = Registry("schedule")
#: a search's samplers: ``factory(space, **options) -> optuna sampler`` (``space``: key → Optuna distribution)
SAMPLER = Registry("sampler")
#: a search's pruners: ``factory(**options) -> optuna pruner``, asked after every epoch of a trial's job
PRUNER = Registry("pruner")
#: a job's trackers besides metrics.json (``trainer.loggers``; options: the ``logger.<name>`` node):
#: ``factory(job_trackers, **options) -> trackers.Tracker``
LOGGER = Registry("logger")
