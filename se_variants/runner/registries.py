"""The runner's registries, declared in one place: datasets, models, optimizers, schedules, a search's samplers
and pruners, and a job's loggers, by name.

Each config group of the same name is validated against its registry (typed options, "did you mean"), as the
block parts are against ``SQUEEZE`` / ``EXCITE`` / ``GATE``; so are ``hydra.sweeper.sampler``,
``hydra.sweeper.pruner`` and the ``logger.<name>`` nodes. The implementations register themselves in :mod:`.data`,
:mod:`.models`, :mod:`.optim`, :mod:`.samplers` and :mod:`.trackers`; importing those modules fills the registries.
"""

from ..registry import Registry

__all__ = ["DATA", "MODEL", "OPTIM", "SCHEDULE", "SAMPLER", "PRUNER", "LOGGER"]

#: dataset factories: ``factory(**options) -> data.Splits``
DATA = Registry("data")
#: model factories: ``factory(in_channels, num_classes, block_spec_or_None, **options) -> nn.Module``
MODEL = Registry("model")
#: ``factory(parameters, **options) -> torch.optim.Optimizer``
OPTIM = Registry("optim")
#: ``factory(optimizer, epochs, **options) -> LambdaLR``, stepped once per epoch
SCHEDULE = Registry("schedule")
#: a search's samplers: ``factory(space, **options) -> optuna sampler`` (``space``: key → Optuna distribution)
SAMPLER = Registry("sampler")
#: a search's pruners: ``factory(**options) -> optuna pruner``, asked after every epoch of a trial's job
PRUNER = Registry("pruner")
#: a job's trackers besides metrics.json (``trainer.loggers``; options: the ``logger.<name>`` node):
#: ``factory(job_trackers, **options) -> trackers.Tracker``
LOGGER = Registry("logger")
